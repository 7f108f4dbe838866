"""Shape ops and indexing: Reshape, Transpose, Concat, Split, Slice, Gather, Pad, ...

Target shapes come from the traced output shapes, not from the options (whose ``-1`` or
batch size is already resolved): :meth:`Graph.shape` makes the batch (and any other
dynamic axis) a size read at run time.
"""
from __future__ import annotations

import numpy as np

from ...ops import index as I
from ...ops import scan as Scan
from ...ops import shape as S
from ..graph import INT64_MAX, INT64_MIN, ExportError
from . import converter


def _axis(dim, rank):
    return int(dim) % rank if rank else 0


@converter(S.Reshape, emits="Reshape", dynamic=("shape",))
def reshape(g, n):
    return g.add("Reshape", [n.inputs[0], g.shape(n.out_shapes[0], n.out_shapes_b[0])])


@converter(S.Permute, emits="Transpose")
def permute(g, n):
    return g.add("Transpose", n.inputs, perm=[int(d) for d in n.options["dims"]])


@converter(S.Expand, emits="Expand", dynamic=("shape",))
def expand(g, n):
    """Broadcast to the output shape; sizes the input already has (dynamic or not) are 1."""
    out_a, out_b = n.out_shapes[0], n.out_shapes_b[0]
    in_a, in_b = n.shapes[0], n.shapes_b[0]
    lead = len(out_a) - len(in_a)
    target_a, target_b = list(out_a), list(out_b)
    for i in range(len(in_a)):
        if (in_a[i], in_b[i]) == (out_a[lead + i], out_b[lead + i]):
            target_a[lead + i] = target_b[lead + i] = 1
    return g.add("Expand", [n.inputs[0], g.shape(target_a, target_b, infer=False)])


@converter(S.Cat, emits="Concat")
def cat(g, n):
    return g.add("Concat", n.inputs, axis=_axis(n.options.get("dim", 0), len(n.shapes[0])))


