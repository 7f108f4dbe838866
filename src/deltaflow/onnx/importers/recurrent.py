"""LSTM, GRU and RNN: ONNX's gate orders (LSTM i, o, f, c; GRU z, r, h) reordered into
deltaflow's fused layers (PyTorch's i, f, g, o and r, z, n). A GRU with ONNX's default
``linear_before_reset=0`` (reset applied before the hidden projection, unlike PyTorch)
runs as a loop of deltaflow ops over the steps."""
from __future__ import annotations

from ... import creation
from ... import functional as Fn
from ...nn import functional as F
from .registry import Unsupported, importer
from .values import ints

#: ONNX's gate blocks in the order deltaflow's layers take them
_LSTM_ORDER, _GRU_ORDER = (0, 2, 3, 1), (1, 0, 2)
_DEFAULTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _blocks(w, order, hidden):
    """The gate blocks of ``w`` (rows gates × hidden) in ``order``."""
    return Fn.cat([w[g * hidden:(g + 1) * hidden] for g in order], dim=0)


def _check(op, x, sequence_lens, activations, clip, activation_alpha, activation_beta,
           directions, layout):
    names = [a.decode() if isinstance(a, bytes) else a for a in (activations or [])]
    default = _DEFAULTS[op] * directions
    allowed = [default] + ([["Relu"] * directions] if op == "RNN" else [])
    if names and names not in allowed:
        raise Unsupported(f"{op}: activations {names} (deltaflow's layers use {default}"
                          + (" or Relu" if op == "RNN" else "") + ")")
    if clip is not None or activation_alpha or activation_beta:
        raise Unsupported(f"{op}: clip and activation_alpha/beta")
    if sequence_lens is not None:
        steps = x.shape[1 - layout] if x.ndim == 3 else None
        if any(n != steps for n in ints(sequence_lens)):
            raise Unsupported(f"{op}: sequence_lens shorter than the sequence "
                              f"({ints(sequence_lens)} of {steps} steps)")
    return "relu" if names[:1] == ["Relu"] else "tanh"


