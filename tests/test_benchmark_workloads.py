"""Every benchmark workload builds and runs one unit of work (quick size), and where two
implementations start from the same weights they compute the same thing; a module with
VARIANTS is one workload per variant."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
workloads = importlib.import_module("benchmarks.workloads")


@pytest.mark.parametrize("name", [n for n in workloads.expand(workloads.names())
                                  if n != "depth"])
def test_workload_runs_quick(name):
    module = workloads.load(name)
    assert module.TARGET is None or module.TARGET > 0
    for impl in ("deltaflow", "torch", "numpy"):
        if impl == "torch":
            pytest.importorskip("torch")
        run = module.make(impl, quick=True)
        if run is None:
            assert impl != "deltaflow", f"{name}: no deltaflow implementation"
            continue
        run()


@pytest.mark.parametrize("name", ["cnn_infer"])
def test_inference_workloads_agree_with_torch(name):
    """Same weights (torch's initialisation copied into deltaflow): the evaluation loops
    count the same correct predictions, up to a float32 tie or two."""
    pytest.importorskip("torch")
    module = workloads.load(name)
    ours, theirs = module.make("deltaflow", quick=True)(), module.make("torch", quick=True)()
    assert abs(ours - theirs) <= 2 and ours > 0


def test_gru_step_agrees_with_torch():
    """From torch's initial weights, on the same batch: the same loss and, for every
    parameter, the same gradient up to float32 rounding over 64 steps of BPTT."""
    pytest.importorskip("torch")
    import numpy as np
    gru = workloads.load("gru")
    batches, _ = importlib.import_module("benchmarks.workloads.lstm").char_batches(1)
    state = gru._initial_state()
    ours, theirs = gru._deltaflow(batches, state), gru._torch(batches, state)
    assert ours().item() == pytest.approx(theirs().item(), rel=1e-5)
    reference = dict(theirs.model.named_parameters())
    names = []
    for name, p in ours.model.named_parameters():
        g, h = p.grad.numpy(), reference[name].grad.numpy()
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-5 * np.abs(h).max(), err_msg=name)
        names.append(name)
    assert sorted(names) == sorted(reference)


@pytest.mark.parametrize("variant", ["mlp", "cnn"])
def test_infer_latency_agrees_with_torch(variant):
    """Same weights, same images one at a time: the same logits, and one unit per call."""
    torch = pytest.importorskip("torch")
    import numpy as np
    module = workloads.load(f"infer_latency:{variant}")
    ours, theirs = module.make("deltaflow", quick=True), module.make("torch", quick=True)
    np.testing.assert_allclose(ours().numpy(), theirs().numpy(), rtol=1e-5, atol=1e-6)
    assert ours.units == theirs.units == len(ours.inputs)
    assert tuple(ours.inputs[0].shape)[0] == 1
    with torch.no_grad():
        for x, y in zip(ours.inputs, theirs.inputs):
            np.testing.assert_allclose(ours.model(x).numpy(), theirs.model(y).numpy(),
                                       rtol=1e-5, atol=1e-6)


def test_variants_are_named_module_colon_variant():
    assert "infer_latency:mlp" in workloads.expand(["infer_latency"])
    assert workloads.expand(["mlp", "infer_latency:cnn"]) == ["mlp", "infer_latency:cnn"]
    assert "batch 1" in workloads.load("infer_latency:cnn").DESCRIPTION
    for bad in ("infer_latency", "infer_latency:gpu", "mlp:small"):
        with pytest.raises(SystemExit, match="variant"):
            workloads.load(bad)
