"""The textbook 3→4→2 example: the literal NumPy backprop equals deltaflow's autograd."""
import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_layer_network.py"


@pytest.fixture(scope="module")
def ex():
    spec = importlib.util.spec_from_file_location("two_layer_network", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sizes", [(3, 4, 2), (3, 5, 4, 2), (3, 2)])
def test_gradients_equal_autograd(ex, sizes):
    Ws, bs = ex.init_params(sizes, seed=1)
    assert ex.max_difference(Ws, bs) < 1e-12


def test_layer_by_layer_values_equal_autograd(ex):
    """δ⁽ˡ⁾ is ∂L/∂z⁽ˡ⁾: compare each cached z, a and δ with retained autograd gradients."""
    Ws, bs = ex.init_params()
    zs, acts = ex.forward(Ws, bs, ex.X)
    deltas, _, _ = ex.backward(Ws, zs, acts, ex.Y)
    a = dl.tensor(ex.X)
    z_t = []
    for W, b in zip(Ws, bs):
        z = a @ dl.tensor(W, requires_grad=True) + dl.tensor(b)
        z.retain_grad()
        z_t.append(z)
        a = dl.sigmoid(z)
    (0.5 * ((a - dl.tensor(ex.Y)) ** 2).sum()).backward()
    for l, z in enumerate(z_t):
        np.testing.assert_allclose(z.numpy(), zs[l], rtol=0, atol=1e-15)
        np.testing.assert_allclose(z.grad.numpy(), deltas[l], rtol=0, atol=1e-15)


def test_step0_numbers_match_tutorial(ex):
    """The numbers printed in docs/tutorial.md."""
    Ws, bs = ex.init_params()
    zs, acts = ex.forward(Ws, bs, ex.X)
    assert ex.loss(acts[-1], ex.Y) == pytest.approx(0.612126, abs=1e-6)
    _, gW, gb = ex.backward(Ws, zs, acts, ex.Y)
    assert gb[1][0, 0] == pytest.approx(-0.074348, abs=1e-6)


def test_training_converges_and_matches_autograd_training(ex):
    Ws, bs = ex.init_params()
    W_end, b_end, history = ex.train(Ws, bs, tol=1e-3)
    assert history[-1] < 1e-3 and len(history) < 20_000
    assert all(b <= a + 1e-15 for a, b in zip(history, history[1:]))  # monotone here
    _, acts = ex.forward(W_end, b_end, ex.X)
    assert np.array_equal(acts[-1].round(), ex.Y)
    assert ex.max_difference(W_end, b_end) < 1e-12

    # the same 200 steps with autograd gradients end at the same weights
    hand_W, hand_b, _ = ex.train(Ws, bs, tol=0, max_epochs=200)
    Wa, ba = Ws, bs
    for _ in range(200):
        _, gW, gb = ex.autograd_gradients(Wa, ba)
        Wa, ba = ex.update(Wa, ba, gW, gb)
    for h, a in zip(hand_W + hand_b, Wa + ba):
        np.testing.assert_allclose(h, a, rtol=0, atol=1e-12)


def test_script_runs(ex, capsys):
    assert ex.main(["--sizes", "3,4,2", "--tol", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "max |hand-written − autograd| at step 0" in out and "converged" in out


SYMBOLS = {"z⁽¹⁾": ("z", 0), "a⁽¹⁾": ("a", 1), "z⁽²⁾": ("z", 1), "a⁽²⁾": ("a", 2),
           "δ⁽²⁾": ("d", 1), "∇W⁽²⁾": ("gW", 1), "∇b⁽²⁾": ("gb", 1),
           "δ⁽¹⁾": ("d", 0), "∇W⁽¹⁾": ("gW", 0), "∇b⁽¹⁾": ("gb", 0)}


@pytest.mark.parametrize("doc", ["tutorial.md", "tutorial.zh.md"])
def test_tutorial_tables_show_the_real_numbers(ex, doc):
    """Every table row of the tutorial (English and Chinese) equals the example's value."""
    text = (EXAMPLE.parents[1] / "docs" / doc).read_text(encoding="utf-8")
    Ws, bs = ex.init_params()
    zs, acts = ex.forward(Ws, bs, ex.X)
    deltas, gW, gb = ex.backward(Ws, zs, acts, ex.Y)
    values = {"z": zs, "a": acts, "d": deltas, "gW": gW, "gb": gb}
    seen = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in SYMBOLS and cells[3].startswith("`"):
            kind, k = SYMBOLS[cells[0]]
            shown = np.array(ast.literal_eval(cells[3].strip("`")))
            np.testing.assert_allclose(shown, values[kind][k], atol=5e-7, rtol=0,
                                       err_msg=f"{doc}: {cells[0]}")
            seen.add(cells[0])
    assert seen == set(SYMBOLS)
    assert "0.612126" in text and "14823" in text
