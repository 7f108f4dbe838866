"""Second derivatives through whole models equal PyTorch's (float64, same weights): the
Hessian-vector product H·v of a loss with respect to all parameters (and the input), and the
gradient of the squared gradient norm ‖∇ₓL‖² (a gradient penalty), for a
Conv2d→BatchNorm→ReLU→MaxPool→Linear network, two-layer LSTM and GRU, MultiheadAttention
and a TransformerEncoderLayer."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn

from .helpers import load_from_torch, torch

GRADGRADCHECKED = ()  # whole models: the ops are listed by their own test modules


def _hvp(params, loss, vectors, grad):
    """(∇L, H·v) by double backward, in either library (``grad`` is its autograd.grad)."""
    grads = grad(loss, params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vectors))
    return grads, grad(dot, params)


def assert_same_second_order(d_mod, t_mod, loss_of, *arrays, rtol=1e-6, atol=1e-9):
    """Load ``t_mod``'s weights into ``d_mod``; then ∇L, H·v (over the parameters and the
    float inputs) and ∇ₓ‖∇ₓL‖² agree, L = ``loss_of(module, *inputs)``."""
    load_from_torch(d_mod, t_mod)
    rng = np.random.default_rng(3)
    d_in = [dl.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    d_params = list(d_mod.parameters()) + [t for t in d_in if t.requires_grad]
    t_params = list(t_mod.parameters()) + [t for t in t_in if t.requires_grad]
    vs = [rng.standard_normal(tuple(p.shape)) for p in t_params]
    d_g, d_hv = _hvp(d_params, loss_of(d_mod, *d_in), [dl.tensor(v) for v in vs],
                     dl.autograd.grad)
    t_g, t_hv = _hvp(t_params, loss_of(t_mod, *t_in), [torch.tensor(v) for v in vs],
                     torch.autograd.grad)
    for k, (d, t) in enumerate(zip(d_g + d_hv, t_g + t_hv)):
        what = ("gradient" if k < len(d_g) else "Hessian-vector product") + \
            f" of parameter {k % len(d_g)}"
        np.testing.assert_allclose(d.numpy(), t.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=what)
    x_d, x_t = d_in[0], t_in[0]                        # gradient penalty on the input
    g_d, = dl.autograd.grad(loss_of(d_mod, *d_in), [x_d], create_graph=True)
    g_t, = torch.autograd.grad(loss_of(t_mod, *t_in), [x_t], create_graph=True)
    p_d, = dl.autograd.grad((g_d * g_d).sum(), [x_d])
    p_t, = torch.autograd.grad((g_t * g_t).sum(), [x_t])
    np.testing.assert_allclose(p_d.numpy(), p_t.numpy(), rtol=rtol, atol=atol,
                               err_msg="gradient of the input-gradient norm")


def _cnn(lib):
    return lib.nn.Sequential(lib.nn.Conv2d(2, 3, 3, padding=1), lib.nn.BatchNorm2d(3),
                             lib.nn.ReLU(), lib.nn.MaxPool2d(2), lib.nn.Flatten(),
                             lib.nn.Linear(12, 4))


def _softmax_loss(labels):
    def loss(model, x):
        lib = dl if isinstance(x, dl.Tensor) else torch
        target = lib.tensor(labels)
        return lib.nn.functional.cross_entropy(model(x), target)
    return loss


def test_cnn_hessian_vector_product_matches_torch():
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4))
    assert_same_second_order(_cnn(dl), _cnn(torch), _softmax_loss(np.array([0, 3, 1])), x)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_two_layer_recurrent_hessian_vector_product_matches_torch(name):
    torch.manual_seed(0)
    d = getattr(nn, name)(3, 4, num_layers=2)
    t = getattr(torch.nn, name)(3, 4, num_layers=2)
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    w = np.random.default_rng(2).standard_normal((5, 2, 4))

    def loss(model, x):
        out = model(x)[0]
        lib = dl if isinstance(x, dl.Tensor) else torch
        return (lib.tanh(out) * lib.tensor(w)).sum()
    assert_same_second_order(d, t, loss, x)


def test_multihead_attention_hessian_vector_product_matches_torch():
    torch.manual_seed(0)
    d, t = nn.MultiheadAttention(4, 2), torch.nn.MultiheadAttention(4, 2)
    rng = np.random.default_rng(4)
    q, kv = rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 2, 4))
    mask = np.triu(np.ones((3, 5), dtype=bool), 3)

    def loss(model, q, kv):
        lib = dl if isinstance(q, dl.Tensor) else torch
        out, _ = model(q, kv, kv, attn_mask=lib.tensor(mask))
        return (out * out).sum()
    assert_same_second_order(d, t, loss, q, kv)


def test_transformer_encoder_layer_hessian_vector_product_matches_torch():
    from torch.nn.attention import SDPBackend, sdpa_kernel
    torch.manual_seed(0)
    kw = dict(d_model=4, nhead=2, dim_feedforward=6, dropout=0.0)
    d, t = nn.TransformerEncoderLayer(**kw), torch.nn.TransformerEncoderLayer(**kw)
    x = np.random.default_rng(5).standard_normal((3, 2, 4))
    w = np.random.default_rng(6).standard_normal((3, 2, 4))

    def loss(model, x):
        if isinstance(x, dl.Tensor):
            return (dl.tanh(model(x)) * dl.tensor(w)).sum()
        # PyTorch's fused CPU attention kernel has no double backward: its math one has
        with sdpa_kernel(SDPBackend.MATH):
            return (torch.tanh(model(x)) * torch.tensor(w)).sum()
    assert_same_second_order(d, t, loss, x)
