"""docs/autodiff.md: its code runs and prints what the page shows, and the hand-computed
table of the worked example follows from the formula."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np

from deltaflow.diagnostics.explain import TEXTBOOK_X, TEXTBOOK_Y, textbook_model

DOC = Path(__file__).resolve().parents[1] / "docs" / "autodiff.md"


def _blocks():
    """``[(language, text)]`` of the page's fenced blocks, in order."""
    return [(m.group(1), m.group(2))
            for m in re.finditer(r"^```(\w*)\n(.*?)^```$", DOC.read_text(), re.S | re.M)]


def _run(code) -> tuple[str, dict]:
    out, scope = io.StringIO(), {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), scope)
    return out.getvalue(), scope


def test_worked_example_prints_the_lines_shown():
    blocks = _blocks()
    k = next(i for i, (lang, text) in enumerate(blocks)
             if lang == "python" and "textbook_model()" in text)
    printed, _ = _run(blocks[k][1])
    shown = blocks[k + 1][1]
    assert printed.splitlines() == shown.splitlines()
    values = [float(line.split()[-1]) for line in printed.splitlines()]
    assert abs(values[1] - values[3]) < 1e-9 and abs(values[1] - values[2]) < 1e-7


def test_api_example_does_what_its_comments_say():
    code = next(text for lang, text in _blocks()
                if lang == "python" and "inputs=[x]" in text)
    _, scope = _run(code)
    np.testing.assert_allclose(scope["h"].numpy(), [6.0, 12.0])
    np.testing.assert_allclose(scope["x"].grad.numpy(), [9.0, 24.0])


def test_hand_table_follows_from_the_formula():
    """hₙ, zₙ, aₙ, σ′, σ″ and the terms hₙ²[σ′² + (aₙ − yₙ)σ″] as the page prints them."""
    model = textbook_model()
    w1, w2 = model[0].weight.numpy(), model[2].weight.numpy()
    sigmoid = lambda z: 1 / (1 + np.exp(-z))   # noqa: E731
    hidden = sigmoid(TEXTBOOK_X @ w1.T)
    z = hidden @ w2.T
    h, z, a, y = hidden[:, 0], z[:, 0], sigmoid(z[:, 0]), TEXTBOOK_Y[:, 0]
    s1 = a * (1 - a)
    s2 = s1 * (1 - 2 * a)
    text = DOC.read_text()
    terms = h ** 2 * (s1 ** 2 + (a - y) * s2)
    for n in range(2):
        row = (f"| {n + 1} | {h[n]:.6f} | {z[n]:+.6f} | {a[n]:.6f} | {y[n]:g} | {s1[n]:.6f} | "
               f"{s2[n]:.6f} | {h[n] ** 2 * s1[n] ** 2:+.6f} | "
               f"{h[n] ** 2 * (a[n] - y[n]) * s2[n]:+.6f} | {terms[n]:+.6f} |")
        assert row in text, row
    assert f"**{terms.sum():.6f}**".replace("-", "−") in text   # the page writes −
