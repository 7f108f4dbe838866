"""optim.swa_utils: AveragedModel (SWA, EMA, avg_fn / multi_avg_fn, use_buffers), update_bn
and SWALR give torch.optim.swa_utils' numbers on the same float64 weights."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn, optim
from deltaflow.optim import swa_utils as SWA

torch = pytest.importorskip("torch")
TSWA = torch.optim.swa_utils
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(autouse=True)
def torch_float64():
    """torch's SWA weight 1/(n_averaged + 1) is a tensor of its default dtype; deltaflow's a
    Python float: compare with torch's default dtype float64."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _models(seed=0):
    ours = nn.Sequential(nn.Linear(3, 4, dtype=dl.float64), nn.BatchNorm1d(4, dtype=dl.float64),
                         nn.ReLU(), nn.Linear(4, 2, dtype=dl.float64))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
    _perturb(ours, theirs, seed)
    return ours, theirs


def _perturb(ours, theirs, seed):
    """New random weights and BatchNorm statistics, the same in both models."""
    rng = np.random.default_rng(seed)
    values = {k: rng.standard_normal(v.shape) if v.dtype.is_floating_point
              else np.array(rng.integers(0, 10)) for k, v in theirs.state_dict().items()}
    values = {k: np.abs(v) if k.endswith("running_var") else v for k, v in values.items()}
    ours.load_state_dict(values)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in values.items()})


def _assert_same(ours, theirs):
    o, t = ours.state_dict(), theirs.state_dict()
    assert list(o) == list(t)
    for key in t:
        np.testing.assert_allclose(o[key].numpy(), t[key].numpy(), **TOL, err_msg=key)
        assert o[key].numpy().dtype == t[key].numpy().dtype, key


AVERAGES = {
    "swa": lambda m: {},
    "avg_fn-ema": lambda m: dict(avg_fn=m.get_ema_avg_fn(0.9)),
    "multi-ema": lambda m: dict(multi_avg_fn=m.get_ema_multi_avg_fn(0.8)),
    "multi-swa": lambda m: dict(multi_avg_fn=m.get_swa_multi_avg_fn()),
    "avg_fn-custom": lambda m: dict(avg_fn=lambda a, c, n: 0.5 * a + 0.5 * c),
}


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", list(AVERAGES))
def test_averaged_model_matches_torch(kind, use_buffers):
    ours, theirs = _models()
    avg = SWA.AveragedModel(ours, use_buffers=use_buffers, **AVERAGES[kind](SWA))
    # torch's get_swa_multi_avg_fn raises on the int64 num_batches_tracked (integer
    # addcdiv); deltaflow's averages it as torch's default (per-tensor) SWA does
    their_kind = "swa" if kind == "multi-swa" and use_buffers else kind
    tavg = TSWA.AveragedModel(theirs, use_buffers=use_buffers, **AVERAGES[their_kind](TSWA))
    _assert_same(avg, tavg)
    for step in range(5):
        _perturb(ours, theirs, seed=step + 1)
        avg.update_parameters(ours)
        tavg.update_parameters(theirs)
        _assert_same(avg, tavg)
    assert int(avg.n_averaged.item()) == 5
    x = np.random.default_rng(9).standard_normal((6, 3))
    avg.eval()
    tavg.eval()
    np.testing.assert_allclose(avg(dl.tensor(x)).numpy(),
                               tavg(torch.tensor(x)).detach().numpy(), **TOL)


def test_averaged_model_is_a_copy_and_trains_nothing():
    ours, _ = _models()
    avg = SWA.AveragedModel(ours)
    assert avg.module is not ours
    assert all(a is not b for a, b in zip(avg.parameters(), ours.parameters()))
    with pytest.raises(ValueError, match="not both"):
        SWA.AveragedModel(ours, avg_fn=SWA.get_swa_avg_fn(),
                          multi_avg_fn=SWA.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="decay"):
        SWA.get_ema_avg_fn(1.5)


def test_update_bn_matches_torch():
    ours, theirs = _models()
    ours.eval()
    theirs.eval()
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((5, 3)) for _ in range(4)]
    SWA.update_bn([(dl.tensor(b), 0) for b in batches], ours)
    TSWA.update_bn([(torch.tensor(b), 0) for b in batches], theirs)
    _assert_same(ours, theirs)
    assert not ours.training
    assert ours[1].momentum == 0.1


def _optimizers(groups=2):
    ours = [dict(params=[nn.Parameter(dl.zeros(2, dtype=dl.float64))], lr=0.1 * (k + 1))
            for k in range(groups)]
    theirs = [dict(params=[torch.zeros(2, dtype=torch.float64, requires_grad=True)],
                   lr=0.1 * (k + 1)) for k in range(groups)]
    return optim.SGD(ours, momentum=0.9), torch.optim.SGD(theirs, momentum=0.9)


@pytest.mark.parametrize("kw", [
    dict(swa_lr=0.05),
    dict(swa_lr=[0.01, 0.5], anneal_epochs=4, anneal_strategy="linear"),
    dict(swa_lr=0.02, anneal_epochs=0),
    dict(swa_lr=0.3, anneal_epochs=1, anneal_strategy="cos"),
])
def test_swalr_matches_torch(kw):
    opt, topt = _optimizers()
    sched, tsched = SWA.SWALR(opt, **kw), TSWA.SWALR(topt, **kw)
    for k in range(30):
        for o in (opt, topt):
            for g in o.param_groups:
                g["params"][0].grad = (dl.zeros(2, dtype=dl.float64) if o is opt
                                       else torch.zeros(2, dtype=torch.float64))
            o.step()
        sched.step()
        tsched.step()
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups],
                                   [g["lr"] for g in topt.param_groups], rtol=1e-12,
                                   err_msg=f"step {k}")


@pytest.mark.filterwarnings("ignore::deltaflow.warnings.SchedulerOrderWarning")  # steps alone
def test_swalr_state_dict_resumes():
    opt, _ = _optimizers()
    sched = SWA.SWALR(opt, swa_lr=0.05, anneal_epochs=6, anneal_strategy="linear")
    for _ in range(3):
        sched.step()
    saved = sched.state_dict()
    opt2, _ = _optimizers()
    opt2.load_state_dict(opt.state_dict())
    sched2 = SWA.SWALR(opt2, swa_lr=0.05, anneal_epochs=6)
    sched2.load_state_dict(saved)
    for _ in range(5):
        sched.step()
        sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError, match="anneal_strategy"):
        SWA.SWALR(opt, swa_lr=0.1, anneal_strategy="step")
