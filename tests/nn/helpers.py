"""Shared helpers for the nn tests: copy weights from a PyTorch module through
``load_state_dict`` (PyTorch's key names) and compare outputs and gradients in float64."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl

torch = pytest.importorskip("torch")


def load_from_torch(d_mod, t_mod):
    """Make ``d_mod`` float64 and give it ``t_mod``'s parameters and buffers."""
    t_mod.double()
    d_mod.double()
    result = d_mod.load_state_dict({k: v.numpy() for k, v in t_mod.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    return d_mod, t_mod


def compare_module(d_mod, t_mod, *arrays, rtol=1e-7, atol=1e-9, seed=0, train=True,
                   check_input_grads=True):
    """Forward values, input gradients and parameter gradients of the two modules agree
    (after loading ``t_mod``'s weights into ``d_mod``)."""
    load_from_torch(d_mod, t_mod)
    d_mod.train(train)
    t_mod.train(train)
    d_in = [dl.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    d_out, t_out = d_mod(*d_in), t_mod(*t_in)
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg="forward")
    w = np.random.default_rng(seed).standard_normal(t_out.shape)
    (d_out * dl.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    if check_input_grads:
        for k, (d, t) in enumerate(zip(d_in, t_in)):
            if t.requires_grad:
                np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol,
                                           err_msg=f"gradient of input {k}")
    t_params = dict(t_mod.named_parameters())
    d_params = dict(d_mod.named_parameters())
    assert list(d_params) == list(t_params)
    for name, tp in t_params.items():
        dp = d_params[name]
        if tp.grad is None:
            assert dp.grad is None or not np.any(dp.grad.numpy()), name
            continue
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")
    return d_out, t_out


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)
