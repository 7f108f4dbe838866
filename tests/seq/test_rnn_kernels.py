"""The two ways an LSTM or GRU step's elementwise work runs — the fused Numba kernels
(deltaflow.ops.lstm_kernels, gru_kernels) and the NumPy passes — give the same numbers,
and each equals PyTorch."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.nn.functional import gru_layer, lstm_layer
from deltaflow.ops import gru_kernels, lstm_kernels

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="needs numba (pip install deltaflow[fast])")


def _run(arrays, reverse, enabled, set_jit, layer=lstm_layer):
    set_jit(enabled)
    leaves = [dl.tensor(a, requires_grad=True) for a in arrays]
    out, h, *c = layer(*leaves, reverse=reverse)
    rng = np.random.default_rng(1)
    loss = sum((t * dl.tensor(rng.standard_normal(tuple(t.shape)).astype(t.numpy().dtype))).sum()
               for t in (out, h, *c))
    loss.backward()
    return [t.numpy() for t in (out, h, *c)] + [leaf.grad.numpy() for leaf in leaves]


# layer function, its kernels, the gate count G (weights (G·H, ·)), the number of states
LAYERS = {"lstm": (lstm_layer, lstm_kernels, 4, 2), "gru": (gru_layer, gru_kernels, 3, 1)}


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", list(LAYERS))
def test_fused_kernels_equal_numpy_passes(name, dtype, reverse, bias, set_jit):
    layer, kernels, G, n_states = LAYERS[name]
    rng = np.random.default_rng(0)
    shapes = ([(19, 3, 5)] + [(3, 6)] * n_states + [(G * 6, 5), (G * 6, 6)]
              + [(G * 6,), (G * 6,)] * bias)
    arrays = [(rng.standard_normal(s) * 0.8).astype(dtype) for s in shapes]
    fused = _run(arrays, reverse, True, set_jit, layer)
    assert kernels.pick(arrays[0]).compiled
    passes = _run(arrays, reverse, False, set_jit, layer)
    for a, b in zip(fused, passes):
        np.testing.assert_array_equal(a, b)


def test_kernels_apply_only_to_numpy_float32_float64(set_jit):
    set_jit(True)
    assert not lstm_kernels.pick(np.zeros(2, np.float16)).compiled
    assert not lstm_kernels.pick(np.zeros(2, np.int64)).compiled
    assert lstm_kernels.pick(np.zeros(2, np.float32)).compiled == HAS_NUMBA
    set_jit(False)
    assert not lstm_kernels.pick(np.zeros(2, np.float32)).compiled


def test_float16_lstm_runs_on_the_numpy_passes():
    m = dl.nn.LSTM(3, 4).half()
    x = dl.tensor(np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float16))
    out, _ = m(x)
    assert out.dtype == dl.float16 and np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("enabled", [pytest.param(True, marks=needs_numba), False])
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_stacked_bidirectional_layers_match_torch_on_both_paths(mode, enabled, set_jit):
    torch = pytest.importorskip("torch")
    set_jit(enabled)
    t = getattr(torch.nn, mode)(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    d = getattr(dl.nn, mode)(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    t, d = t.double(), d.double()
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((4, 11, 3))
    dx, tx = dl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    d_out, d_states = d(dx)
    t_out, t_states = t(tx)
    d_states = d_states if mode == "LSTM" else (d_states,)
    t_states = t_states if mode == "LSTM" else (t_states,)
    (d_out.sum() + sum(s.sum() * k for k, s in enumerate(d_states, 2))).backward()
    (t_out.sum() + sum(s.sum() * k for k, s in enumerate(t_states, 2))).backward()
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dx.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    for (name, dp), (_, tp) in zip(d.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), atol=1e-10, err_msg=name)
