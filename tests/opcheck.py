"""Shared helpers for op tests: float64 gradcheck and comparison with PyTorch.

Convention: a test module that gradchecks ops lists their ``Function`` class names in a
module-level tuple ``GRADCHECKED``; ``tests/test_op_coverage.py`` fails for any Function
subclass in deltaflow that no test module lists.
"""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def leaf(array, requires_grad=True):
    """A float64 deltaflow leaf from a NumPy array."""
    return dl.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def assert_gradcheck(fn, *arrays, **kw):
    """Run float64 finite-difference gradcheck of ``fn`` at ``arrays``."""
    inputs = [leaf(a) for a in arrays]
    result = dl.autograd.gradcheck(fn, inputs, **kw)
    assert result, str(result)


def assert_matches_torch(dl_fn, torch_fn, *arrays, rtol=1e-6, atol=1e-9, grad=True):
    """Forward values and input gradients of ``dl_fn`` equal ``torch_fn``'s (float64)."""
    if torch is None:
        pytest.skip("PyTorch not installed")
    d_in = [leaf(a, grad) for a in arrays]
    t_in = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad) for a in arrays]
    d_out, t_out = dl_fn(*d_in), torch_fn(*t_in)
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol)
    if grad:
        w = np.random.default_rng(0).standard_normal(d_out.shape)
        (d_out * dl.tensor(w)).sum().backward()
        (t_out * torch.tensor(w)).sum().backward()
        for k, (d, t) in enumerate(zip(d_in, t_in)):
            if t.grad is None:
                assert d.grad is None or not np.any(d.grad.numpy()), f"input {k}"
                continue
            np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {k}")
