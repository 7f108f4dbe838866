"""examples/gradient_flow.py runs and writes the three figures of docs/diagnostics.md."""
import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gradient_flow.py"


@pytest.mark.slow  # six short trainings and three figures: several seconds
def test_writes_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("gradient_flow", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    for name in ("vanishing_flow.png", "vanishing_grad_norms.png", "exploding.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    out = capsys.readouterr().out
    assert out.count("warning: vanishing") == 1 and out.count("warning: exploding") == 1
