"""Recurrent layers ``RNN``, ``LSTM``, ``GRU`` and their one-step cells, as in ``torch.nn``.

Parameter names, shapes, gate order (LSTM i, f, g, o; GRU r, z, n) and initialisation
(U(−1/√H, 1/√H) for every weight and bias) are PyTorch's, so state dicts interchange.
Each layer and direction runs as one fused op (see :mod:`deltaflow.ops.recurrent`).
"""
from __future__ import annotations

import math

from ... import creation
from ... import functional as Fn
from ... import random as _random
from ..functional.recurrent import (
    GATES,
    gru_layer,
    lstm_layer,
    recurrent,
    rnn_layer,
)
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, lengths_of, pack_padded_sequence, pad_packed_sequence
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _uniform_(param, bound):
    """Fill ``param`` in place from U(−bound, bound) drawn from the global generator."""
    rng = _random.generator(param.device)
    param.data[...] = rng.uniform(-bound, bound, param.shape).astype(param.dtype)


class RNNBase(Module):
    """Shared machinery of ``RNN``/``LSTM``/``GRU``: parameters, argument checks, stacking."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive int, got {hidden_size!r}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size is only supported for LSTM, not RNN or GRU")
        if not isinstance(proj_size, int) or not 0 <= proj_size < hidden_size:
            raise ValueError(f"{name}: proj_size must be an int in [0, hidden_size="
                             f"{hidden_size}), got {proj_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        self.proj_size = proj_size
        G = GATES[mode]
        D = 2 if bidirectional else 1
        out_size = proj_size or hidden_size                 # features of h (and the output)
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else out_size * D
                shapes = [("weight_ih", (G * hidden_size, in_size)),
                          ("weight_hh", (G * hidden_size, out_size))]
                if bias:
                    shapes += [("bias_ih", (G * hidden_size,)), ("bias_hh", (G * hidden_size,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for pname, shape in shapes:
                    self.register_parameter(pname + sfx, Parameter(
                        creation.empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(pname + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            _uniform_(p, bound)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    def _layer_weights(self):
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        w = self._flat_weights
        return [tuple(w[k:k + per]) for k in range(0, len(w), per)]

    def _check_input(self, input):
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected a 2-D (unbatched) or 3-D input, got shape "
                             f"{tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}(input_size={self.input_size}): input has feature size "
                             f"{input.shape[-1]} (shape {tuple(input.shape)})")

    def _check_state(self, state, batch, what):
        D = 2 if self.bidirectional else 1
        size = self.proj_size if what == "h_0" and self.proj_size else self.hidden_size
        expected = (self.num_layers * D, batch, size)
        if tuple(state.shape) != expected:
            raise ValueError(f"{type(self).__name__}: expected {what} of shape {expected}, got "
                             f"{tuple(state.shape)}")

    def _zeros(self, input, batch, size=None):
        D = 2 if self.bidirectional else 1
        return creation.zeros(self.num_layers * D, batch, size or self.hidden_size,
                              dtype=input.dtype, device=input.device)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        self._check_input(input)
        batched = input.ndim == 3
        if not batched:
            input = Fn.unsqueeze(input, 1)
        elif self.batch_first:
            input = Fn.transpose(input, 0, 1)
        batch = input.shape[1]
        is_lstm = self.mode == "LSTM"
        if hx is None:
            h0 = self._zeros(input, batch, self.proj_size)
            c0 = self._zeros(input, batch) if is_lstm else None
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            if not batched:
                h0 = Fn.unsqueeze(h0, 1)
                c0 = None if c0 is None else Fn.unsqueeze(c0, 1)
            self._check_state(h0, batch, "h_0")
            if is_lstm:
                self._check_state(c0, batch, "c_0")
        out, h_n, c_n = recurrent(self.mode, input, h0, c0, self._layer_weights(),
                                    self.num_layers, self.bidirectional, self.dropout,
                                    self.training)
        if not batched:
            out, h_n = Fn.squeeze(out, 1), Fn.squeeze(h_n, 1)
            c_n = None if c_n is None else Fn.squeeze(c_n, 1)
        elif self.batch_first:
            out = Fn.transpose(out, 0, 1)
        return (out, (h_n, c_n)) if is_lstm else (out, h_n)

    def _forward_packed(self, packed, hx):
        """Sequences of different lengths (see :mod:`deltaflow.nn.utils.rnn`): run padded,
        each for its own length; the states come back in the original order."""
        batch_sizes = packed.batch_sizes.numpy()
        padded, _ = pad_packed_sequence(PackedSequence(packed.data, packed.batch_sizes))
        self._check_input(padded)
        batch = int(batch_sizes[0])
        is_lstm = self.mode == "LSTM"
        if hx is None:
            h0 = self._zeros(padded, batch, self.proj_size)
            c0 = self._zeros(padded, batch) if is_lstm else None
        else:
            h0, c0 = hx if is_lstm else (hx, None)
            self._check_state(h0, batch, "h_0")
            if is_lstm:
                self._check_state(c0, batch, "c_0")
            if packed.sorted_indices is not None:   # states follow the sequences' sort
                h0 = Fn.index_select(h0, 1, packed.sorted_indices)
                c0 = None if c0 is None else Fn.index_select(c0, 1, packed.sorted_indices)
        out, h_n, c_n = recurrent(self.mode, padded, h0, c0, self._layer_weights(),
                                  self.num_layers, self.bidirectional, self.dropout,
                                  self.training, batch_sizes=batch_sizes)
        out = pack_padded_sequence(out, lengths_of(batch_sizes))
        out = PackedSequence(out.data, packed.batch_sizes, packed.sorted_indices,
                             packed.unsorted_indices)
        if packed.unsorted_indices is not None:
            h_n = Fn.index_select(h_n, 1, packed.unsorted_indices)
            c_n = None if c_n is None else Fn.index_select(c_n, 1, packed.unsorted_indices)
        return (out, (h_n, c_n)) if is_lstm else (out, h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh) (or relu).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``; returns ``(output, h_n)``."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(RNNBase):
    """Long short-term memory; gates i, f, g, o. Returns ``(output, (h_n, c_n))``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n. Returns ``(output, h_n)``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


