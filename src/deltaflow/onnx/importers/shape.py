"""Shape and data-movement operators: Reshape, Flatten, Transpose, Concat, Split, Slice,
Gather, Squeeze/Unsqueeze, Expand, Tile, Pad, Trilu, and the constant-makers (Shape, Size,
Constant, ConstantOfShape, Range). Static arguments (shapes, axes, pads) are read from
their integer tensors; the data moves through deltaflow's differentiable functions."""
from __future__ import annotations

import math

import numpy as np

from ... import creation
from ... import functional as Fn
from .registry import OnnxImportError, Unsupported, importer
from .values import axis as norm_axis
from .values import constant, dtype, host, ints, on_arrays, scalar


@importer("Reshape", 5)
def reshape(data, shape, *, allowzero=0):
    """ONNX Reshape: 0 copies the input's dim (unless ``allowzero``), −1 is inferred."""
    dims = ints(shape)
    if not allowzero:
        dims = [data.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return data.reshape(*dims) if dims else data.reshape(())


@importer("Flatten")
def flatten(x, *, axis=1):
    """ONNX Flatten: (d₀ ⋯ d_{axis−1}, d_axis ⋯ d_{n−1})."""
    a = axis + x.ndim if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))


@importer("Transpose")
def transpose(x, *, perm=None):
    """ONNX Transpose: dims permuted by ``perm`` (reversed by default)."""
    return Fn.permute(x, list(perm) if perm is not None else list(range(x.ndim))[::-1])


@importer("Concat", 4)
def concat(*xs, axis):
    """ONNX Concat along ``axis``."""
    return Fn.cat(list(xs), dim=axis)


