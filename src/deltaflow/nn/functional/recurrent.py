"""Recurrent layers as functions: one fused op per layer and direction, stacked here.

``lstm_layer`` / ``gru_layer`` / ``rnn_layer`` run one layer in one direction over a
time-major sequence (T, N, I); :func:`recurrent` stacks layers and directions the way
``torch.nn.LSTM`` / ``GRU`` / ``RNN`` do (dropout between layers, directions concatenated),
for sequences of equal or (packed) different lengths.
"""
from __future__ import annotations

from ... import creation
from ... import functional as Fn
from ...ops.recurrent import GRULayer, LSTMLayer, LSTMProjLayer, RNNLayer

#: gates per mode (rows of weight_ih = gates × hidden_size)
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _weights(weight_ih, weight_hh, bias_ih, bias_hh):
    return (weight_ih, weight_hh) if bias_ih is None else (weight_ih, weight_hh, bias_ih, bias_hh)


def lstm_layer(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
               reverse=False, weight_hr=None):
    """One LSTM layer over all steps of ``input`` (T, N, I). Returns (output, h_n, c_n).
    With ``weight_hr`` (P, H) the hidden state is projected to P features (``proj_size``)."""
    weights = _weights(weight_ih, weight_hh, bias_ih, bias_hh)
    if weight_hr is not None:
        return LSTMProjLayer.apply(input, hx, cx, *weights, weight_hr, reverse=reverse)
    return LSTMLayer.apply(input, hx, cx, *weights, reverse=reverse)


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
        projected = len(weights) in (3, 5)                  # (w_ih, w_hh[, biases], w_hr)
        return lstm_layer(x, h, c, *weights[:-1] if projected else weights, reverse=reverse,
                          weight_hr=weights[-1] if projected else None)
    if mode == "GRU":
        out, hn = gru_layer(x, h, *weights, reverse=reverse)
    else:
        out, hn = rnn_layer(x, h, *weights, reverse=reverse,
                            nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
    return out, hn, None


def recurrent(mode, input, hx, cx, weights, num_layers, bidirectional=False, dropout=0.0,
              training=True, batch_sizes=None):
    """A stack of recurrent layers on a time-major ``input`` (T, N, I).

    ``hx`` (and ``cx`` for LSTM) have shape (num_layers · D, N, H), D = 2 if bidirectional;
    ``weights`` lists (w_ih, w_hh[, b_ih, b_hh][, w_hr]) per layer and direction in
    PyTorch's order (l0, l0_reverse, l1, ...). Dropout with probability ``dropout`` is
    applied to every layer's output except the last (when ``training``). Returns (output
    (T, N, D·H), h_n, c_n or None).

    Sequences of different lengths: ``input`` padded, sequences sorted by decreasing length
    and ``batch_sizes[t]`` of them running at step t (a PackedSequence's), ``hx``/``cx`` in
    that order; each sequence then runs for exactly its length (the output is zero past its
    end, h_n and c_n are its states at its own end).
    """
    D = 2 if bidirectional else 1
    segments = None if batch_sizes is None else _segments(list(batch_sizes))
    x = input
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            h0, c0 = hx[k], None if cx is None else cx[k]
            out, h, c = (_run_layer(mode, x, h0, c0, weights[k], reverse=d == 1)
                         if segments is None else
                         _run_segments(mode, x, h0, c0, weights[k], segments, reverse=d == 1))
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        x = outs[0] if D == 1 else Fn.cat(outs, dim=2)
        if dropout > 0.0 and training and layer < num_layers - 1:
            from .dropout import dropout as _dropout
            x = _dropout(x, p=dropout, training=True)
    return x, Fn.stack(h_n), (Fn.stack(c_n) if cx is not None else None)


def _segments(batch_sizes):
    """(t0, t1, n): the runs of steps during which the same n sequences are running."""
    out, t0 = [], 0
    for t in range(1, len(batch_sizes) + 1):
        if t == len(batch_sizes) or batch_sizes[t] != batch_sizes[t0]:
            out.append((t0, t, int(batch_sizes[t0])))
            t0 = t
    return out


def _run_segments(mode, x, h0, c0, weights, segments, reverse):
    """One layer in one direction over a padded (T, B, I) input whose sequence b runs for
    its own length (sequences sorted by decreasing length, so the running ones are the
    first n of each segment). Each segment is one fused layer call; a finished sequence
    keeps its last state (forward), a sequence starts from its initial state at its own
    last step (reverse). Returns (output (T, B, H), zero where no sequence runs, h_n, c_n)."""
    B = x.shape[1]
    h, c = h0, c0
    outs = [None] * len(segments)
    order = range(len(segments) - 1, -1, -1) if reverse else range(len(segments))
    for k in order:
        t0, t1, n = segments[k]
        if reverse and h.shape[0] < n:           # sequences whose last step is in here
            h = Fn.cat([h, h0[h.shape[0]:n]], dim=0)
            c = None if c is None else Fn.cat([c, c0[c.shape[0]:n]], dim=0)
        out, h_new, c_new = _run_layer(mode, x[t0:t1, :n], h[:n], None if c is None else c[:n],
                                       weights, reverse)
        if reverse:
            h, c = h_new, c_new
        else:                                    # sequences n.. have finished: keep theirs
            h = h_new if n == B else Fn.cat([h_new, h[n:]], dim=0)
            c = c_new if c is None or n == B else Fn.cat([c_new, c[n:]], dim=0)
        if n < B:
            out = Fn.cat([out, creation.zeros(t1 - t0, B - n, out.shape[2], dtype=out.dtype,
                                              device=out.device)], dim=1)
        outs[k] = out
    return Fn.cat(outs, dim=0), h, c


__all__ = ["lstm_layer", "gru_layer", "rnn_layer", "recurrent"]
