"""The fused parameter updates (deltaflow.optim.fused, compiled by Numba) give exactly the
numbers of the NumPy passes, for every option of SGD, Adam and AdamW; small parameters and
other layouts take the NumPy path."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import optim
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


def _train(cls, kwargs, dtype, enabled, set_jit, steps=4):
    set_jit(enabled)
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
def test_fused_update_equals_numpy_passes(cls, kwargs, dtype, set_jit):
    ours = _train(cls, kwargs, dtype, True, set_jit)
    passes = _train(cls, kwargs, dtype, False, set_jit)
    assert len(ours) == len(passes) > 0
    for a, b in zip(ours, passes):
        np.testing.assert_array_equal(a, b)


def test_fused_applies_only_to_large_contiguous_numpy_params(set_jit):
    set_jit(True)
    big = np.zeros(SHAPE, np.float32)
    assert fused.pick(big).compiled
    assert not fused.pick(np.zeros(100, np.float32)).compiled
    assert not fused.pick(np.zeros(SHAPE, np.float32).T).compiled
    assert not fused.pick(big, np.zeros(SHAPE, np.float32).T).compiled
    assert not fused.pick(big, None).compiled          # SGD's first momentum step: buf ← g
    set_jit(False)
    assert not fused.pick(big).compiled