def _split(x, sizes, axis, n_outputs):
    a = norm_axis(axis, x.ndim, "Split")
    if sizes is None:
        n = x.shape[a]
        size = -(-n // n_outputs)
        sizes = [size] * (n_outputs - 1) + [n - size * (n_outputs - 1)]
        if n % n_outputs == 0:
            sizes = [n // n_outputs] * n_outputs
    return tuple(Fn.split(x, list(sizes), dim=a))


@importer("Split", 2)
def split_v2(x, *, axis=0, split=None, n_outputs):
    """ONNX Split (opsets 2–12): sizes as the ``split`` attribute, else equal parts."""
    return _split(x, split, axis, n_outputs)


@importer("Split", 13)
def split_v13(x, split=None, *, axis=0, n_outputs):
    """ONNX Split (opsets 13–17): sizes as an optional input, else equal parts."""
    return _split(x, ints(split), axis, n_outputs)


@importer("Split", 18)
def split_v18(x, split=None, *, axis=0, num_outputs=None, n_outputs):
    """ONNX Split: sizes as an input, or ``num_outputs`` parts of ⌈n / num_outputs⌉ (the
    last smaller)."""
    return _split(x, ints(split), axis, num_outputs or n_outputs)


def _slice(x, starts, ends, axes, steps):
    index = [slice(None)] * x.ndim
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise OnnxImportError("Slice: a step is 0")
        index[norm_axis(a, x.ndim, "Slice")] = slice(s, e, st)
    return Fn.getitem(x, tuple(index))


@importer("Slice", 1)
def slice_v1(x, *, starts, ends, axes=None):
    """ONNX Slice (opsets 1–9): x[starts:ends] along ``axes``, as attributes."""
    return _slice(x, starts, ends, axes, None)


@importer("Slice", 10)
def slice_v10(x, starts, ends, axes=None, steps=None):
    """ONNX Slice: x[starts:ends:steps] along ``axes`` (NumPy's clamping), as inputs."""
    return _slice(x, ints(starts), ints(ends), ints(axes), ints(steps))


@importer("Gather")
def gather(data, indices, *, axis=0):
    """ONNX Gather: y[i…, j…, k…] = data[i…, indices[j…], k…] (indices may be negative)."""
    a = norm_axis(axis, data.ndim, "Gather")
    return Fn.getitem(data, (slice(None),) * a + (indices.data,))


@importer("GatherElements", 11)
def gather_elements(data, indices, *, axis=0):
    """ONNX GatherElements: y[i][j] = data[indices[i][j]][j] (axis 0; negative indices)."""
    a = norm_axis(axis, data.ndim, "GatherElements")
    idx = indices.data
    idx = idx + (idx < 0) * data.shape[a]
    return Fn.gather(data, a, constant(idx.astype(np.int64), data))


def _squeeze(x, axes):
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    axes = {norm_axis(a, x.ndim, "Squeeze") for a in axes}
    return x.reshape(*[d for i, d in enumerate(x.shape) if i not in axes])


@importer("Squeeze", 1)
def squeeze_v1(x, *, axes=None):
    """ONNX Squeeze (opsets 1–12): drop the size-1 ``axes`` (all, by default)."""
    return _squeeze(x, axes)


@importer("Squeeze", 13)
def squeeze_v13(x, axes=None):
    """ONNX Squeeze: drop the size-1 ``axes`` (an input; all by default)."""
    return _squeeze(x, ints(axes))


def _unsqueeze(x, axes):
    rank = x.ndim + len(axes)
    axes = sorted(norm_axis(a, rank, "Unsqueeze") for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return x.reshape(*shape)


@importer("Unsqueeze", 1)
def unsqueeze_v1(x, *, axes):
    """ONNX Unsqueeze (opsets 1–12): size-1 dims inserted at ``axes`` of the output."""
    return _unsqueeze(x, axes)


@importer("Unsqueeze", 13)
def unsqueeze_v13(x, axes):
    """ONNX Unsqueeze: size-1 dims inserted at ``axes`` (an input) of the output."""
    return _unsqueeze(x, ints(axes))


@importer("Expand", 8)
def expand(x, shape):
    """ONNX Expand: x broadcast with ``shape`` (both ways: a 1 in ``shape`` keeps x's dim)."""
    return Fn.broadcast_to(x, np.broadcast_shapes(tuple(x.shape), tuple(ints(shape))))


@importer("Tile", 6)
def tile(x, repeats):
    """ONNX Tile: x repeated ``repeats[i]`` times along dim i."""
    return Fn.tile(x, tuple(ints(repeats)))


def _pad(x, pads, mode, value, axes):
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise Unsupported(f"Pad: mode {mode!r} (expected constant, reflect, edge or wrap)")
    axes = list(range(x.ndim)) if axes is None else [norm_axis(a, x.ndim, "Pad") for a in axes]
    widths = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        widths[a] = (pads[i], pads[len(axes) + i])
    cut = tuple(slice(max(-lo, 0), x.shape[a] - max(-hi, 0))
                for a, (lo, hi) in enumerate(widths))
    x = Fn.getitem(x, cut)                       # negative pads crop
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        flat = [w for lo_hi in reversed(widths) for w in lo_hi]
        return Fn.pad(x, flat, value=value) if any(flat) else x
    for a, (lo, hi) in enumerate(widths):        # every other mode gathers along each axis
        if lo or hi:
            if x.shape[a] == 0:
                raise OnnxImportError(f"Pad: {mode} padding ({lo}, {hi}) of an empty axis")
            idx = np.pad(np.arange(x.shape[a]), (lo, hi), mode=mode)
            x = Fn.index_select(x, a, constant(idx, x))
    return x


@importer("Pad", 2)
def pad_v2(x, *, pads, mode="constant", value=0.0):
    """ONNX Pad (opsets 2–10): ``pads`` = (begin of each axis…, end of each axis…), as an
    attribute; negative pads crop."""
    return _pad(x, pads, mode, value, None)


@importer("Pad", 11)
def pad_v11(x, pads, constant_value=None, axes=None, *, mode="constant"):
    """ONNX Pad: ``pads`` (and, opset 18, ``axes``) as inputs; modes constant (with
    ``constant_value``), reflect, edge, wrap (opset 19); negative pads crop."""
    value = 0 if constant_value is None else scalar(constant_value)
    return _pad(x, ints(pads), mode, value, ints(axes))


@importer("Trilu", 14)
def trilu(x, k=None, *, upper=1):
    """ONNX Trilu: the upper (or lower) triangle of the last two dims, from diagonal k."""
    k = 0 if k is None else int(scalar(k))
    return Fn.triu(x, k) if upper else Fn.tril(x, k)


@importer("Shape")
def shape_v1(x):
    """ONNX Shape: x's dims as an int64 vector."""
    return constant(np.array(x.shape, dtype=np.int64), x)


@importer("Shape", 15)
def shape_v15(x, *, start=0, end=None):
    """ONNX Shape (opset 15): dims[start:end] (negative counts from the end, clamped)."""
    return constant(np.array(x.shape[start:end], dtype=np.int64), x)


@importer("Size")
def size(x):
    """ONNX Size: the number of elements, an int64 scalar."""
    return constant(np.array(math.prod(x.shape), dtype=np.int64), x)


@importer("Constant", 1)
def constant_op(*, value=None, value_float=None, value_floats=None, value_int=None,
                value_ints=None, sparse_value=None, value_string=None, value_strings=None):
    """ONNX Constant: its one attribute as a tensor (floats as float32, ints as int64)."""
    if sparse_value is not None or value_string is not None or value_strings is not None:
        raise Unsupported("Constant: sparse and string values")
    if value is not None:
        return constant(value)
    if value_float is not None or value_floats is not None:
        return constant(np.array(value_float if value_floats is None else value_floats,
                                 dtype=np.float32))
    if value_int is not None or value_ints is not None:
        return constant(np.array(value_int if value_ints is None else value_ints,
                                 dtype=np.int64))
    raise OnnxImportError("Constant: no value attribute")


@importer("ConstantOfShape", 9)
def constant_of_shape(shape, *, value=None):
    """ONNX ConstantOfShape: a tensor of ``shape`` filled with ``value`` (float32 0)."""
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    return constant(np.full(tuple(ints(shape)), fill[0], dtype=fill.dtype), shape)


@importer("Range", 11)
def range_(start, limit, delta):
    """ONNX Range: start + delta · i for i < max(⌈(limit − start) / delta⌉, 0)."""
    dtype = host(start).dtype
    s, lim, d = scalar(start), scalar(limit), scalar(delta)
    n = max(int(math.ceil((lim - s) / d)), 0)
    return constant((s + d * np.arange(n)).astype(dtype), start)


@importer("Cast", 6)
def cast(x, *, to, saturate=1, round_mode="up"):
    """ONNX Cast: x converted to dtype ``to`` (float → int truncates, as C)."""
    return _cast(x, dtype(to, "Cast's target type"))


def _cast(x, target):
    if x.dtype == target:
        return x
    if x.dtype.kind == "f" and target.kind == "f":
        return x.to(target)                          # differentiable
    return on_arrays(lambda a: a.astype(target), x)  # to or from integers: no gradient


@importer("CastLike", 15)
def cast_like(x, target_type, *, saturate=1, round_mode="up"):
    """ONNX CastLike: x converted to ``target_type``'s dtype."""
    return _cast(x, target_type.dtype)


@importer("Dropout", 7)
def dropout_v7(x, *, ratio=0.5, n_outputs):
    """ONNX Dropout at inference: y = x (and a mask of ones)."""
    return _identity_dropout(x, n_outputs)


@importer("Dropout", 12)
def dropout_v12(x, ratio=None, training_mode=None, *, seed=None, n_outputs):
    """ONNX Dropout: y = x at inference (``training_mode`` false, the default), with a mask
    of ones; training-mode dropout (random) is refused."""
    if training_mode is not None and bool(scalar(training_mode)):
        raise Unsupported("Dropout: training_mode=True (random masks); export for inference")
    return _identity_dropout(x, n_outputs)


def _identity_dropout(x, n_outputs):
    if n_outputs == 1:
        return x
    return x, creation.ones(*x.shape, dtype=np.bool_, device=x.device)
