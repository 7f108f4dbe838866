"""DistributedDataParallel, SyncBatchNorm and the collectives on 2 and 3 real MPI processes
(one mpiexec launch per world size, see mpi_worker.py), against one process on the whole
batch."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl

from . import launch
from .workloads import BATCH, make_model, train


@pytest.fixture(scope="module", params=[2, 3], ids=lambda n: f"{n}ranks")
def ranks(request, tmp_path_factory):
    n = request.param
    out = tmp_path_factory.mktemp(f"suite{n}")
    rc, stdout, stderr, _ = launch.run(n, "suite", str(out))
    assert rc == 0, f"mpiexec -n {n} suite failed (rc {rc})\n{stdout}\n{stderr}"
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(n)]


@pytest.fixture(scope="module")
def reference():
    """One process, batch B: the plain model (BatchNorm for the SyncBatchNorm runs)."""
    return {kind: train(kind) for kind in ("mlp", "cnn", "bn", "bn2d")}


def test_collectives_and_threads(ranks):
    # the worker asserted every collective; each rank got its share of the 2 cores: 1
    for res in ranks:
        assert res["threads"].tolist() == [1] * len(res["threads"])


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("micro", [1, 2], ids=["sync", "no_sync"])
def test_same_weights_as_one_process(ranks, reference, kind, micro):
    for r, res in enumerate(ranks):
        for key, want in reference[kind].items():
            np.testing.assert_allclose(res[f"{kind}{micro}.{key}"], want, rtol=1e-6,
                                       atol=1e-12, err_msg=f"rank {r} {key}")


@pytest.mark.parametrize("kind", ["bn", "bn2d"])
def test_sync_batchnorm_training_matches_batchnorm(ranks, reference, kind):
    for r, res in enumerate(ranks):
        for key, want in reference[kind].items():   # weights and running statistics
            np.testing.assert_allclose(res[f"{kind}.{key}"], want, rtol=1e-6, atol=1e-12,
                                       err_msg=f"rank {r} {key}")


@pytest.mark.parametrize("kind,shape", [("1d", (BATCH, 5)), ("2d", (BATCH, 3, 2, 2))])
def test_sync_batchnorm_forward_and_input_gradient(ranks, kind, shape):
    rng = np.random.default_rng(11)
    x_all, v_all = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
    bn = getattr(dl.nn, f"BatchNorm{kind}")(shape[1]).double()
    with dl.no_grad():
        bn.weight.data[...] = np.linspace(0.5, 1.5, shape[1])
        bn.bias.data[...] = np.linspace(-1, 1, shape[1])
    x = dl.tensor(x_all, requires_grad=True)
    y = bn(x)
    (y * dl.tensor(v_all)).sum().div(BATCH).backward()
    n = len(ranks)
    got_y = np.concatenate([res[f"sbn{kind}_y"] for res in ranks])
    got_gx = np.concatenate([res[f"sbn{kind}_gx"] for res in ranks])
    np.testing.assert_allclose(got_y, y.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_gx, x.grad.data, rtol=1e-8, atol=1e-14)
    for res in ranks:
        np.testing.assert_allclose(res[f"sbn{kind}_mean"], bn.running_mean.data, rtol=1e-10)
        np.testing.assert_allclose(res[f"sbn{kind}_var"], bn.running_var.data, rtol=1e-10)
    assert n in (2, 3)


def test_buckets_start_during_backward(ranks):
    # when the first layer's gradient is computed, later layers' buckets were already sent
    for res in ranks:
        assert res["overlap"].tolist() and res["overlap"][0] >= 2


def test_one_process_ddp_is_plain_training(reference):
    import deltaflow.distributed as dist
    from deltaflow.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group()
    try:
        for micro in (1, 2):
            got = train("mlp", 1, 0, DDP, micro)
            for key, want in reference["mlp"].items():
                np.testing.assert_allclose(got[key], want, rtol=1e-12)
        ddp = DDP(make_model("mlp"))
        assert list(ddp.state_dict()) == list(make_model("mlp").state_dict())
        state = {"module." + k: v for k, v in make_model("mlp").state_dict().items()}
        ddp.load_state_dict(state)   # PyTorch DDP's prefixed keys load too
    finally:
        dist.destroy_process_group()
