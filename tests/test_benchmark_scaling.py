"""benchmarks/scaling.py at a tiny size: every point gives one row per library with the
per-sample time, the GEMM floor of that step and the share (arithmetic only, never a
timing), the CSV round-trips, and the plot is written."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
scaling = importlib.import_module("benchmarks.scaling")
gemm_floor = importlib.import_module("benchmarks.gemm_floor")


def test_points_cover_batches_and_the_mlp_width():
    pts = scaling.points(("mlp", "cnn"), ("train",), (1, 4), (32, 64))
    assert ("cnn", "batch", "train", 4, 512) in pts
    assert ("mlp", "width", "train", scaling.WIDTH_BATCH, 64) in pts
    assert len(pts) == 2 * 2 + 2


def test_sweep_rows_csv_and_plot(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    pytest.importorskip("threadpoolctl")
    rows = scaling.sweep(("deltaflow", "torch"), ("mlp", "cnn"), ("train", "infer"),
                         batches=(2,), widths=(16,), budget=0.003, floor_repeats=1)
    assert len(rows) == (2 * 2 + 2) * 2
    for r in rows:
        assert set(r) == set(scaling.FIELDS)
        assert r["per_sample_s"] == pytest.approx(r["step_s"] / r["batch"])
        assert r["floor_share"] == pytest.approx(r["floor_s"] / r["step_s"])
        gemms = scaling.step_gemms(r["model"], r["mode"], r["batch"], r["width"])
        assert r["gemm_flop"] == gemm_floor.flops(gemms)
    train = next(r for r in rows if (r["model"], r["mode"]) == ("mlp", "train"))
    infer = next(r for r in rows if (r["model"], r["mode"]) == ("mlp", "infer"))
    assert infer["gemm_flop"] * 2 < train["gemm_flop"]          # forward products only
    path = tmp_path / "scaling.csv"
    scaling.write_csv(rows, path)
    back = scaling.read_csv(path)
    assert [(r["model"], r["impl"], r["batch"]) for r in back] == [
        (r["model"], r["impl"], r["batch"]) for r in rows]
    assert back[0]["step_s"] == pytest.approx(rows[0]["step_s"], rel=1e-5)
    scaling.plot(back, tmp_path / "scaling.png", "test")
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"
