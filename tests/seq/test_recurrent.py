"""RNN/LSTM/GRU and their cells equal PyTorch's (float64) for the same weights: outputs,
final states, and the gradients of the input, the initial states and every parameter."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.nn.functional import gru_layer, lstm_layer, rnn_layer
from opcheck import assert_gradcheck, assert_gradgradcheck, assert_second_order_matches_torch

torch = pytest.importorskip("torch")

GRADCHECKED = ("RNNLayer", "LSTMLayer", "LSTMProjLayer", "GRULayer")
GRADGRADCHECKED = ("RNNLayer", "LSTMLayer", "LSTMProjLayer", "GRULayer")


def _pair(dl_cls, torch_cls, *args, **kw):
    """The same layer in both libraries, float64, torch's weights copied from deltaflow's."""
    dl.manual_seed(0)
    d = dl_cls(*args, **kw).double()
    t = torch_cls(*args, **kw).double()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in d.state_dict().items()})
    return d, t


def _compare(d, t, d_outs, t_outs, d_leaves, t_leaves, rng, atol=1e-10):
    """Outputs equal; after a random-weighted sum of all outputs, every gradient equal."""
    d_loss, t_loss = 0, 0
    for do, to in zip(d_outs, t_outs):
        np.testing.assert_allclose(do.numpy(), to.detach().numpy(), rtol=1e-9, atol=atol)
        w = rng.standard_normal(tuple(to.shape))
        d_loss = d_loss + (do * dl.tensor(w)).sum()
        t_loss = t_loss + (to * torch.tensor(w)).sum()
    d_loss.backward()
    t_loss.backward()
    for (name, dp), (_, tp) in zip(d.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=atol,
                                   err_msg=name)
    for k, (dv, tv) in enumerate(zip(d_leaves, t_leaves)):
        np.testing.assert_allclose(dv.grad.numpy(), tv.grad.numpy(), rtol=1e-9, atol=atol,
                                   err_msg=f"leaf {k}")


def _leaves(rng, *shapes):
    arrays = [rng.standard_normal(s) for s in shapes]
    return ([dl.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


MODULES = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})]


@pytest.mark.parametrize("name,extra", MODULES)
@pytest.mark.parametrize("layers,bidirectional,batch_first,bias",
                         [(1, False, False, True), (2, True, False, True),
                          (3, True, True, True), (2, False, True, False)])
def test_module_matches_torch(name, extra, layers, bidirectional, batch_first, bias):
    rng = np.random.default_rng(1)
    I, H, T, N = 3, 5, 6, 4
    D = 2 if bidirectional else 1
    d, t = _pair(getattr(dl.nn, name), getattr(torch.nn, name), I, H, num_layers=layers,
                 bidirectional=bidirectional, batch_first=batch_first, bias=bias, **extra)
    x_shape = (N, T, I) if batch_first else (T, N, I)
    n_states = 2 if name == "LSTM" else 1
    (dx, *ds), (tx, *ts) = _leaves(rng, x_shape, *[(layers * D, N, H)] * n_states)
    if name == "LSTM":
        d_out, (d_h, d_c) = d(dx, (ds[0], ds[1]))
        t_out, (t_h, t_c) = t(tx, (ts[0], ts[1]))
        d_outs, t_outs = [d_out, d_h, d_c], [t_out, t_h, t_c]
    else:
        d_out, d_h = d(dx, ds[0])
        t_out, t_h = t(tx, ts[0])
        d_outs, t_outs = [d_out, d_h], [t_out, t_h]
    _compare(d, t, d_outs, t_outs, [dx, *ds], [tx, *ts], rng)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_default_zero_state_and_unbatched_input(name):
    rng = np.random.default_rng(2)
    d, t = _pair(getattr(dl.nn, name), getattr(torch.nn, name), 3, 4, num_layers=2,
                 bidirectional=True)
    (dx,), (tx,) = _leaves(rng, (5, 3))        # unbatched (L, H_in)
    d_out, d_state = d(dx)
    t_out, t_state = t(tx)
    if name == "LSTM":
        d_outs, t_outs = [d_out, *d_state], [t_out, *t_state]
    else:
        d_outs, t_outs = [d_out, d_state], [t_out, t_state]
    assert tuple(d_out.shape) == tuple(t_out.shape) == (5, 8)
    _compare(d, t, d_outs, t_outs, [dx], [tx], rng)


@pytest.mark.parametrize("name,extra", [("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {}),
                                        ("RNNCell", {"nonlinearity": "relu"}),
                                        ("LSTMCell", {"bias": False})])
def test_cells_match_torch_over_steps(name, extra):
    rng = np.random.default_rng(3)
    d, t = _pair(getattr(dl.nn, name), getattr(torch.nn, name), 3, 4, **extra)
    is_lstm = name == "LSTMCell"
    (x, h0, c0), (tx, th0, tc0) = _leaves(rng, (4, 2, 3), (2, 4), (2, 4))
    d_state = (h0, c0) if is_lstm else h0
    t_state = (th0, tc0) if is_lstm else th0
    d_outs, t_outs = [], []
    for k in range(4):                               # unrolled over time: state feeds back
        d_state, t_state = d(x[k], d_state), t(tx[k], t_state)
        d_outs += list(d_state) if is_lstm else [d_state]
        t_outs += list(t_state) if is_lstm else [t_state]
    leaves = ([x, h0, c0], [tx, th0, tc0]) if is_lstm else ([x, h0], [tx, th0])
    _compare(d, t, d_outs, t_outs, *leaves, rng)


def test_cell_unbatched_and_default_state():
    d, t = _pair(dl.nn.GRUCell, torch.nn.GRUCell, 3, 4)
    x = np.random.default_rng(4).standard_normal(3)
    np.testing.assert_allclose(d(dl.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(),
                               atol=1e-12)


def test_dropout_between_layers_only_in_training():
    dl.manual_seed(0)
    m = dl.nn.LSTM(3, 6, num_layers=2, dropout=0.5).double()
    x = dl.tensor(np.random.default_rng(5).standard_normal((4, 2, 3)))
    m.eval()
    a, b = m(x)[0].numpy(), m(x)[0].numpy()
    np.testing.assert_array_equal(a, b)              # eval: deterministic
    m.train()
    c = m(x)[0].numpy()
    assert not np.allclose(a, c)                     # train: layer-0 output was dropped


def test_state_dict_loads_into_torch_and_back():
    t = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    d = dl.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    assert list(d.state_dict()) == list(t.state_dict())
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(6).standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(d(dl.tensor(x))[0].numpy(), t(torch.tensor(x))[0].detach().numpy(),
                               atol=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(x=(5, 2, 4)), "input_size=3"),
    (dict(x=(5, 2, 3), h=(1, 2, 4)), "h_0"),
    (dict(x=(5, 3)), None),
])
def test_clear_errors(kwargs, message):
    m = dl.nn.GRU(3, 4, num_layers=2)
    x = dl.zeros(*kwargs["x"])
    h = dl.zeros(*kwargs["h"]) if "h" in kwargs else None
    if message is None:
        assert m(x)[0].shape == (5, 4)
        return
    with pytest.raises(ValueError, match=message):
        m(x, h)


# ---------------------------------------------------------------------- gradchecks
def _small(rng, G, I=2, H=3):
    return [rng.standard_normal(s) * 0.7 for s in
            [(4, 2, I), (2, H), (G * H, I), (G * H, H), (G * H,), (G * H,)]]


@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_lstm_layer(reverse):
    rng = np.random.default_rng(7)
    x, h, w_ih, w_hh, b_ih, b_hh = _small(rng, 4)
    c = rng.standard_normal(h.shape)
    assert_gradcheck(lambda *a: lstm_layer(*a, reverse=reverse),
                     x, h, c, w_ih, w_hh, b_ih, b_hh)


@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_gru_layer(reverse):
    rng = np.random.default_rng(8)
    assert_gradcheck(lambda *a: gru_layer(*a, reverse=reverse), *_small(rng, 3))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_gradcheck_rnn_layer(nonlinearity):
    rng = np.random.default_rng(9)
    x, h, w_ih, w_hh, b_ih, b_hh = _small(rng, 1)
    assert_gradcheck(lambda *a: rnn_layer(*a, nonlinearity=nonlinearity), x, h, w_ih, w_hh)


@pytest.mark.parametrize("fused", [True, False], ids=["fused-kernels", "numpy-passes"])
@pytest.mark.parametrize("steps", [8, 19])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_layer_across_bptt_chunks(steps, reverse, fused, set_jit):
    """The NumPy backward walks the steps in chunks of 8: whole chunks and a partial last
    one (19 = 8 + 8 + 3) give PyTorch's gradients, with and without biases, as do the fused
    kernels (when Numba is installed); gradcheck on the partial case."""
    if fused:
        pytest.importorskip("numba")
    set_jit(fused)
    rng = np.random.default_rng(10)
    x, h, w_ih, w_hh, b_ih, b_hh = [rng.standard_normal(s) * 0.7 for s in
                                    [(steps, 2, 3), (2, 4), (16, 3), (16, 4), (16,), (16,)]]
    c = rng.standard_normal(h.shape)
    for bias in (True, False):
        t = torch.nn.LSTM(3, 4, bias=bias).double()
        with torch.no_grad():
            t.weight_ih_l0.copy_(torch.tensor(w_ih))
            t.weight_hh_l0.copy_(torch.tensor(w_hh))
            if bias:
                t.bias_ih_l0.copy_(torch.tensor(b_ih))
                t.bias_hh_l0.copy_(torch.tensor(b_hh))
        t_in = [torch.tensor(a, requires_grad=True) for a in (x, h, c)]
        t_x = t_in[0].flip(0) if reverse else t_in[0]
        t_out, (t_h, t_c) = t(t_x, (t_in[1][None], t_in[2][None]))
        t_out = t_out.flip(0) if reverse else t_out
        weights = [w_ih, w_hh] + ([b_ih, b_hh] if bias else [])
        d_in = [dl.tensor(a, requires_grad=True) for a in (x, h, c, *weights)]
        d_out, d_h, d_c = lstm_layer(*d_in, reverse=reverse)
        seeds = [rng.standard_normal(tuple(o.shape)) for o in (t_out, t_h[0], t_c[0])]
        sum((o * torch.tensor(s)).sum() for o, s in zip((t_out, t_h[0], t_c[0]), seeds)).backward()
        sum((o * dl.tensor(s)).sum() for o, s in zip((d_out, d_h, d_c), seeds)).backward()
        np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), atol=1e-12)
        t_grads = [a.grad for a in t_in] + [p.grad for p in t.parameters()]
        for d_leaf, t_grad in zip(d_in, t_grads):
            np.testing.assert_allclose(d_leaf.grad.numpy(), t_grad.numpy(), atol=1e-10)
    if steps == 19:
        assert_gradcheck(lambda *a: lstm_layer(*a, reverse=reverse),
                         x[:11], h, c, w_ih, w_hh, b_ih, b_hh)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_with_projection_matches_torch(bidirectional):
    """proj_size: h_t = W_hr·(o ⊙ tanh c_t) with P < H features; parameter names and order,
    repr, outputs, both final states and every gradient equal PyTorch's."""
    t = torch.nn.LSTM(3, 5, proj_size=2, num_layers=2, bidirectional=bidirectional,
                      batch_first=True).double()
    d = dl.nn.LSTM(3, 5, proj_size=2, num_layers=2, bidirectional=bidirectional,
                   batch_first=True).double()
    assert list(d.state_dict()) == list(t.state_dict()) and repr(d) == repr(t)
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    rng = np.random.default_rng(11)
    D = 2 if bidirectional else 1
    arrays = [rng.standard_normal(s) for s in [(4, 6, 3), (2 * D, 4, 2), (2 * D, 4, 5)]]
    ds = [dl.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    d_out, (d_h, d_c) = d(ds[0], (ds[1], ds[2]))
    t_out, (t_h, t_c) = t(ts[0], (ts[1], ts[2]))
    assert tuple(d_out.shape) == (4, 6, 2 * D)
    _compare(d, t, [d_out, d_h, d_c], [t_out, t_h, t_c], ds, ts, rng)


@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_lstm_projection_layer(reverse):
    rng = np.random.default_rng(12)
    x, h, c = rng.standard_normal((4, 2, 2)), rng.standard_normal((2, 2)), \
        rng.standard_normal((2, 3))
    w_ih, w_hh, w_hr = (rng.standard_normal(s) * 0.7 for s in [(12, 2), (12, 2), (2, 3)])
    b_ih, b_hh = rng.standard_normal(12) * 0.5, rng.standard_normal(12) * 0.5
    assert_gradcheck(lambda x, h, c, wi, wh, bi, bh, wr: lstm_layer(
        x, h, c, wi, wh, bi, bh, reverse=reverse, weight_hr=wr),
        x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)


@pytest.mark.parametrize("make,message", [
    (lambda: dl.nn.modules.rnn.RNNBase("GRU", 3, 5, proj_size=2), "only supported for LSTM"),
    (lambda: dl.nn.LSTM(3, 5, proj_size=5), r"proj_size must be an int in \[0, hidden_size=5\)"),
    (lambda: dl.nn.LSTM(3, 5, proj_size=2)(dl.zeros(4, 2, 3), (dl.zeros(1, 2, 5),
                                                               dl.zeros(1, 2, 5))),
     r"h_0 of shape \(1, 2, 2\)"),
])
def test_projection_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------------- second derivatives
def _torch_layer(mode, x, h, *w, c=None, reverse=False, nonlinearity="tanh"):
    """PyTorch's equations of one layer written out step by step (PyTorch's own fused
    layers need cuDNN or MKL-DNN for some paths; these are its documented formulas):
    the reference for second derivatives. ``w``: w_ih, w_hh[, b_ih, b_hh][, w_hr]."""
    w_ih, w_hh, *rest = w
    w_hr = rest.pop() if len(rest) in (1, 3) else None
    b_ih, b_hh = rest if rest else (0, 0)
    outs = []
    for x_t in (x.flip(0) if reverse else x):
        zx, zh = x_t @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if mode == "RNN":
            h = (zx + zh).tanh() if nonlinearity == "tanh" else (zx + zh).relu()
        elif mode == "GRU":
            (rx, ux, nx), (rh, uh, nh) = zx.chunk(3, -1), zh.chunk(3, -1)
            r, u = (rx + rh).sigmoid(), (ux + uh).sigmoid()
            h = (1 - u) * (nx + r * nh).tanh() + u * h
        else:
            i, f, g, o = (zx + zh).chunk(4, -1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            h = h if w_hr is None else h @ w_hr.T
        outs.append(h)
    out = torch.stack(outs[::-1] if reverse else outs)
    return (out, h) if c is None else (out, h, c)


def _squares(fn):
    return lambda *a: tuple(o * o for o in fn(*a))


SECOND_ORDER_LAYERS = [("RNN", "tanh"), ("RNN", "relu"), ("GRU", None), ("LSTM", None),
                       ("LSTMProj", None)]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mode,nonlinearity", SECOND_ORDER_LAYERS)
def test_layer_second_order_matches_torch(mode, nonlinearity, reverse):
    """create_graph: BPTT of the cell's formula, differentiated again: second derivatives
    of the squared outputs (all of them: sequence and final states) equal PyTorch's, and
    gradgradcheck passes (3 steps, 2 sequences, 2 inputs, 3 hidden units)."""
    rng = np.random.default_rng(11)
    G = {"RNN": 1, "GRU": 3, "LSTM": 4, "LSTMProj": 4}[mode]
    P = 2 if mode == "LSTMProj" else 3
    x, h, w_ih, w_hh, b_ih, b_hh = [rng.standard_normal(s) * 0.7 for s in
                                    [(3, 2, 2), (2, P), (G * 3, 2), (G * 3, P), (G * 3,),
                                     (G * 3,)]]
    weights = [w_ih, w_hh, b_ih, b_hh]
    if mode == "RNN":
        ours = lambda *a: rnn_layer(*a, nonlinearity=nonlinearity, reverse=reverse)  # noqa: E731
        theirs = lambda x, h, *w: _torch_layer(mode, x, h, *w, reverse=reverse,  # noqa: E731
                                               nonlinearity=nonlinearity)
        arrays = [x, h, *weights]
    elif mode == "GRU":
        ours = lambda *a: gru_layer(*a, reverse=reverse)  # noqa: E731
        theirs = lambda x, h, *w: _torch_layer(mode, x, h, *w, reverse=reverse)  # noqa: E731
        arrays = [x, h, *weights]
    else:
        c = rng.standard_normal((2, 3))
        if mode == "LSTM":
            ours = lambda *a: lstm_layer(*a, reverse=reverse)  # noqa: E731
        else:
            weights.append(rng.standard_normal((P, 3)))
            ours = lambda *a: lstm_layer(*a[:-1], reverse=reverse,  # noqa: E731
                                         weight_hr=a[-1])
        theirs = lambda x, h, c, *w: _torch_layer("LSTM", x, h, *w, c=c,  # noqa: E731
                                                  reverse=reverse)
        arrays = [x, h, c, *weights]
    assert_second_order_matches_torch(_squares(ours), _squares(theirs), *arrays)
    assert_gradgradcheck(ours, *arrays)


def test_layer_without_biases_second_order_matches_torch():
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(s) * 0.7 for s in [(3, 2, 2), (2, 3), (9, 2), (9, 3)]]
    assert_second_order_matches_torch(_squares(gru_layer),
                                      _squares(lambda *a: _torch_layer("GRU", *a)), *arrays)
