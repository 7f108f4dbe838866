"""Recurrent layers: one deltaflow layer op (all time steps, one direction) → one ONNX
LSTM / GRU / RNN node.

Gate orders differ: PyTorch's (and deltaflow's) weights stack the LSTM gates as i, f, g, o
and the GRU's as r, z, n; ONNX wants i, o, f, c and z, r, h. The weights stay the model's
initializers; a Gather on their rows puts the gate blocks in ONNX's order. deltaflow's GRU
applies the reset gate to ``W_hn·h + b_hn``, which is ONNX's ``linear_before_reset=1``.
Shapes: x (T, B, I) time-major, states (B, H); ONNX adds a direction axis to W, R, B, the
states and Y, which Unsqueeze / Squeeze add and drop.
"""
from __future__ import annotations

import numpy as np

from ...ops import recurrent as Rec
from . import converter

#: ONNX's gate order as indices into PyTorch's
LSTM_GATES = (0, 3, 1, 2)        # i, f, g, o -> i, o, f, c
GRU_GATES = (1, 0, 2)            # r, z, n -> z, r, h


def _gates(g, w, hidden, order):
    """The rows of ``w`` ((G·H, ...) or (G·H,)) with the gate blocks in ``order``."""
    rows = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in order])
    return g.add("Gather", [w, g.ints(rows)], axis=0)


def _unsqueeze0(g, x):
    return g.add("Unsqueeze", [x, g.ints([0])])


def _recurrent(g, n, onnx_op, order, n_state, **attrs):
    x, states = n.inputs[0], n.inputs[1:1 + n_state]
    w_ih, w_hh, *biases = n.inputs[1 + n_state:]
    hidden = n.shapes[2 + n_state][1]
    W = _unsqueeze0(g, _gates(g, w_ih, hidden, order))
    R = _unsqueeze0(g, _gates(g, w_hh, hidden, order))
    B = ""
    if biases:
        B = _unsqueeze0(g, g.add("Concat", [_gates(g, b, hidden, order) for b in biases],
                                 axis=0))
    initial = [_unsqueeze0(g, s) for s in states]
    outs = g.add(onnx_op, [x, W, R, B, ""] + initial, n_out=1 + n_state, hidden_size=hidden,
                 direction="reverse" if n.options.get("reverse") else "forward", **attrs)
    y = g.add("Squeeze", [outs[0], g.ints([1])])
    return [y] + [g.add("Squeeze", [s, g.ints([0])]) for s in outs[1:]]


@converter(Rec.LSTMLayer, emits="Gather, LSTM, Squeeze")
def lstm(g, n):
    return _recurrent(g, n, "LSTM", LSTM_GATES, 2)


@converter(Rec.GRULayer, emits="Gather, GRU (linear_before_reset=1), Squeeze")
def gru(g, n):
    return _recurrent(g, n, "GRU", GRU_GATES, 1, linear_before_reset=1)


@converter(Rec.RNNLayer, emits="RNN, Squeeze")
def rnn(g, n):
    act = "Relu" if n.options.get("nonlinearity", "tanh") == "relu" else "Tanh"
    return _recurrent(g, n, "RNN", (0,), 1, activations=[act])
