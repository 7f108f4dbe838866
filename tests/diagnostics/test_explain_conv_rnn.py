"""explain of a CNN, an RNN and an LSTM: every printed equation, recomputed here from the
printed tensors with loops written independently of explain's NumPy, equals autograd to
1e-10 (float64); the gradients also equal PyTorch's for the same weights."""
import json

import numpy as np
import pytest

from deltaflow.cli import main
from deltaflow.diagnostics.demos import explain_demo, synthetic_digit
from deltaflow.diagnostics.explain import explain

TOL = 1e-10


def _run(kind, **kw):
    d = explain_demo(kind, **kw)
    return explain(d.model, d.x, d.y, d.loss_fn, max_values=24), d


def _q(e, layer, symbol):
    return next(q for q in e.layers[layer - 1].forward + e.layers[layer - 1].backward
                if q.symbol == symbol)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=TOL, rtol=0)


# ------------------------------------------------------------------ naive textbook loops
def conv_loops(a, w, b, pad):
    a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, C, H, W = a.shape
    O, _, k, _ = w.shape
    z = np.zeros((N, O, H - k + 1, W - k + 1))
    for n in range(N):
        for o in range(O):
            for i in range(z.shape[2]):
                for j in range(z.shape[3]):
                    z[n, o, i, j] = b[o] + np.sum(w[o] * a[n, :, i:i + k, j:j + k])
    return z


def full_conv_rot180_loops(delta, w, pad):
    """Σ_o δ[o] full-convolved with rot180(W[o, c]), then the padding cut away."""
    N, O, Ho, Wo = delta.shape
    _, C, k, _ = w.shape
    out = np.zeros((N, C, Ho + k - 1, Wo + k - 1))
    dp = np.pad(delta, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
    rot = w[:, :, ::-1, ::-1]
    for n in range(N):
        for c in range(C):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    out[n, c, i, j] = np.sum(dp[n, :, i:i + k, j:j + k] * rot[:, c])
    return out[:, :, pad:out.shape[2] - pad, pad:out.shape[3] - pad]


def weight_grad_loops(a, delta, k, pad):
    a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    O, C = delta.shape[1], a.shape[1]
    gw = np.zeros((O, C, k, k))
    for o in range(O):
        for c in range(C):
            for p in range(k):
                for q in range(k):
                    gw[o, c, p, q] = np.sum(a[:, c, p:p + delta.shape[2], q:q + delta.shape[3]]
                                            * delta[:, o])
    return gw


def maxpool_route_loops(h, g, k=2):
    out = np.zeros_like(h)
    N, C, Ho, Wo = g.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = h[n, c, i * k:i * k + k, j * k:j * k + k]
                    p, q = np.unravel_index(np.argmax(win), win.shape)   # first maximum
                    out[n, c, i * k + p, j * k + q] += g[n, c, i, j]
    return out


def avgpool_spread_loops(shape, g, k=2):
    out = np.zeros(shape)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            out[:, :, i * k:i * k + k, j * k:j * k + k] += g[:, :, i:i + 1, j:j + 1] / (k * k)
    return out


# ---------------------------------------------------------------------------- the CNN
@pytest.fixture(scope="module")
def cnn():
    return _run("cnn", data_dir="/nonexistent-so-the-synthetic-digit")


def test_cnn_forward_and_backward_equal_textbook_loops(cnn):
    e, _ = cnn
    a0 = e.inputs.value
    np.testing.assert_array_equal(a0, synthetic_digit()[0])
    W1, b1 = _q(e, 1, "W⁽¹⁾").value, _q(e, 1, "b⁽¹⁾").value
    z1 = _q(e, 1, "z⁽¹⁾").value
    _close(conv_loops(a0, W1, b1, 1), z1)                                   # z = W ⋆ a + b
    h1 = _q(e, 1, "h⁽¹⁾").value
    _close(np.maximum(z1, 0), h1)
    a1 = _q(e, 1, "a⁽¹⁾").value
    _close(h1.reshape(1, 2, 14, 2, 14, 2).max(axis=(3, 5)), a1)            # max pooling
    mask = _q(e, 1, "m⁽¹⁾").value                                          # selected positions
    _close(maxpool_route_loops(h1, np.ones_like(a1)), mask)
    W2, b2 = _q(e, 2, "W⁽²⁾").value, _q(e, 2, "b⁽²⁾").value
    z2 = _q(e, 2, "z⁽²⁾").value
    _close(conv_loops(a1, W2, b2, 0), z2)
    h2 = _q(e, 2, "h⁽²⁾₁").value
    a2pool = _q(e, 2, "h⁽²⁾₂").value
    _close(h2.reshape(1, 3, 6, 2, 6, 2).mean(axis=(3, 5)), a2pool)         # average pooling

    d3 = _q(e, 3, "δ⁽³⁾").value
    W3 = _q(e, 3, "W⁽³⁾").value
    g_flat = _q(e, 2, "∂L/∂a⁽²⁾").value
    _close(d3 @ W3, g_flat)
    g_pool = _q(e, 2, "∂L/∂h⁽²⁾₂").value
    _close(g_flat.reshape(a2pool.shape), g_pool)
    g_h2 = _q(e, 2, "∂L/∂h⁽²⁾₁").value
    _close(avgpool_spread_loops(h2.shape, g_pool), g_h2)                   # spread δ/4
    d2 = _q(e, 2, "δ⁽²⁾").value
    _close(g_h2 * (z2 > 0), d2)
    _close(weight_grad_loops(a1, d2, 3, 0), _q(e, 2, "∇W⁽²⁾").value)       # ∇W = a ⋆ δ
    _close(d2.sum(axis=(0, 2, 3)), _q(e, 2, "∇b⁽²⁾").value)
    g_a1 = _q(e, 1, "∂L/∂a⁽¹⁾").value
    _close(full_conv_rot180_loops(d2, W2, 0), g_a1)                        # δ ∗ rot180(W)
    g_h1 = _q(e, 1, "∂L/∂h⁽¹⁾").value
    _close(maxpool_route_loops(h1, g_a1), g_h1)                            # to the arg-max
    d1 = _q(e, 1, "δ⁽¹⁾").value
    _close(g_h1 * (z1 > 0), d1)
    _close(weight_grad_loops(a0, d1, 3, 1), _q(e, 1, "∇W⁽¹⁾").value)
    assert not e.failed() and len(e.checks()) >= 20


def test_cnn_gradients_equal_torch(cnn):
    torch = pytest.importorskip("torch")
    e, d = cnn
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(),
                             torch.nn.MaxPool2d(2), torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(),
                             torch.nn.AvgPool2d(2), torch.nn.Flatten(),
                             torch.nn.Linear(108, 10)).double()
    tm.load_state_dict({k: torch.tensor(v.numpy().astype(np.float64))
                        for k, v in d.model.state_dict().items()})
    loss = torch.nn.functional.cross_entropy(tm(torch.tensor(d.x)), torch.tensor(d.y))
    loss.backward()
    assert e.loss == pytest.approx(loss.item(), abs=1e-12)
    for layer, name in ((1, "0"), (2, "3"), (3, "7")):
        _close(_q(e, layer, f"∇W⁽{'¹²³'[layer - 1]}⁾").value,
               getattr(tm, name).weight.grad.numpy())


