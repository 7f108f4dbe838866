"""LambdaLR, MultiplicativeLR, ConstantLR, PolynomialLR, CyclicLR, CosineAnnealingWarmRestarts
and ChainedScheduler reproduce torch's learning-rate (and momentum) sequences over 30 steps;
their state dicts (functions left out, as in torch) resume exactly."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scheduler_pairs import optimizer_pair, scheduled_values, zero_grad_step

from deltaflow.optim import lr_scheduler as S

torch = pytest.importorskip("torch")
TS = torch.optim.lr_scheduler
STEPS = 30


class Halving:
    """A callable object: its __dict__ goes into the state dict (a lambda's does not)."""

    def __init__(self):
        self.factor = 0.5

    def __call__(self, epoch):
        return self.factor ** (epoch // 4)


SCHEDULERS = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + e), Halving()]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9 if e % 3 else 1.1),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=7),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2],
                                                   step_size_up=4, step_size_down=6),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.3,
                                                    step_size_up=3, mode="triangular2",
                                                    base_momentum=0.7, max_momentum=0.95),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5,
                                                  mode="exp_range", gamma=0.9),
    "CyclicLR-scale_fn": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                 scale_fn=lambda x: 1 / (1 + x),
                                                 scale_mode="iterations"),
    "CyclicLR-no-momentum": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1,
                                                    step_size_up=3, cycle_momentum=False),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5),
    "CosineAnnealingWarmRestarts-T_mult": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.005),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9),
         m.CosineAnnealingWarmRestarts(o, T_0=6)]),
    "SequentialLR-new-parts": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.1, total_iters=3), m.PolynomialLR(o, total_iters=10)],
        milestones=[5]),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_schedule_matches_torch(name, opt_name):
    opt, topt = optimizer_pair(torch, opt_name)
    sched, tsched = SCHEDULERS[name](S, opt), SCHEDULERS[name](TS, topt)
    np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt), rtol=1e-12)
    for k in range(STEPS):
        zero_grad_step(torch, opt)
        zero_grad_step(torch, topt)
        sched.step()
        tsched.step()
        np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt),
                                   rtol=1e-12, err_msg=f"step {k}")
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_fractional_epochs_match_torch(T_mult):
    opt, topt = optimizer_pair(torch)
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=T_mult, eta_min=0.01)
    tsched = TS.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=T_mult, eta_min=0.01)
    iters = 4
    epochs = [e + i / iters for e in range(12) for i in range(iters)] + [3.5, 0.25, 17.0]
    for epoch in epochs:                             # the last three jump back and forth
        zero_grad_step(torch, opt)
        zero_grad_step(torch, topt)
        sched.step(epoch)
        tsched.step(epoch)
        np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt),
                                   rtol=1e-12, err_msg=str(epoch))
        assert sched.last_epoch == tsched.last_epoch and sched.T_i == tsched.T_i


@pytest.mark.parametrize("name", ["ConstantLR", "PolynomialLR"])
def test_step_with_epoch_uses_the_closed_form_as_torch(name):
    opt, topt = optimizer_pair(torch)
    sched, tsched = SCHEDULERS[name](S, opt), SCHEDULERS[name](TS, topt)
    for epoch in (3, 9, 4, 25):
        zero_grad_step(torch, opt)
        zero_grad_step(torch, topt)
        with pytest.warns(UserWarning, match="epoch parameter"):
            sched.step(epoch)
        with pytest.warns(UserWarning):
            tsched.step(epoch)
        np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt),
                                   rtol=1e-12, err_msg=str(epoch))


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_state_dict_json_roundtrip_resumes(name):
    def build():
        opt, _ = optimizer_pair(torch)
        return opt, SCHEDULERS[name](S, opt)

    opt, sched = build()
    for _ in range(STEPS):
        zero_grad_step(torch, opt)
        sched.step()
    expected = scheduled_values(opt)

    opt1, sched1 = build()
    for _ in range(11):
        zero_grad_step(torch, opt1)
        sched1.step()
    if name == "LambdaLR-per-group":
        sched1.lr_lambdas[1].factor = 0.25            # saved: the object's __dict__
    saved = json.loads(json.dumps({"opt": opt1.state_dict()["param_groups"],
                                   "sched": sched1.state_dict()}))
    opt2, sched2 = build()
    opt2.load_state_dict({"state": {}, "param_groups": saved["opt"]})
    sched2.load_state_dict(saved["sched"])
    if name == "LambdaLR-per-group":
        assert saved["sched"]["lr_lambdas"] == [None, {"factor": 0.25}]
        assert sched2.lr_lambdas[1].factor == 0.25
        return
    for _ in range(11, STEPS):
        zero_grad_step(torch, opt2)
        sched2.step()
    np.testing.assert_allclose(scheduled_values(opt2), expected, rtol=1e-12)


def test_state_dict_leaves_functions_out_as_torch():
    opt, topt = optimizer_pair(torch)
    ours = S.CyclicLR(opt, 0.01, 0.1, scale_fn=Halving()).state_dict()
    theirs = TS.CyclicLR(topt, 0.01, 0.1, scale_fn=Halving()).state_dict()
    assert ours["_scale_fn_custom"] == theirs["_scale_fn_custom"] == {"factor": 0.5}
    assert S.LambdaLR(opt, lambda e: 1.0).state_dict()["lr_lambdas"] == [None, None]


@pytest.mark.filterwarnings("ignore::deltaflow.warnings.SchedulerOrderWarning")  # steps alone
def test_scheduler_errors():
    opt, _ = optimizer_pair(torch)
    with pytest.raises(ValueError, match="one value per parameter group"):
        S.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(TypeError, match="lr_lambda should be a function"):
        S.MultiplicativeLR(opt, 0.5)
    with pytest.raises(ValueError, match="ConstantLR: factor"):
        S.ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="CyclicLR: mode"):
        S.CyclicLR(opt, 0.01, 0.1, mode="square")
    with pytest.raises(ValueError, match="cycle_momentum"):
        S.CyclicLR(optimizer_pair(torch, "Adagrad")[0], 0.01, 0.1)
    with pytest.raises(ValueError, match="positive integer T_0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="non-negative epoch"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(ValueError, match="at least one scheduler"):
        S.ChainedScheduler([])
    other, _ = optimizer_pair(torch)
    with pytest.raises(ValueError, match="different optimizer"):
        S.ChainedScheduler([S.StepLR(opt, 2), S.StepLR(other, 2)])
    with pytest.raises(TypeError, match="not an Optimizer"):
        S.LambdaLR(object(), lambda e: 1.0)
