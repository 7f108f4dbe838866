"""The README's Python example runs and learns (its claims are backed by tests)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_the_two_setup_commands_first():
    text = README.read_text(encoding="utf-8")
    bash = re.findall(r"```bash\n(.*?)```", text, re.S)
    train_lines = [l for b in bash for l in b.splitlines() if "deltaflow train" in l]
    test_lines = [l for b in bash for l in b.splitlines() if "pytest" in l]
    assert train_lines[0].strip() == 'pip install -e ".[all]" && deltaflow train'
    assert test_lines[0].strip() == 'pip install -e ".[test]" && pytest'
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert test_lines[0].strip() in ci


def test_readme_python_example_trains_on_digits(capsys):
    pytest.importorskip("sklearn")
    blocks = _python_blocks()
    assert blocks, "README has no Python example"
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.9
