"""LayerNorm's row-fused loops (deltaflow.ops.layer_norm_kernels, compiled by Numba) against
its NumPy passes, and both against PyTorch's LayerNorm: output, ∂L/∂x, ∂L/∂γ, ∂L/∂β.

The loops sum in another order than the passes' BLAS products, so the results agree to
rounding: C = 8 ulps of each result's scale. With ε the dtype's machine epsilon,
s_r = 1/√(σ²_r + eps), M_r = s_r·max_j |x_rj| (row r's magnitude in units of its
deviation: an error of ε·max|x| in μ_r moves x̂_r by ε·M_r), γ = 1 and β = 0 where absent,
all computed in float64 from the inputs, any two of loops, passes and PyTorch (in the
dtype) must give

    |Δy_rj|      ≤ C·ε·(|γ_j|·M_r + |β_j|)
    |Δ∂L/∂x_rj|  ≤ C·ε·s_r·max_j |γ_j·g_rj|·(1 + M_r)
    |Δ∂L/∂γ_j|   ≤ C·ε·Σ_r |g_rj|·M_r
    |Δ∂L/∂β_j|   ≤ C·ε·Σ_r |g_rj|

(the largest seen over these cases: 3.7·ε·scale). The rows include a constant one and a
zero one (σ² = 0), one of mean 100 and one of deviation 10⁻³ (σ² below eps)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.jit import MIN_SIZE
from deltaflow.ops import layer_norm_kernels

pytest.importorskip("numba")

C = 8
EPS = 1e-5
SHAPES = [(128,), (127,), (5,), (8, 16), (3, 7)]      # K = 128, 127, 5, 128, 21
AFFINE = ["weight and bias", "weight", "none"]    # "weight": bias=False, "none": no affine


def _data(shape, dtype, seed=1):
    """x, g of shape (lead, 16, *shape) with at least MIN_SIZE values, viewed as (rows, K)
    by the op: rows 0–3 are constant 2.5, zero, of mean 100, of deviation 10⁻³."""
    k = math.prod(shape)
    lead = -(-MIN_SIZE // (16 * k)) + 1
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((lead * 16, k)) * 3 + 1
    rows[0], rows[1] = 2.5, 0.0
    rows[2] = 100 + rng.standard_normal(k)
    rows[3] = 1e-3 * rng.standard_normal(k)
    x = rows.reshape((lead, 16) + shape).astype(dtype)
    return x, rng.standard_normal(x.shape).astype(dtype)


def _params(shape, dtype, affine, seed=2):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal(shape).astype(dtype) if affine != "none" else None
    bias = rng.standard_normal(shape).astype(dtype) if affine == "weight and bias" else None
    return weight, bias


def _scales(x, g, weight, bias, k):
    """Per output, the array the bound multiplies by C·ε (see the module docstring), for
    rows of ``k`` values."""
    rows, grad = x.reshape(-1, k).astype(np.float64), g.reshape(-1, k).astype(np.float64)
    s = 1.0 / np.sqrt(rows.var(axis=1) + EPS)
    m = s * np.abs(rows).max(axis=1)
    w = np.ones(k) if weight is None else np.abs(weight.reshape(k).astype(np.float64))
    b = np.zeros(k) if bias is None else np.abs(bias.reshape(k).astype(np.float64))
    return {"y": w * m[:, None] + b, "gx": (s * np.abs(grad * w).max(axis=1) * (1 + m))[:, None],
            "gw": np.abs(grad).T @ m, "gb": np.abs(grad).sum(axis=0)}


def _assert_close(ours, theirs, x, g, weight, bias, k, what):
    """Each output of ``ours`` within the bound of ``theirs`` (dicts of arrays or None)."""
    scales = _scales(x, g, weight, bias, k)
    eps = np.finfo(x.dtype).eps
    assert [v is None for v in ours.values()] == [theirs[key] is None for key in ours], what
    for key, a in ours.items():
        if a is None:
            continue
        b = theirs[key]
        assert a.dtype == x.dtype and a.shape == b.shape, (what, key)
        shape = (-1, k) if key in ("y", "gx") else (k,)
        a, b = a.reshape(shape), b.reshape(shape)
        err = np.abs(a.astype(np.float64) - b)
        bound = C * eps * scales[key]
        assert np.all(err <= bound), (what, key, float(np.max(err / np.maximum(bound, 1e-300))))


def _deltaflow(x, g, shape, weight, bias, set_jit, enabled):
    set_jit(enabled)
    norm = dl.nn.LayerNorm(shape, eps=EPS, elementwise_affine=weight is not None,
                           bias=bias is not None, dtype=x.dtype)
    if weight is not None:
        norm.weight.data[...] = weight
    if bias is not None:
        norm.bias.data[...] = bias
    xt = dl.tensor(x, requires_grad=True)
    y = norm(xt)
    y.backward(dl.tensor(g))
    return {"y": y.numpy(), "gx": xt.grad.numpy(),
            "gw": None if weight is None else norm.weight.grad.numpy(),
            "gb": None if bias is None else norm.bias.grad.numpy()}


def _torch(x, g, shape, weight, bias):
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    wt = None if weight is None else torch.tensor(weight, requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    y = torch.nn.functional.layer_norm(xt, shape, wt, bt, EPS)
    y.backward(torch.tensor(g))
    return {"y": y.detach().numpy(), "gx": xt.grad.numpy(),
            "gw": None if wt is None else wt.grad.numpy(),
            "gb": None if bt is None else bt.grad.numpy()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", AFFINE)
def test_layer_norm_loops_passes_and_torch_agree(dtype, shape, affine, set_jit):
    x, g = _data(shape, dtype)
    weight, bias = _params(shape, dtype, affine)
    k = math.prod(shape)
    set_jit(True)
    flat = [None if p is None else p.reshape(k) for p in (weight, bias)]
    assert layer_norm_kernels.pick(x.reshape(-1, k), flat).compiled == \
        (k >= layer_norm_kernels.MIN_K)
    loops = _deltaflow(x, g, shape, weight, bias, set_jit, True)
    passes = _deltaflow(x, g, shape, weight, bias, set_jit, False)
    theirs = _torch(x, g, shape, weight, bias)
    _assert_close(loops, passes, x, g, weight, bias, k, "loops vs passes")
    _assert_close(loops, theirs, x, g, weight, bias, k, "loops vs torch")
    _assert_close(passes, theirs, x, g, weight, bias, k, "passes vs torch")


def _implementations():
    """The compiled implementation (picked for rows it applies to) and the passes."""
    compiled = layer_norm_kernels.pick(np.zeros((MIN_SIZE // 128, 128), np.float32), ())
    assert compiled.compiled
    return compiled, layer_norm_kernels.pick(np.zeros((4, 128), np.float32), ())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 5, 33])
@pytest.mark.parametrize("affine", ["weight and bias", "weight", "bias", "none"])
def test_layer_norm_loops_on_any_row_length(dtype, k, affine, set_jit):
    """Rows shorter than MIN_K (which ``pick`` leaves to the passes) and a partial last
    lane chunk: the loops, called directly, against the passes; β without γ too."""
    set_jit(True)
    compiled, passes = _implementations()
    x, g = (a.reshape(-1, k) for a in _data((k,), dtype))
    weight, bias = _params((k,), dtype, "weight and bias")
    weight = None if affine in ("bias", "none") else weight
    bias = None if affine in ("weight", "none") else bias
    outs = []
    for impl in (compiled, passes):
        y, xhat, inv_std = impl.forward(x, weight, bias, EPS)
        gx, gw, gb = impl.backward(g, xhat, inv_std, weight, True, True)
        outs.append({"y": y, "gx": gx, "gw": gw, "gb": gb})
    _assert_close(*outs, x, g, weight, bias, k, f"loops vs passes, K = {k}")


@pytest.mark.parametrize("input_grad, param_grads", [(True, False), (False, True)])
def test_layer_norm_loops_give_only_the_wanted_gradients(input_grad, param_grads, set_jit):
    set_jit(True)
    x, g = (a.reshape(-1, 128) for a in _data((128,), np.float32))
    weight, bias = _params((128,), np.float32, "weight and bias")
    outs = []
    for impl in _implementations():
        y, xhat, inv_std = impl.forward(x, weight, bias, EPS)
        gx, gw, gb = impl.backward(g, xhat, inv_std, weight, input_grad, param_grads)
        assert (gx is not None) == input_grad and (gw is not None) == param_grads and \
            (gb is not None) == param_grads
        outs.append({"y": y, "gx": gx, "gw": gw, "gb": gb})
    _assert_close(*outs, x, g, weight, bias, 128, "loops vs passes")


def test_layer_norm_frozen_parameters_and_constant_input(set_jit):
    """Through the op: γ, β not requiring grad get none, and an input that does not
    require grad still gives γ, β theirs, loops as passes."""
    x, g = _data((128,), np.float32)
    weight, bias = _params((128,), np.float32, "weight and bias")
    for enabled in (True, False):
        set_jit(enabled)
        norm = dl.nn.LayerNorm(128, eps=EPS)
        norm.weight.data[...], norm.bias.data[...] = weight, bias
        norm.weight.requires_grad_(False)
        xt = dl.tensor(x, requires_grad=True)
        norm(xt).backward(dl.tensor(g))
        assert norm.weight.grad is None and norm.bias.grad is not None and xt.grad is not None
        norm.weight.requires_grad_(True)
        norm.bias.grad = None
        norm(dl.tensor(x)).backward(dl.tensor(g))
        assert norm.weight.grad is not None and norm.bias.grad is not None


def test_layer_norm_double_backward_after_the_loops(set_jit):
    """Under ``create_graph`` the gradient is recomputed on Tensors (``backward_graph``),
    whatever the forward ran: second derivatives as PyTorch's."""
    torch = pytest.importorskip("torch")
    set_jit(True)
    x, _ = _data((128,), np.float64)
    weight, bias = _params((128,), np.float64, "weight and bias")
    assert layer_norm_kernels.pick(x.reshape(-1, 128), (weight, bias)).compiled
    ours = [dl.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    for lib, (xt, wt, bt), layer_norm in ((dl, ours, dl.nn.functional.layer_norm),
                                          (torch, theirs, torch.nn.functional.layer_norm)):
        y = layer_norm(xt, (128,), wt, bt, EPS)
        gx, = lib.autograd.grad((y * y).sum(), [xt], create_graph=True)
        (gx * gx).sum().backward()
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_layer_norm_loops_apply_only_to_large_c_ordered_rows(set_jit):
    set_jit(True)
    a = np.zeros((320, 128), np.float32)
    w = b = np.ones(128, np.float32)
    assert layer_norm_kernels.pick(a, (w, b), a).compiled
    assert layer_norm_kernels.pick(a, (w, None)).compiled
    assert layer_norm_kernels.pick(a, (None, None)).compiled
    assert not layer_norm_kernels.pick(a, (w.astype(np.float64), b)).compiled
    assert not layer_norm_kernels.pick(np.asfortranarray(a), (w, b)).compiled
    assert not layer_norm_kernels.pick(a, (w, b), np.asfortranarray(a)).compiled
    assert not layer_norm_kernels.pick(a, (w, b), a.astype(np.float64)).compiled
    assert not layer_norm_kernels.pick(a[:, ::2], (w, b)).compiled
    assert not layer_norm_kernels.pick(np.zeros((4, 128), np.float32), (w, b)).compiled
    assert not layer_norm_kernels.pick(np.zeros((8192, 8), np.float32), ()).compiled
    set_jit(False)
    assert not layer_norm_kernels.pick(a, (w, b), a).compiled
