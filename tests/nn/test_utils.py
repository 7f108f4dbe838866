"""nn.utils: clipping against PyTorch, parameter/vector conversion, L1 penalty."""
import math

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    l1_penalty,
    parameters_to_vector,
    vector_to_parameters,
)

from .helpers import load_from_torch, rand, torch


def models_with_grads(scale=1.0):
    d = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    t = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    load_from_torch(d, t)
    x = rand(6, 4) * scale
    (d(dl.tensor(x)) ** 2).sum().backward()
    (t(torch.tensor(x)) ** 2).sum().backward()
    return d, t


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    d, t = models_with_grads()
    old_array = d[0].weight.grad.data
    shared_before = old_array.copy()
    total_d = clip_grad_norm_(d.parameters(), max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(t.parameters(), max_norm, norm_type)
    np.testing.assert_allclose(total_d.item(), total_t.item(), rtol=1e-10)
    for pd, pt in zip(d.parameters(), t.parameters()):
        np.testing.assert_allclose(pd.grad.numpy(), pt.grad.numpy(), rtol=1e-10)
    np.testing.assert_array_equal(old_array, shared_before)  # the old array is untouched
    if max_norm < 1:
        assert not np.array_equal(d[0].weight.grad.numpy(), shared_before)


def test_clip_grad_norm_does_not_write_into_shared_gradient_arrays():
    p, q = nn.Parameter(dl.ones(3)), nn.Parameter(dl.ones(3))
    g = np.full(3, 10.0, dtype=np.float32)
    p.grad, q.grad = dl.Tensor(g), dl.Tensor(g)
    clip_grad_norm_([p], 1.0)
    assert np.all(g == 10.0) and np.all(q.grad.numpy() == 10.0)
    assert np.linalg.norm(p.grad.numpy()) == pytest.approx(1.0, rel=1e-5)
    assert p.grad.dtype == dl.float32


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(dl.ones(2))
    p.grad = dl.tensor(np.array([np.inf, 1.0], dtype=np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert not math.isfinite(clip_grad_norm_([p], 1.0).item())
    assert clip_grad_norm_([nn.Parameter(dl.ones(2))], 1.0).item() == 0.0  # no grads


def test_clip_grad_value_matches_torch_and_rebinds():
    d, t = models_with_grads(scale=3.0)
    before = d[0].weight.grad
    old = before.data
    clip_grad_value_(d.parameters(), 0.5)
    torch.nn.utils.clip_grad_value_(t.parameters(), 0.5)
    for pd, pt in zip(d.parameters(), t.parameters()):
        np.testing.assert_allclose(pd.grad.numpy(), pt.grad.numpy(), rtol=1e-12)
    assert before.data is not old and np.abs(old).max() > 0.5


def test_parameters_to_vector_and_back():
    d, t = models_with_grads()
    vd = parameters_to_vector(d.parameters())
    vt = torch.nn.utils.parameters_to_vector(t.parameters())
    np.testing.assert_allclose(vd.numpy(), vt.detach().numpy())
    vd.sum().backward()  # differentiable
    new = dl.tensor(np.arange(vd.shape[0], dtype=np.float64))
    vector_to_parameters(new, d.parameters())
    np.testing.assert_array_equal(parameters_to_vector(d.parameters()).numpy(), new.numpy())
    assert d[0].weight.shape == (5, 4)
    with pytest.raises(ValueError, match="has 3 elements"):
        vector_to_parameters(dl.zeros(3), d.parameters())


def test_l1_penalty_value_and_gradient():
    d, _ = models_with_grads()
    d.zero_grad()
    pen = l1_penalty(d.parameters())
    expected = sum(np.abs(p.numpy()).sum() for p in d.parameters())
    np.testing.assert_allclose(pen.item(), expected)
    pen.backward()
    for p in d.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.sign(p.numpy()))
    with pytest.raises(ValueError, match="no parameters"):
        l1_penalty([])
