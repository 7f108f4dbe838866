"""The SyncBatchNorm op on one rank: gradcheck, and PyTorch's training-mode batch norm."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.distributed import LocalCommunicator
from deltaflow.ops.sync_batch_norm import SyncBatchNorm

GRADCHECKED = ("SyncBatchNorm",)
GRADGRADCHECKED = ("SyncBatchNorm",)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 2)])
def test_gradcheck_and_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = dl.tensor(rng.standard_normal(shape), requires_grad=True)
    w = dl.tensor(rng.standard_normal(3), requires_grad=True)
    b = dl.tensor(rng.standard_normal(3), requires_grad=True)

    def fn(x, w, b):
        return SyncBatchNorm.apply(x, w, b, comm=LocalCommunicator())
    assert dl.autograd.gradcheck(fn, (x, w, b))
    x.grad = w.grad = b.grad = None   # gradcheck's backward accumulated there
    mean, var = np.zeros(3), np.ones(3)
    y = SyncBatchNorm.apply(x, w, b, comm=LocalCommunicator(), running_mean=mean,
                            running_var=var)
    v = rng.standard_normal(shape)
    (y * dl.tensor(v)).sum().backward()
    tx, tw, tb = (torch.tensor(t.data, requires_grad=True) for t in (x, w, b))
    tmean, tvar = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    ty = torch.nn.functional.batch_norm(tx, tmean, tvar, tw, tb, training=True)
    (ty * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(mean, tmean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var, tvar.numpy(), rtol=1e-12)


def test_convert_sync_batchnorm_shares_parameters():
    model = dl.nn.Sequential(dl.nn.Conv2d(1, 2, 1), dl.nn.BatchNorm2d(2),
                             dl.nn.InstanceNorm2d(2), dl.nn.Sequential(dl.nn.BatchNorm1d(3)))
    bn = model[1]
    model.eval()
    out = dl.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert out is model and type(model[1]) is dl.nn.SyncBatchNorm
    assert type(model[2]) is dl.nn.InstanceNorm2d and type(model[3][0]) is dl.nn.SyncBatchNorm
    assert model[1].weight is bn.weight and model[1].running_var is bn.running_var
    assert not model[1].training
    single = dl.nn.SyncBatchNorm.convert_sync_batchnorm(dl.nn.BatchNorm1d(4))
    assert type(single) is dl.nn.SyncBatchNorm
    with pytest.raises(ValueError, match="at least 2D"):
        dl.nn.SyncBatchNorm(3)(dl.randn(3))


def test_second_order_in_one_process_matches_torch():
    """create_graph on one rank: BatchNorm's training formula, differentiated again;
    second derivatives equal PyTorch's batch_norm's, and gradgradcheck passes."""
    torch = pytest.importorskip("torch")
    from opcheck import assert_gradgradcheck, assert_second_order_matches_torch
    rng = np.random.default_rng(1)
    arrays = rng.standard_normal((4, 3, 2)), rng.standard_normal(3), rng.standard_normal(3)

    def ours(x, w, b):
        return SyncBatchNorm.apply(x, w, b, comm=LocalCommunicator()) ** 2

    def theirs(x, w, b):
        return torch.nn.functional.batch_norm(x, None, None, w, b, training=True) ** 2
    assert_second_order_matches_torch(ours, theirs, *arrays)
    assert_gradgradcheck(ours, *arrays)


class _TwoRankEcho(LocalCommunicator):
    """A stand-in for a two-rank communicator whose other rank holds the same batch."""

    size = 2

    def allgather(self, send, out):
        out[:] = send


def test_second_order_over_several_ranks_is_refused_clearly():
    x = dl.tensor(np.random.default_rng(2).standard_normal((4, 3)), requires_grad=True)
    y = SyncBatchNorm.apply(x, has_weight=False, has_bias=False, comm=_TwoRankEcho())
    with pytest.raises(RuntimeError, match="single process only; this communicator has 2"):
        dl.autograd.grad((y * y).sum(), [x], create_graph=True)