def test_cnn_on_a_real_mnist_digit_when_present():
    from deltaflow.diagnostics.demos import mnist_digit
    found = mnist_digit()
    if found is None:
        pytest.skip("no MNIST in $DELTAFLOW_DATA, ../shared/data or ~/.cache/deltaflow")
    e, d = _run("cnn")
    assert "MNIST" in e.title or "MNIST" in d.description
    assert not e.failed()


# ------------------------------------------------------------------------ RNN and LSTM
def _steps(e, prefix, T):
    """The printed per-step values h₁ … h_T (index 1 … T)."""
    subs = "₀₁₂₃₄₅₆₇₈₉"
    return {t: _q(e, 1, f"{prefix}{''.join(subs[int(c)] for c in str(t))}⁽¹⁾").value
            for t in range(1, T + 1)}


def _torch_rnn_grads(d, kind):
    torch = pytest.importorskip("torch")
    rnn = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(2, 4).double()
    head = torch.nn.Linear(4, 1).double()
    state = {k: torch.tensor(v.numpy().astype(np.float64))
             for k, v in d.model.state_dict().items()}
    rnn.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("rnn.")})
    head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
    out = head(rnn(torch.tensor(d.x))[0])
    loss = 0.5 * ((out[-1] - torch.tensor(d.y)) ** 2).sum()
    loss.backward()
    return loss.item(), rnn


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_bptt_equations_equal_autograd_and_torch(kind):
    e, d = _run(kind, seq_len=8)
    T = 8
    U, W = _q(e, 1, "U⁽¹⁾").value, _q(e, 1, "W⁽¹⁾").value
    b = _q(e, 1, "b_ih⁽¹⁾").value + _q(e, 1, "b_hh⁽¹⁾").value
    x = e.inputs.value
    h = _steps(e, "h", T)
    h[0] = _q(e, 1, "h₀⁽¹⁾").value
    direct = _q(e, 1, "∂L/∂h⁽¹⁾").value                                   # (T, 1, 4)
    if kind == "rnn":
        for t in range(1, T + 1):                          # hₜ = tanh(W hₜ₋₁ + U xₜ + b)
            _close(np.tanh(h[t - 1] @ W.T + x[t - 1] @ U.T + b), h[t])
        delta = _steps(e, "δ", T)
        _close(direct[T - 1], delta[T])
        for t in range(T - 1, 0, -1):                      # δₜ = Wᵀ(δₜ₊₁ ⊙ f′(zₜ₊₁)) + ∂L/∂hₜ
            _close((delta[t + 1] * (1 - h[t + 1] ** 2)) @ W + direct[t - 1], delta[t])
        dz = {t: delta[t] * (1 - h[t] ** 2) for t in delta}
        norms = _q(e, 1, "‖δₜ‖⁽¹⁾").value
        _close([np.linalg.norm(delta[t]) for t in range(1, T + 1)], norms)
        assert norms[0] < norms[-1] / 10                   # vanishing over 8 steps
        assert "vanishing" in _q(e, 1, "‖δₜ‖⁽¹⁾").note
    else:
        c = _steps(e, "c", T)
        c[0] = _q(e, 1, "c₀⁽¹⁾").value
        gates = {t: np.split(v, 4, axis=-1) for t, v in _steps(e, "[i f g o]", T).items()}
        sig = lambda v: 1 / (1 + np.exp(-v))                # noqa: E731
        for t in range(1, T + 1):
            z = h[t - 1] @ W.T + x[t - 1] @ U.T + b
            i, f, g, o = gates[t]
            _close(np.concatenate([sig(z[:, :8]), np.tanh(z[:, 8:12]), sig(z[:, 12:])], -1),
                   np.concatenate([i, f, g, o], -1))
            _close(f * c[t - 1] + i * g, c[t])
            _close(o * np.tanh(c[t]), h[t])
        dh, dc, dz = _steps(e, "δʰ", T), _steps(e, "δᶜ", T), _steps(e, "δz", T)
        for t in range(T, 0, -1):
            i, f, g, o = gates[t]
            tc = np.tanh(c[t])
            _close(direct[t - 1] + (dz[t + 1] @ W if t < T else 0), dh[t])
            cell = dc[t + 1] * gates[t + 1][1] if t < T else 0      # the cell path
            _close(dh[t] * o * (1 - tc ** 2) + cell, dc[t])
            _close(np.concatenate([dc[t] * g * i * (1 - i), dc[t] * c[t - 1] * f * (1 - f),
                                   dc[t] * i * (1 - g * g), dh[t] * tc * o * (1 - o)], -1),
                   dz[t])
        nc, nh = _q(e, 1, "‖δᶜₜ‖⁽¹⁾").value, _q(e, 1, "‖δʰₜ‖⁽¹⁾").value
        assert nc[0] / nc[-1] > 10 * nh[0] / nh[-1]        # the cell path keeps δ alive
    gW = sum(dz[t].T @ h[t - 1] for t in range(1, T + 1))
    gU = sum(dz[t].T @ x[t - 1] for t in range(1, T + 1))
    _close(gW, _q(e, 1, "∇W⁽¹⁾").value)
    _close(gU, _q(e, 1, "∇U⁽¹⁾").value)
    _close(sum(dz[t].sum(axis=0) for t in dz), _q(e, 1, "∇b_ih⁽¹⁾").value)
    loss, rnn = _torch_rnn_grads(d, kind)
    assert e.loss == pytest.approx(loss, abs=1e-12)
    _close(rnn.weight_hh_l0.grad.numpy(), _q(e, 1, "∇W⁽¹⁾").value)
    _close(rnn.weight_ih_l0.grad.numpy(), _q(e, 1, "∇U⁽¹⁾").value)
    assert not e.failed() and len(e.checks()) > 30