def _run(op, x, w, r, b, initial_h, initial_c, hidden_size, direction, layout, step):
    """Run ``step(x_tnI, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)`` per direction and stack
    ONNX's outputs Y (T, D, N, H), Y_h (D, N, H) [, Y_c]."""
    if direction not in ("forward", "reverse", "bidirectional"):
        raise Unsupported(f"{op}: direction {direction!r}")
    if layout:
        x = x.permute(1, 0, 2)
    directions = 2 if direction == "bidirectional" else 1
    hidden = hidden_size or r.shape[-1]
    n = x.shape[1]
    ys, hs, cs = [], [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1

        def state(s, d=d):
            if s is None:
                return creation.zeros(n, hidden, dtype=x.dtype, device=x.device)
            return (s.permute(1, 0, 2) if layout else s)[d]

        half = w.shape[1]
        b_ih = None if b is None else b[d, :half]
        b_hh = None if b is None else b[d, half:]
        y, h, c = step(x, state(initial_h), state(initial_c) if op == "LSTM" else None,
                       w[d], r[d], b_ih, b_hh, reverse, hidden)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    y = Fn.stack(ys, dim=1)                                   # (T, D, N, H)
    outs = [y, Fn.stack(hs)] + ([Fn.stack(cs)] if op == "LSTM" else [])
    if layout:
        outs = [y.permute(2, 0, 1, 3)] + [o.permute(1, 0, 2) for o in outs[1:]]
    return tuple(outs)


@importer("LSTM", 7)
def lstm(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, *,
         activation_alpha=None, activation_beta=None, activations=None, clip=None,
         direction="forward", hidden_size=None, input_forget=0, layout=0):
    """ONNX LSTM: i, o, f = σ(W x + R h + b), c̃ = tanh(…), c = f ⊙ c + i ⊙ c̃,
    h = o ⊙ tanh(c); outputs Y, Y_h, Y_c."""
    directions = 2 if direction == "bidirectional" else 1
    _check("LSTM", x, sequence_lens, activations, clip, activation_alpha, activation_beta,
           directions, layout)
    if p is not None or input_forget:
        raise Unsupported("LSTM: peepholes (input P) and input_forget")

    def step(xs, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, hidden):
        order = _LSTM_ORDER
        return F.lstm_layer(xs, h0, c0, _blocks(w_ih, order, hidden),
                            _blocks(w_hh, order, hidden),
                            None if b_ih is None else _blocks(b_ih, order, hidden),
                            None if b_hh is None else _blocks(b_hh, order, hidden),
                            reverse=reverse)

    return _run("LSTM", x, w, r, b, initial_h, initial_c, hidden_size, direction, layout, step)


@importer("GRU", 7)
def gru(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None,
        activation_beta=None, activations=None, clip=None, direction="forward",
        hidden_size=None, layout=0, linear_before_reset=0):
    """ONNX GRU: z, r = σ(W x + R h + b), h̃ = tanh(W_h x + R_h (r ⊙ h) + b)
    (``linear_before_reset``: r ⊙ (R_h h + Rb_h)), h = (1 − z) ⊙ h̃ + z ⊙ h; outputs Y, Y_h."""
    directions = 2 if direction == "bidirectional" else 1
    _check("GRU", x, sequence_lens, activations, clip, activation_alpha, activation_beta,
           directions, layout)

    def step(xs, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, hidden):
        order = _GRU_ORDER
        if linear_before_reset:
            y, h = F.gru_layer(xs, h0, _blocks(w_ih, order, hidden),
                               _blocks(w_hh, order, hidden),
                               None if b_ih is None else _blocks(b_ih, order, hidden),
                               None if b_hh is None else _blocks(b_hh, order, hidden),
                               reverse=reverse)
            return y, h, None
        return _gru_reset_first(xs, h0, w_ih, w_hh, b_ih, b_hh, reverse, hidden)

    return _run("GRU", x, w, r, b, initial_h, None, hidden_size, direction, layout, step)


def _gru_reset_first(xs, h, w_ih, w_hh, b_ih, b_hh, reverse, hidden):
    """ONNX's default GRU, step by step: h̃ = tanh(W_h x + R_h (r ⊙ h) + Wb_h + Rb_h)."""
    gx = Fn.matmul(xs, w_ih.t())                            # (T, N, 3H): z, r, h
    if b_ih is not None:
        gx = gx + b_ih
    r_zr, r_h = w_hh[:2 * hidden], w_hh[2 * hidden:]
    b_zr = None if b_hh is None else b_hh[:2 * hidden]
    b_h = None if b_hh is None else b_hh[2 * hidden:]
    steps = range(xs.shape[0] - 1, -1, -1) if reverse else range(xs.shape[0])
    ys = [None] * xs.shape[0]
    for t in steps:
        zr = gx[t, :, :2 * hidden] + Fn.matmul(h, r_zr.t())
        if b_zr is not None:
            zr = zr + b_zr
        z, rr = Fn.sigmoid(zr[:, :hidden]), Fn.sigmoid(zr[:, hidden:])
        cand = gx[t, :, 2 * hidden:] + Fn.matmul(rr * h, r_h.t())
        if b_h is not None:
            cand = cand + b_h
        h = (1 - z) * Fn.tanh(cand) + z * h
        ys[t] = h
    return Fn.stack(ys), h, None


@importer("RNN", 7)
def rnn(x, w, r, b=None, sequence_lens=None, initial_h=None, *, activation_alpha=None,
        activation_beta=None, activations=None, clip=None, direction="forward",
        hidden_size=None, layout=0):
    """ONNX RNN: h = tanh(W x + R h + Wb + Rb) (or Relu); outputs Y, Y_h."""
    directions = 2 if direction == "bidirectional" else 1
    nonlinearity = _check("RNN", x, sequence_lens, activations, clip, activation_alpha,
                          activation_beta, directions, layout)

    def step(xs, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, hidden):
        y, h = F.rnn_layer(xs, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity,
                           reverse=reverse)
        return y, h, None

    return _run("RNN", x, w, r, b, initial_h, None, hidden_size, direction, layout, step)
