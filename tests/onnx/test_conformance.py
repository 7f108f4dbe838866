"""The ``onnx`` package's operator conformance suite, run by ``tools/onnx_conformance.py``:
every case whose operators deltaflow claims (an importer at the case's opset) passes, or is
refused by ``dl.onnx.Unsupported`` naming what is not implemented. A wrong value, dtype,
shape or any other exception fails here, listing the cases."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnx.backend.test.case.node")

TOOL = Path(__file__).resolve().parents[2] / "tools" / "onnx_conformance.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("onnx_conformance", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_claimed_case_passes_or_is_refused(tool):
    results = tool.run_all()
    failed = {name: detail for name, (status, detail, _) in results.items()
              if status == "failed"}
    assert not failed, "\n".join(f"{n}: {d}" for n, d in sorted(failed.items()))
    counts = tool.counts(results)
    assert counts["passed"] > 1000, counts           # the suite really ran
    for name, (status, detail, _) in results.items():
        if status == "unsupported":                  # a refusal says what it refuses
            assert "node" in detail or "input" in detail or "initializer" in detail, name


def test_the_harness_fails_a_wrong_importer(tool, monkeypatch):
    """A case whose importer computes the wrong thing counts as failed (Relu → identity)."""
    from deltaflow.onnx.importers import IMPORTERS
    (case,) = [c for c in tool.collect("test_relu") if c.name == "test_relu"]
    assert tool.run_case(case) == ("passed", "")
    monkeypatch.setitem(IMPORTERS, "Relu", [(1, lambda x: x)])
    status, detail = tool.run_case(case)
    assert status == "failed" and "values differ" in detail
