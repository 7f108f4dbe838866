"""benchmarks/hvp.py: a quick run measures forward, gradient and H v; its H v is PyTorch's."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repository root

from benchmarks import hvp  # noqa: E402


def test_quick_run_prints_one_row_per_library(capsys):
    assert hvp.main(["--quick", "--no-record", "--impls", "deltaflow"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| deltaflow |"))
    ratio = float(row.split("|")[5].strip().strip("*×"))
    assert ratio > 1                        # an H v costs more than the gradient it contains


def test_timed_hvp_equals_torch():
    """The same callables on a small float64 ReLU MLP with shared weights: H v as torch's."""
    torch = pytest.importorskip("torch")
    import deltaflow as dl
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)), np.arange(6) % 3
    w1, b1, w2, b2 = (rng.standard_normal(s) for s in ((4, 5), (4,), (3, 4), (3,)))
    v = [rng.standard_normal(a.shape) for a in (w1, b1, w2, b2)]
    results = []
    for lib in (dl, torch):
        params = [lib.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
        X, Y = lib.tensor(x), lib.tensor(y)

        def loss(lib=lib, params=params, X=X, Y=Y):
            h = lib.nn.functional.relu(X @ params[0].T + params[1])
            return lib.nn.functional.cross_entropy(h @ params[2].T + params[3], Y)

        hv = hvp.products(lib, loss, params, [lib.tensor(a) for a in v])["hvp"]()
        results.append([t.detach().numpy() for t in hv])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert max(np.abs(t).max() for t in results[1]) > 1e-3
