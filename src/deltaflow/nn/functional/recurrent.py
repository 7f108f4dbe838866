"""Recurrent layers as functions: one fused op per layer and direction, stacked here.

``lstm_layer`` / ``gru_layer`` / ``rnn_layer`` run one layer in one direction over a
time-major sequence (T, N, I); :func:`recurrent` stacks layers and directions the way
``torch.nn.LSTM`` / ``GRU`` / ``RNN`` do (dropout between layers, directions concatenated).
"""
from __future__ import annotations

from ... import functional as Fn
from ...ops.recurrent import GRULayer, LSTMLayer, RNNLayer

#: gates per mode (rows of weight_ih = gates × hidden_size)
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _weights(weight_ih, weight_hh, bias_ih, bias_hh):
    return (weight_ih, weight_hh) if bias_ih is None else (weight_ih, weight_hh, bias_ih, bias_hh)


def lstm_layer(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
               reverse=False):
    """One LSTM layer over all steps of ``input`` (T, N, I). Returns (output, h_n, c_n)."""
    return LSTMLayer.apply(input, hx, cx, *_weights(weight_ih, weight_hh, bias_ih, bias_hh),
                           reverse=reverse)


def gru_layer(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reverse=False):
    """One GRU layer over all steps of ``input`` (T, N, I). Returns (output, h_n)."""
    return GRULayer.apply(input, hx, *_weights(weight_ih, weight_hh, bias_ih, bias_hh),
                          reverse=reverse)


def rnn_layer(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
              nonlinearity="tanh", reverse=False):
    """One Elman RNN layer (tanh or relu) over all steps of ``input`` (T, N, I)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return RNNLayer.apply(input, hx, *_weights(weight_ih, weight_hh, bias_ih, bias_hh),
                          nonlinearity=nonlinearity, reverse=reverse)


def _run_layer(mode, x, h, c, weights, reverse):
    """(output, h_n, c_n or None) of one layer in one direction."""
    if mode == "LSTM":
        return lstm_layer(x, h, c, *weights, reverse=reverse)
    if mode == "GRU":
        out, hn = gru_layer(x, h, *weights, reverse=reverse)
    else:
        out, hn = rnn_layer(x, h, *weights, reverse=reverse,
                            nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
    return out, hn, None


def recurrent(mode, input, hx, cx, weights, num_layers, bidirectional=False, dropout=0.0,
              training=True):
    """A stack of recurrent layers on a time-major ``input`` (T, N, I).

    ``hx`` (and ``cx`` for LSTM) have shape (num_layers · D, N, H), D = 2 if bidirectional;
    ``weights`` lists (w_ih, w_hh[, b_ih, b_hh]) per layer and direction in PyTorch's order
    (l0, l0_reverse, l1, ...). Dropout with probability ``dropout`` is applied to every
    layer's output except the last (when ``training``). Returns (output (T, N, D·H), h_n,
    c_n or None).
    """
    D = 2 if bidirectional else 1
    x = input
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            out, h, c = _run_layer(mode, x, hx[k], None if cx is None else cx[k], weights[k],
                                   reverse=d == 1)
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        x = outs[0] if D == 1 else Fn.cat(outs, dim=2)
        if dropout > 0.0 and training and layer < num_layers - 1:
            from .dropout import dropout as _dropout
            x = _dropout(x, p=dropout, training=True)
    return x, Fn.stack(h_n), (Fn.stack(c_n) if cx is not None else None)


__all__ = ["lstm_layer", "gru_layer", "rnn_layer", "recurrent"]
