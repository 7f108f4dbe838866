"""TransformerDecoderLayer, TransformerDecoder and the encoder–decoder Transformer equal
PyTorch's for PyTorch's weights loaded through ``load_state_dict`` (float64, dropout 0, eval):
outputs, input gradients and every parameter's gradient, with causal and padding masks."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl

from .helpers import load_from_torch, torch

E, HEADS, FF = 8, 2, 12
pytestmark = [   # PyTorch's notes about its fast paths and mask types, not about results
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning"),
    pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning"),
]


def _run(d_mod, t_mod, inputs, d_kw, t_kw, seed=0):
    """Forward both modules (in eval mode) on the same float64 inputs and compare outputs,
    input gradients and parameter gradients of Σ out ⊙ w."""
    load_from_torch(d_mod, t_mod)
    d_mod.eval()
    t_mod.eval()
    d_in = [dl.tensor(a, requires_grad=True) for a in inputs]
    t_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    d_out, t_out = d_mod(*d_in, **d_kw), t_mod(*t_in, **t_kw)
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=1e-9, atol=1e-10,
                               err_msg="forward")
    w = np.random.default_rng(seed).standard_normal(tuple(t_out.shape))
    (d_out * dl.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for k, (d, t) in enumerate(zip(d_in, t_in)):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=f"gradient of input {k}")
    t_params = dict(t_mod.named_parameters())
    d_params = dict(d_mod.named_parameters())
    assert list(d_params) == list(t_params)
    for name, tp in t_params.items():
        np.testing.assert_allclose(d_params[name].grad.numpy(), tp.grad.numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=f"gradient of {name}")


def _masks(kind, T, S, N, unbatched=False):
    """deltaflow and torch keyword arguments for one masking scheme of the decoder."""
    if kind == "none":
        return {}, {}
    kw = {}
    if kind in ("causal", "all"):
        kw["tgt_mask"] = np.triu(np.full((T, T), -np.inf), 1)
        kw["tgt_is_causal"] = True
    if kind in ("padding", "all"):
        tgt_pad, mem_pad = np.zeros((N, T), bool), np.zeros((N, S), bool)
        tgt_pad[-1, -1:] = True          # last positions padded: no row loses every key
        mem_pad[0, -2:] = True
        if unbatched:
            tgt_pad, mem_pad = tgt_pad[0], mem_pad[0]
        kw["tgt_key_padding_mask"], kw["memory_key_padding_mask"] = tgt_pad, mem_pad
    if kind == "all":
        kw["memory_mask"] = np.random.default_rng(5).standard_normal((T, S))
    d_kw = {k: dl.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    t_kw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    return d_kw, t_kw


def _layer_kw(**kw):
    return dict(dim_feedforward=FF, dropout=0.0, layer_norm_eps=1e-6, **kw)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masking", ["none", "causal", "padding", "all"])
def test_decoder_layer_matches_torch(norm_first, activation, batch_first, masking):
    T, S, N = 4, 5, 3
    kw = _layer_kw(activation=activation, batch_first=batch_first, norm_first=norm_first)
    d = dl.nn.TransformerDecoderLayer(E, HEADS, **kw)
    t = torch.nn.TransformerDecoderLayer(E, HEADS, **kw)
    rng = np.random.default_rng(1)
    tgt = rng.standard_normal((N, T, E) if batch_first else (T, N, E))
    memory = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    _run(d, t, [tgt, memory], *_masks(masking, T, S, N))


def test_decoder_layer_state_dict_keys_are_torchs():
    d = dl.nn.TransformerDecoderLayer(E, HEADS, FF)
    t = torch.nn.TransformerDecoderLayer(E, HEADS, FF)
    assert list(d.state_dict()) == list(t.state_dict())


def test_decoder_stack_with_final_norm_matches_torch():
    kw = _layer_kw(batch_first=True, norm_first=True)
    d = dl.nn.TransformerDecoder(dl.nn.TransformerDecoderLayer(E, HEADS, **kw), 3,
                                 norm=dl.nn.LayerNorm(E))
    t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, HEADS, **kw), 3,
                                    norm=torch.nn.LayerNorm(E))
    rng = np.random.default_rng(2)
    tgt, memory = rng.standard_normal((2, 5, E)), rng.standard_normal((2, 6, E))
    _run(d, t, [tgt, memory], *_masks("all", 5, 6, 2))


def test_decoder_layers_are_independent_copies():
    dec = dl.nn.TransformerDecoder(dl.nn.TransformerDecoderLayer(4, 2, 8), 2)
    a, b = dec.layers[0].multihead_attn.in_proj_weight, dec.layers[1].multihead_attn.in_proj_weight
    assert a is not b
    a.data[...] = 0
    assert np.any(b.numpy() != 0)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch_with_masks(norm_first, batch_first):
    S, T, N = 5, 4, 2
    kw = dict(d_model=E, nhead=HEADS, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=FF, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    d, t = dl.nn.Transformer(**kw), torch.nn.Transformer(**kw)
    rng = np.random.default_rng(3)
    src = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    tgt = rng.standard_normal((N, T, E) if batch_first else (T, N, E))
    src_pad = np.zeros((N, S), bool)
    src_pad[1, -2:] = True
    d_kw, t_kw = _masks("padding", T, S, N)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    d_kw.update(tgt_mask=dl.nn.Transformer.generate_square_subsequent_mask(T, dtype=dl.float64),
                src_key_padding_mask=dl.tensor(src_pad))
    t_kw.update(tgt_mask=causal, src_key_padding_mask=torch.tensor(src_pad))
    d_kw["memory_key_padding_mask"] = d_kw["src_key_padding_mask"]
    t_kw["memory_key_padding_mask"] = t_kw["src_key_padding_mask"]
    _run(d, t, [src, tgt], d_kw, t_kw)


def test_transformer_unbatched_gelu_matches_torch():
    kw = dict(d_model=E, nhead=HEADS, num_encoder_layers=1, num_decoder_layers=2,
              dim_feedforward=FF, dropout=0.0, activation="gelu")
    d, t = dl.nn.Transformer(**kw), torch.nn.Transformer(**kw)
    rng = np.random.default_rng(4)
    src, tgt = rng.standard_normal((6, E)), rng.standard_normal((3, E))
    mask = np.triu(np.full((3, 3), -np.inf), 1)
    _run(d, t, [src, tgt], dict(tgt_mask=dl.tensor(mask)), dict(tgt_mask=torch.tensor(mask)))


def test_generate_square_subsequent_mask_is_torchs():
    for dtype, t_dtype in ((None, None), (dl.float64, torch.float64)):
        d = dl.nn.Transformer.generate_square_subsequent_mask(5, dtype=dtype)
        t = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=t_dtype)
        assert str(d.dtype) == str(t.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(d.numpy(), t.numpy())
    assert not d.requires_grad


def test_transformer_state_dict_and_init():
    dl.manual_seed(0)
    d = dl.nn.Transformer(E, HEADS, 2, 3, FF)
    t = torch.nn.Transformer(E, HEADS, 2, 3, FF)
    assert list(d.state_dict()) == list(t.state_dict())
    assert isinstance(d.encoder.norm, dl.nn.LayerNorm)
    assert isinstance(d.decoder.norm, dl.nn.LayerNorm)
    assert (len(d.encoder.layers), len(d.decoder.layers)) == (2, 3)
    w = d.decoder.layers[0].linear1.weight.numpy()            # (FF, E): xavier, not Linear's
    bound = np.sqrt(6 / (E + FF))
    assert np.abs(w).max() <= bound and np.abs(w).max() > np.sqrt(1 / E)
    np.testing.assert_array_equal(d.encoder.layers[0].self_attn.in_proj_bias.numpy(), 0)


def test_transformer_custom_encoder_and_decoder_are_used():
    enc = dl.nn.TransformerEncoder(dl.nn.TransformerEncoderLayer(E, HEADS, FF), 1)
    dec = dl.nn.TransformerDecoder(dl.nn.TransformerDecoderLayer(E, HEADS, FF), 1)
    model = dl.nn.Transformer(E, HEADS, custom_encoder=enc, custom_decoder=dec)
    assert model.encoder is enc and model.decoder is dec
    assert model(dl.randn(3, 2, E), dl.randn(4, 2, E)).shape == (4, 2, E)


def test_transformer_argument_errors():
    model = dl.nn.Transformer(E, HEADS, 1, 1, FF)
    with pytest.raises(RuntimeError, match="batch number of src and tgt must be equal"):
        model(dl.randn(3, 2, E), dl.randn(4, 5, E))
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal to "
                                           "d_model"):
        model(dl.randn(3, 2, E), dl.randn(4, 2, E + 1))
    with pytest.raises(RuntimeError, match="TransformerDecoderLayer: activation should be "
                                           "relu/gelu"):
        dl.nn.TransformerDecoderLayer(E, HEADS, activation="tanh")


def test_decoder_dropout_active_only_in_training():
    dl.manual_seed(2)
    layer = dl.nn.TransformerDecoderLayer(E, HEADS, FF, dropout=0.5).double()
    rng = np.random.default_rng(3)
    x, m = dl.tensor(rng.standard_normal((4, 2, E))), dl.tensor(rng.standard_normal((3, 2, E)))
    layer.eval()
    np.testing.assert_array_equal(layer(x, m).numpy(), layer(x, m).numpy())
    layer.train()
    assert not np.allclose(layer(x, m).numpy(), layer(x, m).numpy())
