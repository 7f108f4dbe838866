"""Variable-length sequences for the recurrent layers, as ``torch.nn.utils.rnn``.

A :class:`PackedSequence` holds B sequences of different lengths without padding: ``data``
stacks, for t = 0, 1, …, the time-t rows of the ``batch_sizes[t]`` sequences still running
then (sequences sorted by decreasing length; ``sorted_indices`` maps sorted position →
original, ``unsorted_indices`` back). ``RNN``/``LSTM``/``GRU`` take one and run each
sequence for exactly its own length (the backward direction of a bidirectional layer
starts at each sequence's own last step), returning a ``PackedSequence`` and the final
states at each sequence's last step, in the original order.

Packing and padding are each one differentiable gather of rows, so gradients flow back
to the padded input.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ... import creation
from ... import functional as Fn
from ...tensor import Tensor

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence"]


class PackedSequence(NamedTuple):
    data: Tensor                      # (sum of lengths, *)
    batch_sizes: Tensor               # int64 (T,): sequences running at each step
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None


def _lengths_array(lengths, name):
    lengths = lengths.numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    lengths = lengths.astype(np.int64).reshape(-1)
    if lengths.size == 0 or (lengths <= 0).any():
        raise ValueError(f"{name}: every length must be positive, got {lengths.tolist()}")
    return lengths


def lengths_of(batch_sizes):
    """Length of each (sorted) sequence: the number of steps at which it is running."""
    batch_sizes = np.asarray(batch_sizes)
    return (batch_sizes[None, :] > np.arange(batch_sizes[0])[:, None]).sum(axis=1)


def _packed_rows(batch_sizes, batch):
    """Flat (t·B + b) positions of the packed rows in a (T, B, …) padded array."""
    batch_sizes = np.asarray(batch_sizes)
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    starts = np.cumsum(batch_sizes) - batch_sizes               # first packed row of step t
    b = np.arange(t.size) - np.repeat(starts, batch_sizes)
    return t * batch + b


def pad_sequence(sequences, batch_first=False, padding_value=0.0):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) (or (B, max L, *)), padded."""
    if not sequences:
        raise ValueError("pad_sequence: expected at least one sequence")
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        if s.shape[1:] != sequences[0].shape[1:]:
            raise ValueError(f"pad_sequence: sequences must agree past the first axis, got "
                             f"{tuple(sequences[0].shape)} and {tuple(s.shape)}")
        short = longest - s.shape[0]
        if short:
            pad = creation.full((short, *s.shape[1:]), padding_value, dtype=s.dtype,
                                device=s.device)
            s = Fn.cat([s, pad], dim=0)
        rows.append(s)
    return Fn.stack(rows, dim=0 if batch_first else 1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded (T, B, *) (or (B, T, *)) tensor whose sequence b has ``lengths[b]``."""
    lengths = _lengths_array(lengths, "pack_padded_sequence")
    if batch_first:
        input = Fn.transpose(input, 0, 1)
    T, B = input.shape[0], input.shape[1]
    if len(lengths) != B or lengths.max() > T:
        raise ValueError(f"pack_padded_sequence: expected {B} lengths of at most {T} (the "
                         f"input's shape is {tuple(input.shape)}), got {lengths.tolist()}")
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise RuntimeError("pack_padded_sequence: lengths must be sorted in decreasing "
                               f"order when enforce_sorted=True, got {lengths.tolist()}; "
                               "pass enforce_sorted=False to sort them")
        sorted_indices = unsorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = creation.tensor(order)
        unsorted_indices = creation.tensor(np.argsort(order, kind="stable"))
        input = Fn.index_select(input, 1, sorted_indices)
    batch_sizes = (lengths[None, :] > np.arange(lengths[0])[:, None]).sum(axis=1)
    flat = Fn.reshape(input[: lengths[0]], (lengths[0] * B, *input.shape[2:]))
    data = flat[creation.tensor(_packed_rows(batch_sizes, B))]
    return PackedSequence(data, creation.tensor(batch_sizes), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of :func:`pack_padded_sequence`: ``(padded, lengths)`` in the original order."""
    data, batch_sizes = sequence.data, sequence.batch_sizes.numpy()
    T, B = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter "
                             f"than the longest sequence ({T})")
        T = total_length
    # every padded position reads a row of [data; padding row]: the padding row's index
    # where no sequence runs
    index = np.full(T * B, data.shape[0], dtype=np.int64)
    index[_packed_rows(batch_sizes, B)] = np.arange(data.shape[0])
    pad_row = creation.full((1, *data.shape[1:]), padding_value, dtype=data.dtype,
                            device=data.device)
    padded = Fn.cat([data, pad_row], dim=0)[creation.tensor(index)]
    padded = Fn.reshape(padded, (T, B, *data.shape[1:]))
    lengths = lengths_of(batch_sizes)
    if sequence.unsorted_indices is not None:
        padded = Fn.index_select(padded, 1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.numpy()]
    if batch_first:
        padded = Fn.transpose(padded, 0, 1)
    return padded, creation.tensor(lengths)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors of shapes (L_i, *)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)