def test_cli_models_json(capsys):
    assert main(["explain", "--model", "lstm", "--seq-len", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    phases = [s["phase"] for s in data["steps"]]
    assert phases[0] == "forward" and "loss" in phases and phases[-1] == "update"
    assert phases.index("backward") < phases.index("update")
    assert data["checks"]["failed"] == 0 and data["checks"]["count"] > 20
    q = next(q for s in data["steps"] for q in s["quantities"] if q["symbol"] == "δᶜ₂⁽¹⁾")
    assert q["check"]["mark"] == "✓" and "cell path" in q["equation"]
    assert main(["explain", "--model", "cnn", "--spec", "4,3"]) != 0
    assert "one of" in capsys.readouterr().err


def test_cnn_text_shows_the_textbook_forms(capsys):
    assert main(["explain", "--model", "cnn", "--data-dir", "/nonexistent"]) == 0
    text = capsys.readouterr().out
    assert "synthetic digit" in text
    for piece in ("z⁽¹⁾ = W⁽¹⁾ ⋆ a⁽⁰⁾ + b⁽¹⁾", "∂L/∂a⁽¹⁾ = δ⁽²⁾ ∗ rot180(W⁽²⁾)",
                  "routed to the arg-max positions m⁽¹⁾", "spread over every position",
                  "∇W⁽¹⁾ = a⁽⁰⁾ ⋆ δ⁽¹⁾", "crop [0, 0,"):
        assert piece in text, piece
    assert "✗" not in text and "NOT SHOWN" not in text
