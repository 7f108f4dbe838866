"""GradientMonitor flags the vanishing and exploding demos, is silent on healthy MLPs."""
import math
import warnings

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.diagnostics import GradientFlowWarning, GradientMonitor
from deltaflow.diagnostics.demos import exploding_demo, healthy_demo, vanishing_demo


def _run(demo, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = demo(**kw)
    return run, [str(w.message) for w in caught if issubclass(w.category, GradientFlowWarning)]


def test_deep_sigmoid_mlp_warns_vanishing_once_with_evidence():
    run, msgs = _run(vanishing_demo)
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert "vanishing" in msg and "model.0 (Linear)" in msg and "model.20 (Linear)" in msg
    assert "ratio" in msg and "He" in msg and "BatchNorm" in msg
    norms = [l.history["grad_norm"][-1] for l in run.monitor.ordered_layers()]
    assert norms[0] / norms[-1] < 1e-4
    assert "vanishing" in run.monitor.report()


@pytest.mark.parametrize("fix", ["relu_he", "batchnorm"])
def test_vanishing_fixes_are_silent_and_learn_faster(fix):
    broken, _ = _run(vanishing_demo)
    run, msgs = _run(vanishing_demo, fix=fix)
    assert msgs == []
    norms = [l.history["grad_norm"][-1] for l in run.monitor.ordered_layers()]
    assert norms[0] / norms[-1] > 1e-2
    # learns faster: gets 0.2 below where the broken network stalls (the fixed runs' last
    # steps at lr 0.1 oscillate, by how much depends on the CPU's BLAS kernels)
    assert min(run.losses) < broken.losses[-1] - 0.2


def test_badly_scaled_network_warns_exploding_and_clipping_fixes_it():
    run, msgs = _run(exploding_demo)
    assert len(msgs) == 1, msgs
    assert "exploding" in msgs[0] and "clip_grad_norm_" in msgs[0] and "model." in msgs[0]
    assert not math.isfinite(run.losses[-1])
    clipped, msgs = _run(exploding_demo, clip=1.0)
    assert msgs == []
    assert clipped.losses[-1] < 0.1 * clipped.losses[0]


def test_healthy_mlp_is_silent():
    run, msgs = _run(healthy_demo)
    assert msgs == []
    assert "no vanishing or exploding gradients detected" in run.monitor.report()


def _norm(*arrays):
    return float(np.sqrt(sum((a.astype(np.float64) ** 2).sum() for a in arrays)))


def test_statistics_equal_direct_computation():
    dl.manual_seed(0)
    nn = dl.nn
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.Sigmoid())
    monitor = GradientMonitor(model)
    x = dl.randn(5, 4)
    lin = model[0]
    thetas, grads, outs = [], [], []
    for _ in range(2):
        thetas.append((lin.weight.data.copy(), lin.bias.data.copy()))
        hidden = dl.relu(x @ lin.weight.T + lin.bias).numpy()
        out = model(x)
        outs.append((hidden, out.numpy()))
        out.sum().backward()
        monitor.step()
        grads.append((lin.weight.grad.data.copy(), lin.bias.grad.data.copy()))
        for p in model.parameters():
            p.data = p.data - 0.1 * p.grad.data
            p.grad = None
    h = monitor.layers["model.0"].history
    for k in range(2):
        assert h["grad_norm"][k] == pytest.approx(_norm(*grads[k]), rel=1e-6)
        assert h["weight_norm"][k] == pytest.approx(_norm(*thetas[k]), rel=1e-6)
        assert h["grad_max_abs"][k] == pytest.approx(max(np.abs(g).max() for g in grads[k]))
    assert math.isnan(h["update_ratio"][0])
    step = [a - b for a, b in zip(thetas[1], thetas[0])]
    assert h["update_ratio"][1] == pytest.approx(_norm(*step) / _norm(*thetas[0]), rel=1e-6)
    relu = monitor.layers["model.1"].history
    for k in range(2):
        hidden, out = outs[k]
        assert relu["dead_fraction"][k] == pytest.approx((hidden <= 0).all(axis=0).mean())
        assert relu["act_mean"][k] == pytest.approx(hidden.mean(), rel=1e-6)
        sig = monitor.layers["model.3"].history
        assert sig["saturated_fraction"][k] == pytest.approx((np.abs(out - 0.5) > 0.49).mean())
        assert sig["act_std"][k] == pytest.approx(out.std(), rel=1e-5)
    monitor.remove()
    model(x)
    monitor.step()
    assert monitor.layers["model.1"].history["act_mean"][-1] == relu["act_mean"][1]


def test_plots_write_files(tmp_path):
    pytest.importorskip("matplotlib")
    run, _ = _run(vanishing_demo, steps=6)
    run.monitor.plot_grad_norms(tmp_path / "norms.png")
    run.monitor.plot_gradient_flow(tmp_path / "flow.png")
    assert (tmp_path / "norms.png").stat().st_size > 1000
    assert (tmp_path / "flow.png").stat().st_size > 1000


def test_dead_relus_warn_once_as_vanishing():
    dl.manual_seed(0)
    nn = dl.nn
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    model[0].bias.data[...] = -100.0                      # every unit dead
    monitor = GradientMonitor(model, patience=3)
    x, y = dl.randn(8, 4), dl.randn(8, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(6):
            model.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            monitor.step()
    msgs = [str(w.message) for w in caught if issubclass(w.category, GradientFlowWarning)]
    assert len(msgs) == 1
    assert "vanishing" in msgs[0] and "dead ReLU units: model.1 100%" in msgs[0]
    assert "negative bias" in msgs[0]
    assert monitor.last()["model.1"]["dead_fraction"] == 1.0


def test_mostly_dead_relu_layer_warns_even_when_gradients_still_flow():
    dl.manual_seed(0)
    nn = dl.nn
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    model[0].bias.data[1:] = -100.0                      # 15 of 16 units dead
    model[0].bias.data[0] = 100.0
    monitor = GradientMonitor(model, patience=3)
    x, y = dl.randn(8, 4), dl.randn(8, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            model.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            monitor.step()
    msgs = [str(w.message) for w in caught if issubclass(w.category, GradientFlowWarning)]
    assert len(msgs) == 1 and "94% of the units of 'model.1 (ReLU)'" in msgs[0], msgs