@converter(S.Stack, emits="Unsqueeze, Concat")
def stack(g, n):
    axis = _axis(n.options.get("dim", 0), len(n.shapes[0]) + 1)
    parts = [g.add("Unsqueeze", [x, g.ints([axis])]) for x in n.inputs]
    return g.add("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]


@converter(S.Split, emits="Split")
def split(g, n):
    sections = [int(s) for s in n.options["sections"]]
    axis = _axis(n.options.get("dim", 0), len(n.shapes[0]))
    outs = g.add("Split", [n.inputs[0], g.ints(sections)], n_out=len(sections), axis=axis)
    return outs if len(sections) > 1 else [outs]


@converter(S.Flip, emits="Slice")
def flip(g, n):
    rank = len(n.shapes[0])
    dims = n.options["dims"]
    axes = [_axis(d, rank) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
    k = len(axes)
    return g.add("Slice", [n.inputs[0], g.ints([-1] * k), g.ints([INT64_MIN] * k),
                           g.ints(axes), g.ints([-1] * k)])


def _roll_axis(g, x, size, shift, axis):
    """Concat(x[size − s:], x[:size − s]) along ``axis`` (s = shift mod size)."""
    s = shift % size
    if s == 0:
        return x
    tail = g.add("Slice", [x, g.ints([size - s]), g.ints([size]), g.ints([axis])])
    head = g.add("Slice", [x, g.ints([0]), g.ints([size - s]), g.ints([axis])])
    return g.add("Concat", [tail, head], axis=axis)


@converter(S.Roll, emits="Slice, Concat (Reshape without dims)")
def roll(g, n):
    x, shape = n.inputs[0], n.shapes[0]
    shifts, dims = n.options["shifts"], n.options.get("dims")
    rolled = range(len(shape)) if dims is None else np.atleast_1d(dims) % len(shape)
    if any(shape[d] != n.shapes_b[0][d] for d in rolled):
        raise ExportError("roll along a dynamic axis")
    if dims is None:
        flat = g.add("Reshape", [x, g.ints([-1])])
        rolled = _roll_axis(g, flat, int(np.prod(shape)), int(shifts), 0)
        return g.add("Reshape", [rolled, g.ints(shape)])
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    shifts = shifts if isinstance(shifts, tuple) else (shifts,) * len(dims)
    for s, d in zip(shifts, dims):
        d = _axis(d, len(shape))
        x = _roll_axis(g, x, shape[d], int(s), d)
    return x


@converter(S.Tile, emits="Tile (Reshape for extra leading axes)")
def tile(g, n):
    reps = [int(r) for r in n.options["reps"]]
    x, shape_a, shape_b = n.inputs[0], n.shapes[0], n.shapes_b[0]
    lead = len(reps) - len(shape_a)
    if lead > 0:
        x = g.add("Reshape", [x, g.shape((1,) * lead + tuple(shape_a),
                                         (1,) * lead + tuple(shape_b))])
    return g.add("Tile", [x, g.ints(reps)])


PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
             "circular": "wrap"}


@converter(S.Pad, emits="Pad")
def pad(g, n):
    mode = n.options.get("mode", "constant")
    if mode == "circular" and g.opset < 19:
        raise ExportError("circular padding needs opset 19 or later (Pad mode 'wrap')")
    widths = n.options["widths"]
    pads = g.ints([int(lo) for lo, _ in widths] + [int(hi) for _, hi in widths])
    inputs = [n.inputs[0], pads]
    if mode == "constant":
        inputs.append(g.scalar(n.options.get("value", 0.0), n.dtypes[0]))
    return g.add("Pad", inputs, mode=PAD_MODES[mode])


@converter(I.Gather, emits="GatherElements")
def gather(g, n):
    rank = len(n.shapes[0])
    index = n.value(n.options["index"], n.options_b["index"])
    return g.add("GatherElements", [n.inputs[0], index], axis=_axis(n.options["dim"], rank))


@converter(I.IndexSelect, emits="Gather")
def index_select(g, n):
    rank = len(n.shapes[0])
    index = n.value(n.options["index"], n.options_b["index"])
    return g.add("Gather", [n.inputs[0], index], axis=_axis(n.options["dim"], rank))


@converter(Scan.Cumsum, emits="CumSum")
def cumsum(g, n):
    axis = _axis(n.options["dim"], len(n.shapes[0]))
    return g.add("CumSum", [n.inputs[0], g.scalar(axis, np.int64)])


# --------------------------------------------------------------------------- x[index]
def _items(index, rank):
    """The index as a list with ``...`` expanded to full slices (and trailing axes added)."""
    items = list(index) if isinstance(index, tuple) else [index]
    items = [np.asarray(i) if isinstance(i, list) else i for i in items]
    used = sum(np.ndim(i) if _is_array(i) and i.dtype == bool else 1
               for i in items if i is not None and i is not Ellipsis)
    fill = [slice(None)] * (rank - used)
    for k, i in enumerate(items):
        if i is Ellipsis:
            return items[:k] + fill + items[k + 1:]
    return items + fill


def _is_array(i):
    return isinstance(i, np.ndarray) or hasattr(i, "__cuda_array_interface__")


def _joined(g, parts):
    return parts[0] if len(parts) == 1 else g.add("Concat", parts, axis=0)


def _bound(g, a, b, default):
    """One Slice start/end: a number, or the size read at run time where the traces differ."""
    if a == b:
        return g.ints([default if a is None else int(a)])
    if a is None or b is None or g.dim(a, b) is None:
        raise ExportError(f"a slice bound that changes with the input ({a} and {b}) and is "
                          f"no input's dynamic size")
    return g.dim(a, b)


@converter(I.GetItem, emits="Slice, Squeeze, Unsqueeze, Gather, Reshape", dynamic=("index",))
def getitem(g, n):
    """Basic indexing (ints, slices, None, ...) as one Slice, Squeeze and Unsqueeze; one
    integer array (or several constant ones on adjacent axes) as a Gather."""
    rank = len(n.shapes[0])
    items_a = _items(n.options["index"], rank)
    items_b = _items(n.options_b["index"], rank)
    arrays = [k for k, i in enumerate(items_a) if _is_array(i)]
    if any(items_a[k].dtype == bool for k in arrays):
        raise ExportError("indexing with a boolean mask (its result's shape depends on the "
                          "values)")
    ints = [k for k, i in enumerate(items_a) if isinstance(i, (int, np.integer))]
    if arrays and (ints or any(i is None for i in items_a)):
        raise ExportError("integer and None indices mixed with index arrays")
    x, axis = n.inputs[0], 0
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    out_axis = 0
    for ia, ib in zip(items_a, items_b):
        if ia is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(ia, slice):
            if ia != slice(None) and ia != slice(None, None, 1):
                step = 1 if ia.step is None else int(ia.step)
                lo, hi = (0, INT64_MAX) if step > 0 else (-1, INT64_MIN)
                starts.append(_bound(g, ia.start, ib.start, lo))
                ends.append(_bound(g, ia.stop, ib.stop, hi))
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        elif not _is_array(ia):                      # an int: keep one, then squeeze it
            i = int(ia)
            if i != int(ib):
                raise ExportError(f"an integer index that changes with the input ({i} and "
                                  f"{int(ib)}); index from the end (x[-1]) instead")
            starts.append(g.ints([i]))
            ends.append(g.ints([i + 1 if i != -1 else INT64_MAX]))
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    if axes:
        x = g.add("Slice", [x, _joined(g, starts), _joined(g, ends), g.ints(axes),
                            g.ints(steps)])
    if squeeze:
        x = g.add("Squeeze", [x, g.ints(squeeze)])
    if unsqueeze:
        x = g.add("Unsqueeze", [x, g.ints(unsqueeze)])
    if not arrays:
        return x if (axes or squeeze or unsqueeze) else g.add("Identity", [x])
    return _gather_arrays(g, n, x, arrays, items_a, items_b)


def _gather_arrays(g, n, x, arrays, items_a, items_b):
    """x[..., i₁, i₂, ...] for index arrays on the adjacent axes ``arrays``."""
    if arrays != list(range(arrays[0], arrays[-1] + 1)):
        raise ExportError("index arrays on axes that are not adjacent")
    first = arrays[0]
    if len(arrays) == 1:
        index = n.value(items_a[first], items_b[first])
        return g.add("Gather", [x, index], axis=first)
    shape_a, shape_b = n.shapes[0], n.shapes_b[0]
    sizes = [shape_a[k] for k in arrays]
    if any(shape_a[k] != shape_b[k] for k in arrays):
        raise ExportError("several index arrays on a dynamic axis")
    # merge the indexed axes into one and gather with the flat (row-major) positions
    flat = np.ravel_multi_index(tuple(np.broadcast_arrays(*[np.asarray(items_a[k]) % s for
                                                            k, s in zip(arrays, sizes)])),
                                sizes)
    merged_a = shape_a[:first] + (int(np.prod(sizes)),) + shape_a[arrays[-1] + 1:]
    merged_b = shape_b[:first] + (int(np.prod(sizes)),) + shape_b[arrays[-1] + 1:]
    for k in arrays:
        if not np.array_equal(items_a[k], items_b[k]):
            raise ExportError("several index arrays that change with the input")
    x = g.add("Reshape", [x, g.shape(merged_a, merged_b)])
    return g.add("Gather", [x, g.const(flat.astype(np.int64))], axis=first)
