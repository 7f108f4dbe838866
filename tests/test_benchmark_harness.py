"""The benchmark harness's summary: ratio of medians, target, and the paired ratio (median
of per-round ratios), computed from the workers' raw timings."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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