class RNNCellBase(Module):
    """One time step: parameters ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H),
    ``bias_ih``, ``bias_hh`` (G·H). Runs the layer op on a length-1 sequence."""

    def __init__(self, mode, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = GATES[mode]
        self.weight_ih = Parameter(creation.empty(G * hidden_size, input_size, dtype=dtype,
                                                  device=device))
        self.weight_hh = Parameter(creation.empty(G * hidden_size, hidden_size, dtype=dtype,
                                                  device=device))
        if bias:
            self.bias_ih = Parameter(creation.empty(G * hidden_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(creation.empty(G * hidden_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            _uniform_(p, bound)

    def _prepare(self, input, states):
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}(input_size={self.input_size}): expected input of shape "
                             f"(N, {self.input_size}) or ({self.input_size},), got "
                             f"{tuple(input.shape)}")
        batched = input.ndim == 2
        x = input if batched else Fn.unsqueeze(input, 0)
        out = []
        for s in states:
            if s is None:
                s = creation.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            elif not batched:
                s = Fn.unsqueeze(s, 0)
            if tuple(s.shape) != (x.shape[0], self.hidden_size):
                raise ValueError(f"{name}: expected a hidden state of shape "
                                 f"({x.shape[0]}, {self.hidden_size}), got {tuple(s.shape)}")
            out.append(s)
        return batched, Fn.unsqueeze(x, 0), out

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


def _unbatch(t, batched):
    return t if batched else Fn.squeeze(t, 0)


class RNNCell(RNNCellBase):
    """h' = tanh(W_ih·x + b_ih + W_hh·h + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__("RNN_TANH", input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        batched, x, (h,) = self._prepare(input, [hx])
        _, h_new = rnn_layer(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        return _unbatch(h_new, batched)


class LSTMCell(RNNCellBase):
    """(h', c') from one LSTM step; ``hx`` is ``(h, c)`` or None (zeros)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        h, c = (None, None) if hx is None else hx
        batched, x, (h, c) = self._prepare(input, [h, c])
        _, h_new, c_new = lstm_layer(x, h, c, *self._weights())
        return _unbatch(h_new, batched), _unbatch(c_new, batched)


class GRUCell(RNNCellBase):
    """h' from one GRU step."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        batched, x, (h,) = self._prepare(input, [hx])
        _, h_new = gru_layer(x, h, *self._weights())
        return _unbatch(h_new, batched)
