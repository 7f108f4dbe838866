"""Every scheduler reproduces PyTorch's learning-rate (and momentum) sequence."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scheduler_pairs import optimizer_pair, scheduled_values, zero_grad_step

from deltaflow.optim import lr_scheduler as S

torch = pytest.importorskip("torch")
TS = torch.optim.lr_scheduler
STEPS = 20


SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=STEPS),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.8, epochs=4, steps_per_epoch=5, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=STEPS,
                                                        cycle_momentum=False),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4),
            m.CosineAnnealingLR(o, T_max=8), m.ExponentialLR(o, gamma=0.8)],
        milestones=[4, 12]),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_schedule_matches_torch(name, opt_name):
    opt, topt = optimizer_pair(torch, opt_name)
    sched, tsched = SCHEDULERS[name](S, opt), SCHEDULERS[name](TS, topt)
    np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt), rtol=1e-12)
    for k in range(STEPS - 1 if "OneCycle" in name else STEPS):
        zero_grad_step(torch, opt)
        zero_grad_step(torch, topt)
        sched.step()
        tsched.step()
        np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt),
                                   rtol=1e-5, err_msg=f"step {k}")
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-5)


def test_chained_schedulers_match_torch():
    opt, topt = optimizer_pair(torch)
    ours = [S.ExponentialLR(opt, gamma=0.9), S.StepLR(opt, step_size=4, gamma=0.5)]
    theirs = [TS.ExponentialLR(topt, gamma=0.9), TS.StepLR(topt, step_size=4, gamma=0.5)]
    for _ in range(STEPS):
        zero_grad_step(torch, opt)
        zero_grad_step(torch, topt)
        for s in ours + theirs:
            s.step()
        np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt), rtol=1e-5)


@pytest.mark.parametrize("kw", [
    dict(),
    dict(mode="max", factor=0.5, patience=1, threshold=0.1, cooldown=2),
    dict(threshold_mode="abs", threshold=0.05, patience=2, min_lr=[0.02, 0.05]),
    dict(mode="max", threshold_mode="abs", patience=0, factor=0.3, min_lr=0.01),
])
def test_reduce_on_plateau_matches_torch(kw):
    opt, topt = optimizer_pair(torch)
    sched, tsched = S.ReduceLROnPlateau(opt, **kw), TS.ReduceLROnPlateau(topt, **kw)
    rng = np.random.default_rng(3)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 5), 0.5 + 0.02 * rng.standard_normal(40)])
    for k, m in enumerate(metrics):
        sched.step(m)
        tsched.step(m)
        np.testing.assert_allclose(scheduled_values(opt), scheduled_values(topt),
                                   rtol=1e-12, err_msg=f"epoch {k}")
        assert sched.num_bad_epochs == tsched.num_bad_epochs
    assert opt.param_groups[0]["lr"] < 0.1


@pytest.mark.parametrize("name", list(SCHEDULERS) + ["ReduceLROnPlateau"])
def test_state_dict_json_roundtrip_resumes(name):
    def build():
        opt, _ = optimizer_pair(torch)
        if name == "ReduceLROnPlateau":
            return opt, S.ReduceLROnPlateau(opt, patience=1, cooldown=1)
        return opt, SCHEDULERS[name](S, opt)

    def advance(opt, sched, k):
        if name == "ReduceLROnPlateau":
            sched.step(1.0 / (1 + k % 3))
        else:
            zero_grad_step(torch, opt)
            sched.step()

    opt, sched = build()
    for k in range(STEPS - 1):
        advance(opt, sched, k)
    expected = scheduled_values(opt)

    opt1, sched1 = build()
    for k in range(8):
        advance(opt1, sched1, k)
    saved = json.loads(json.dumps({"opt": opt1.state_dict()["param_groups"],
                                   "sched": sched1.state_dict()}))
    opt2, sched2 = build()
    opt2.load_state_dict({"state": {}, "param_groups": saved["opt"]})
    sched2.load_state_dict(saved["sched"])
    for k in range(8, STEPS - 1):
        advance(opt2, sched2, k)
    np.testing.assert_allclose(scheduled_values(opt2), expected, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::deltaflow.warnings.SchedulerOrderWarning")  # steps alone
def test_scheduler_errors():
    opt, _ = optimizer_pair(torch)
    with pytest.raises(TypeError, match="not an Optimizer"):
        S.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="one value per parameter group"):
        S.OneCycleLR(opt, max_lr=[0.1], total_steps=5)
    sched = S.OneCycleLR(opt, max_lr=0.1, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="total_steps is 2"):
        sched.step()
    with pytest.raises(ValueError, match="one milestone fewer"):
        S.SequentialLR(opt, [S.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(optimizer_pair(torch)[0], step_size=2, last_epoch=3)
    with pytest.raises(ValueError, match="cycle_momentum"):
        S.OneCycleLR(optimizer_pair(torch, "Adagrad")[0], max_lr=0.1, total_steps=3)
