"""The benchmark harness's summary: ratio of medians, target, the paired ratio (median of
per-round ratios), the peak RSS and its ratio, and the share of the GEMM floor, computed
from the workers' raw figures; and that every worker reports its own peak RSS."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
harness = importlib.import_module("benchmarks.harness")


def _worker(impl, times, units=1):
    return SimpleNamespace(impl=impl, times=list(times), cpu_times=list(times), units=units,
                           note=None, peak_rss_kib=1024, threads={}, error=None, why=None)


def test_summary_ratios_and_paired_ratio():
    module = SimpleNamespace(UNIT="step", REFERENCE="torch", TARGET=1.3)
    # rounds drift (slow phase in the middle); deltaflow is 1.2x torch in every round
    torch_t = [1.0, 1.0, 3.0, 3.0, 1.0]
    ours = [4 * 1.2 * t for t in torch_t]                 # 4 steps per call
    rows = harness.summarize({"name": "w", "module": module, "workers": [
        _worker("deltaflow", ours, units=4), _worker("torch", torch_t)]})
    df, ref = rows
    assert df["median"] == pytest.approx(1.2) and ref["median"] == pytest.approx(1.0)
    assert df["ratio"] == pytest.approx(1.2) and df["met"] is True
    assert df["paired_ratio"] == pytest.approx(1.2) and df["paired_iqr"] == pytest.approx(0)
    assert "paired_ratio" not in ref
    table = harness.markdown_table(rows, {"w": "torch"})
    assert "| 1.20× (0.00) |" in table and "torch (ref)" in table


def test_paired_ratio_is_left_out_when_rounds_do_not_match():
    module = SimpleNamespace(UNIT="step", REFERENCE="torch", TARGET=None)
    rows = harness.summarize({"name": "w", "module": module, "workers": [
        _worker("deltaflow", [1.0, 2.0]), _worker("torch", [1.0, 1.0, 1.0])]})
    assert "ratio" in rows[0] and "paired_ratio" not in rows[0]


def test_rss_ratio_and_share_of_the_gemm_floor():
    module = SimpleNamespace(UNIT="epoch", REFERENCE="torch", TARGET=1.0)
    ours, theirs = _worker("deltaflow", [2.0, 2.0]), _worker("torch", [4.0, 4.0])
    ours.peak_rss_kib, theirs.peak_rss_kib = 256 * 1024, 512 * 1024
    floor = {"floor_s": 1.0, "flops": 4e11, "rate": 4e11, "peak_rate": 5e11, "peak_n": 2048}
    rows = harness.summarize({"name": "w", "module": module, "workers": [ours, theirs],
                              "floor": floor})
    df, ref = rows
    assert df["rss_ratio"] == pytest.approx(0.5) and ref["rss_ratio"] == pytest.approx(1)
    assert df["floor_share"] == pytest.approx(0.5) and ref["floor_share"] == pytest.approx(0.25)
    assert "| 256 MiB (0.50×) |" in harness.markdown_table(rows, {"w": "torch"})
    table = harness.floor_table(rows, {"w": {**floor, "target": 0.6}})
    assert "deltaflow 50% · torch 25%" in table and "≥ 60%: **NO**" in table
    assert "400 GFLOP/epoch" in table and "1.000 s" in table and "not measured" in table
    assert df["beyond_floor_s"] == pytest.approx(1.0) and ref["beyond_floor_s"] == 3.0


def test_time_beyond_each_librarys_own_gemm_floor():
    """PyTorch's time beyond the floor of its own matmul, everyone else's beyond NumPy's."""
    module = SimpleNamespace(UNIT="step", REFERENCE="torch", TARGET=1.0)
    floor = {"floor_s": 1.0, "flops": 4e11, "rate": 4e11, "peak_rate": 5e11, "peak_n": 2048,
             "reference": {"library": "torch", "floor_s": 0.5, "rate": 8e11}}
    rows = harness.summarize({"name": "w", "module": module, "floor": floor, "workers": [
        _worker("deltaflow", [3.0, 3.0]), _worker("torch", [2.0, 2.0]),
        _worker("numpy", [2.5, 2.5])]})
    beyond = {r["impl"]: r["beyond_floor_s"] for r in rows}
    assert beyond == pytest.approx({"deltaflow": 2.0, "torch": 1.5, "numpy": 1.5})
    table = harness.floor_table(rows, {"w": floor})
    assert "| 800 GFLOP/s, 500.00 ms |" in table
    assert "| deltaflow 2.000 s · torch 1.500 s · numpy 1.500 s |" in table


def test_each_implementation_reports_its_own_peak_rss():
    """Real workers (one process each): the peak RSS comes back for both sides."""
    pytest.importorskip("torch")
    result = harness.time_workload("overhead", ["deltaflow", "torch"], repeats=1, warmup=0,
                                   quick=True, threads=1, limit_all=True, gemm_floor=False)
    rows = harness.summarize(result)
    assert [r["impl"] for r in rows] == ["deltaflow", "torch"]
    for r in rows:
        assert r["peak_rss_mib"] > 10 and "rss_ratio" in r and "median" in r
    assert result["floor"] is None


def test_deltaflow_workers_do_not_load_torch():
    """Workloads that start from torch's weights get them from a child process, so the
    deltaflow worker's peak RSS holds no torch libraries."""
    pytest.importorskip("torch")
    code = ("import sys; from benchmarks.workloads import load\n"
            "for name in ('cnn', 'cnn_infer', 'lstm', 'gru', 'transformer', "
            "'infer_latency:mlp', 'infer_latency:cnn'):\n"
            "    assert load(name).make('deltaflow', quick=True) is not None\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "False"
