"""Every benchmark workload builds and runs one unit of work (quick size), and where two
implementations start from the same weights they compute the same thing."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
workloads = importlib.import_module("benchmarks.workloads")


@pytest.mark.parametrize("name", [n for n in workloads.names() if n != "depth"])
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
