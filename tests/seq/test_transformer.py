"""TransformerEncoderLayer / TransformerEncoder equal PyTorch's (float64, dropout 0) for the
same weights -- outputs and all parameter and input gradients -- and positional embeddings."""
from __future__ import annotations

import math

import numpy as np
import pytest

import deltaflow as dl

torch = pytest.importorskip("torch")


def _load_into_torch(d, t):
    sd = d.state_dict()
    assert list(sd) == list(t.state_dict())
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in sd.items()})


def _check(d, t, d_args, t_args, d_kw, t_kw, leaves, rng):
    d_out, t_out = d(*d_args, **d_kw), t(*t_args, **t_kw)
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=1e-9, atol=1e-10)
    w = rng.standard_normal(tuple(t_out.shape))
    (d_out * dl.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for (name, dp), (_, tp) in zip(d.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)
    np.testing.assert_allclose(leaves[0].grad.numpy(), leaves[1].grad.numpy(), rtol=1e-8,
                               atol=1e-10)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masking", ["none", "causal", "padding"])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first, masking):
    rng = np.random.default_rng(0)
    E, h, L, N = 8, 2, 5, 3
    kw = dict(dim_feedforward=16, dropout=0.0, activation=activation,
              batch_first=batch_first, norm_first=norm_first, layer_norm_eps=1e-6)
    dl.manual_seed(0)
    d = dl.nn.TransformerEncoderLayer(E, h, **kw).double()
    t = torch.nn.TransformerEncoderLayer(E, h, **kw).double()
    _load_into_torch(d, t)
    x = rng.standard_normal((N, L, E) if batch_first else (L, N, E))
    dx, tx = dl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    d_kw, t_kw = {}, {}
    if masking == "causal":
        m = np.triu(np.full((L, L), -np.inf), 1)
        d_kw = dict(src_mask=dl.tensor(m), is_causal=True)
        t_kw = dict(src_mask=torch.tensor(m), is_causal=True)
    elif masking == "padding":
        pad = np.zeros((N, L), bool)
        pad[1, -2:] = True
        d_kw, t_kw = dict(src_key_padding_mask=dl.tensor(pad)), dict(
            src_key_padding_mask=torch.tensor(pad))
    _check(d, t, (dx,), (tx,), d_kw, t_kw, (dx, tx), rng)


def test_encoder_stack_with_final_norm_matches_torch():
    rng = np.random.default_rng(1)
    dl.manual_seed(1)
    kw = dict(dim_feedforward=12, dropout=0.0, batch_first=True, norm_first=True)
    d = dl.nn.TransformerEncoder(dl.nn.TransformerEncoderLayer(8, 4, **kw), 3,
                                 norm=dl.nn.LayerNorm(8)).double()
    t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 4, **kw), 3,
                                    norm=torch.nn.LayerNorm(8),
                                    enable_nested_tensor=False).double()
    _load_into_torch(d, t)
    x = rng.standard_normal((2, 6, 8))
    dx, tx = dl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)
    _check(d, t, (dx,), (tx,), dict(mask=dl.tensor(mask.numpy()), is_causal=True),
           dict(mask=mask, is_causal=True), (dx, tx), rng)


def test_encoder_layers_are_independent_copies():
    enc = dl.nn.TransformerEncoder(dl.nn.TransformerEncoderLayer(4, 2, 8), 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b
    a.data[...] = 0
    assert np.any(b.numpy() != 0)


def test_dropout_active_only_in_training():
    dl.manual_seed(2)
    layer = dl.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5).double()
    x = dl.tensor(np.random.default_rng(3).standard_normal((4, 2, 8)))
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    layer.train()
    assert not np.allclose(layer(x).numpy(), layer(x).numpy())


def test_sinusoidal_encoding_formula_and_shapes():
    pe = dl.nn.SinusoidalPositionalEncoding(6, max_len=10, batch_first=True)
    x = dl.zeros(2, 4, 6)
    y = pe(x).numpy()
    p, i = 3, 1                       # position 3, pair 1 (dims 2, 3)
    angle = p / 10000 ** (2 * i / 6)
    np.testing.assert_allclose(y[0, p, 2], math.sin(angle), rtol=1e-6)
    np.testing.assert_allclose(y[1, p, 3], math.cos(angle), rtol=1e-6)
    assert "pe" not in pe.state_dict()
    seq_first = dl.nn.SinusoidalPositionalEncoding(6, max_len=10)
    np.testing.assert_allclose(seq_first(dl.zeros(4, 2, 6)).numpy()[:, 0], y[0], rtol=1e-6)
    with pytest.raises(ValueError, match="too long"):
        pe(dl.zeros(1, 11, 6))


def test_learned_positional_embedding_gets_gradients_per_position():
    dl.manual_seed(4)
    pos = dl.nn.LearnedPositionalEmbedding(8, 3, batch_first=True).double()
    assert list(pos.state_dict()) == ["weight"]
    x = dl.tensor(np.zeros((2, 5, 3)), requires_grad=True)
    pos(x).sum().backward()
    g = pos.weight.grad.numpy()
    np.testing.assert_allclose(g[:5], 2.0)           # used by both batch items
    np.testing.assert_allclose(g[5:], 0.0)           # positions beyond the sequence
    np.testing.assert_allclose(x.grad.numpy(), 1.0)
