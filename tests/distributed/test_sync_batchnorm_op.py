"""The SyncBatchNorm op on one rank: gradcheck, and PyTorch's training-mode batch norm."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.distributed import LocalCommunicator
from deltaflow.ops.sync_batch_norm import SyncBatchNorm

GRADCHECKED = ("SyncBatchNorm",)


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
