"""GroupNorm, InstanceNorm1d/2d/3d, RMSNorm and BatchNorm3d (modules and functions) equal
PyTorch's in float64: forward, input and parameter gradients, running statistics; float64
gradcheck of the RMSNorm op."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn as nn
import deltaflow.nn.functional as F
from opcheck import OpCase, check_op, op_params

from .helpers import compare_module, rand, torch

tnn, TF = torch.nn, torch.nn.functional

GRADCHECKED = ("RMSNorm",)
GRADGRADCHECKED = ("RMSNorm",)  # the table's second-order checks


CASES = [
    OpCase("rms_norm", lambda x, w: F.rms_norm(x, (4,), w),
           lambda x, w: x / np.sqrt((x * x).mean(-1, keepdims=True) + np.finfo(float).eps) * w,
           lambda x, w: TF.rms_norm(x, (4,), w)).at((3, 4), (4,)),
    OpCase("rms_norm_2d_eps", lambda x, w: F.rms_norm(x, (3, 4), w, eps=1e-2), None,
           lambda x, w: TF.rms_norm(x, (3, 4), w, eps=1e-2)).at((2, 3, 4), (3, 4)),
    OpCase("rms_norm_no_weight", lambda x: F.rms_norm(x, [5]), None,
           lambda x: TF.rms_norm(x, [5])).at((2, 3, 5)),
    OpCase("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), None,
           lambda x, w, b: TF.group_norm(x, 2, w, b)).at((2, 4, 3, 2), (4,), (4,)),
    OpCase("group_norm_plain", lambda x: F.group_norm(x, 3, eps=1e-3), None,
           lambda x: TF.group_norm(x, 3, eps=1e-3)).at((2, 6, 5)),
    OpCase("instance_norm", lambda x, w, b: F.instance_norm(x, weight=w, bias=b), None,
           lambda x, w, b: TF.instance_norm(x, weight=w, bias=b)).at((2, 3, 4, 5), (3,), (3,)),
    OpCase("instance_norm_plain", lambda x: F.instance_norm(x, eps=1e-3), None,
           lambda x: TF.instance_norm(x, eps=1e-3)).at((2, 3, 6)),
]


@pytest.mark.parametrize("case,check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


def test_rms_norm_default_eps_is_the_dtype_epsilon():
    x = rand(2, 6).astype(np.float32) * 1e-4
    d = F.rms_norm(dl.tensor(x), (6,)).numpy()
    t = TF.rms_norm(torch.tensor(x), (6,)).numpy()
    assert d.dtype == np.float32
    np.testing.assert_allclose(d, t, rtol=1e-5)


@pytest.mark.parametrize("kw", [{}, dict(affine=False), dict(eps=1e-3), dict(bias=False)])
def test_group_norm_module(kw):
    compare_module(nn.GroupNorm(2, 6, **kw), tnn.GroupNorm(2, 6, **kw), rand(3, 6, 4, 2))


@pytest.mark.parametrize("shape", [(2, 4, 5, 3), (2, 4, 3, 2, 2)])
def test_batch_norm_3d_and_group_norm_shapes(shape):
    if len(shape) == 5:
        d, t = nn.BatchNorm3d(4), tnn.BatchNorm3d(4)
        compare_module(d, t, rand(*shape))
        np.testing.assert_allclose(d.running_var.numpy(), t.running_var.numpy(), rtol=1e-12)
        compare_module(d, t, rand(*shape, seed=1), train=False)
        assert repr(d) == repr(t)
    compare_module(nn.GroupNorm(4, 4), tnn.GroupNorm(4, 4), rand(*shape))


def test_batch_norm_3d_refuses_4d():
    with pytest.raises(ValueError, match=r"BatchNorm3d\(3\): expected 5D input, got 4D"):
        nn.BatchNorm3d(3)(dl.randn(2, 3, 4, 4))


INSTANCE = [(nn.InstanceNorm1d, tnn.InstanceNorm1d, (3, 4, 5)),
            (nn.InstanceNorm2d, tnn.InstanceNorm2d, (2, 4, 3, 5)),
            (nn.InstanceNorm3d, tnn.InstanceNorm3d, (2, 4, 3, 2, 3))]


@pytest.mark.parametrize("d_cls,t_cls,shape", INSTANCE)
@pytest.mark.parametrize("kw", [{}, dict(affine=True), dict(track_running_stats=True),
                                dict(affine=True, track_running_stats=True, momentum=0.3)])
def test_instance_norm_modules(d_cls, t_cls, shape, kw):
    d, t = d_cls(4, **kw), t_cls(4, **kw)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict())
    compare_module(d, t, rand(*shape))
    for name, buffer in t.named_buffers():
        np.testing.assert_allclose(getattr(d, name).numpy(), buffer.numpy(), rtol=1e-12,
                                   err_msg=name)
    compare_module(d, t, rand(*shape, seed=1), train=False)


@pytest.mark.parametrize("d_cls,t_cls,shape", INSTANCE)
def test_instance_norm_unbatched_input(d_cls, t_cls, shape):
    compare_module(d_cls(4, affine=True), t_cls(4, affine=True), rand(*shape[1:]))


def test_instance_norm_momentum_none_keeps_running_stats():
    d, t = nn.InstanceNorm1d(3, track_running_stats=True, momentum=None), \
        tnn.InstanceNorm1d(3, track_running_stats=True, momentum=None)
    compare_module(d, t, rand(2, 3, 4))
    np.testing.assert_array_equal(d.running_mean.numpy(), t.running_mean.numpy())


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3\): expected 3D or 4D input"):
        nn.InstanceNorm2d(3)(dl.randn(2, 3))
    with pytest.raises(ValueError, match="to match num_features"):
        nn.InstanceNorm1d(3, affine=True)(dl.randn(2, 4, 5))
    with pytest.warns(UserWarning, match="to match num_features"):
        nn.InstanceNorm1d(3)(dl.randn(2, 4, 5))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(dl.randn(2, 3, 1))


def test_rms_norm_module():
    for shape, kw in (((5,), {}), ((3, 5), dict(eps=1e-3)), (5, dict(elementwise_affine=False))):
        d, t = nn.RMSNorm(shape, **kw), tnn.RMSNorm(shape, **kw)
        assert repr(d) == repr(t)
        compare_module(d, t, rand(2, 3, 5))


@pytest.mark.parametrize("call,message", [
    (lambda: F.group_norm(dl.randn(2, 5, 3), 2), "divisible by num_groups=2"),
    (lambda: F.group_norm(dl.randn(2, 4, 3), 2, dl.ones(3)), r"weight has shape \(3,\)"),
    (lambda: nn.GroupNorm(2, 5), r"num_channels \(5\) must be divisible"),
    (lambda: F.rms_norm(dl.randn(2, 4), (3,)), "does not match the trailing dims"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
