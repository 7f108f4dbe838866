"""The fused parameter updates (deltaflow.optim.fused, compiled by Numba) give exactly the
numbers of the NumPy passes, for every option of SGD, Adam and AdamW; small parameters and
other layouts take the NumPy path."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import jit, optim
from deltaflow.optim import fused

pytest.importorskip("numba")

SHAPE = (96, 400)                    # 38 400 elements: above fused.MIN_SIZE

CONFIGS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    (optim.Adam, dict(lr=1e-2)),
    (optim.Adam, dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    (optim.Adam, dict(lr=1e-2, betas=(0.8, 0.9), eps=1e-3, maximize=True)),
    (optim.AdamW, dict(lr=1e-2)),
    (optim.AdamW, dict(lr=1e-2, weight_decay=0.3, amsgrad=True)),
]


def _train(cls, kwargs, dtype, enabled, monkeypatch, steps=4):
    monkeypatch.setattr(jit, "ENABLED", enabled)
    rng = np.random.default_rng(0)
    p = dl.nn.Parameter(dl.tensor(rng.standard_normal(SHAPE).astype(dtype)))
    opt = cls([p], **kwargs)
    for _ in range(steps):
        grad = rng.standard_normal((SHAPE[1], SHAPE[0])).astype(dtype)
        p.grad = dl.tensor(grad.T)                   # a transposed view: any layout works
        opt.step()
    state = opt.state[p]
    return [p.numpy()] + [a for a in state.values() if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=lambda c: getattr(c, "__name__", str(c)))
def test_fused_update_equals_numpy_passes(cls, kwargs, dtype, monkeypatch):
    ours = _train(cls, kwargs, dtype, True, monkeypatch)
    passes = _train(cls, kwargs, dtype, False, monkeypatch)
    assert len(ours) == len(passes) > 0
    for a, b in zip(ours, passes):
        np.testing.assert_array_equal(a, b)


def test_fused_applies_only_to_large_contiguous_numpy_params(monkeypatch):
    monkeypatch.setattr(jit, "ENABLED", True)
    big = np.zeros(SHAPE, np.float32)
    assert fused.for_param(big) is not None
    assert fused.for_param(np.zeros(100, np.float32)) is None
    assert fused.for_param(np.zeros(SHAPE, np.float32).T) is None
    assert fused.for_param(big, np.zeros(SHAPE, np.float32).T) is None
    monkeypatch.setattr(jit, "ENABLED", False)
    assert fused.for_param(big) is None
