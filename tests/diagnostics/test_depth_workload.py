"""The depth workload (benchmarks/workloads/depth.py) runs and its sweep has the right shape."""
import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "workloads" / "depth.py"


@pytest.fixture(scope="module")
def depth():
    spec = importlib.util.spec_from_file_location("depth_workload", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_interface(depth):
    assert depth.DESCRIPTION and depth.REFERENCE == "torch" and depth.TARGET is None
    step = depth.make("deltaflow", quick=True)
    step()
    step()
    depth.make("numpy", quick=True)()
    assert depth.make("jax") is None


def test_sweep_rows(depth):
    pytest.importorskip("threadpoolctl")
    rows = depth.sweep("deltaflow", depths=(1, 2), widths=(16,), fixed_width=16,
                       fixed_depth=2, repeats=3)
    assert [(r["vary"], r["depth"], r["width"]) for r in rows] == [
        ("depth", 1, 16), ("depth", 2, 16), ("width", 2, 16)]
    for r in rows:
        assert r["forward_s"] > 0 and r["forward_backward_s"] > 0
        assert r["backward_s"] == pytest.approx(r["forward_backward_s"] - r["forward_s"])
