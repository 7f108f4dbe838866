"""Recorded in-place writes: ``x.add_(y)``, ``x[i] = v``, ``x.relu_()`` in the graph.

A write into a tensor that autograd follows is recorded the way PyTorch records it. The new
value is computed out of place by an ordinary op, ``z = f(x_old, ...)``, whose input
``x_old`` is a stand-in that holds ``x``'s place in the graph before the write; ``z`` is
written into ``x``'s array and ``x`` takes ``z``'s place (``x._ctx``, ``x._idx`` become
``z``'s). So gradients flow through the written value into ``x_old`` (the elements the write
left alone) and into the operands (the written ones)::

    y = x * 1.0;  y[y < 0] = 0          # y_new = index_put(y_old, mask, 0)
    ∂L/∂y_old = ∂L/∂y_new with the written positions zeroed;  ∂L/∂x = ∂L/∂y_old

Nodes recorded before the write still list ``x`` among their inputs, but mean its old
place. Each rebase therefore appends ``(clock, ctx, idx, requires_grad)`` — the clock tick
of the write and the place ``x`` held before it — to ``x._history``, and the engine asks
:func:`as_of` for the place an input held when a node was recorded. It asks only for nodes
older than :data:`last_rebase`, so a graph without recorded writes pays one integer
comparison per node.

What backward needs of the old value is kept: arrays that share memory with ``x`` and were
saved by the new nodes (all that computing the new value recorded) or by the node that made
``x`` are copied before ``x`` is overwritten (PyTorch would refuse the second case at
backward); any other node recorded earlier that saved ``x``'s memory fails clearly at
backward (the version check, ``engine.check_saved_inputs``).

Refused, as in PyTorch: writes into a leaf that requires grad (outside ``no_grad``). Refused
here, where PyTorch would rebase the base tensor too: writes into a tensor whose array is a
view of the array of the op that made it (``x.t().add_(1)``, ``h.view(-1)[0] = 1``).
"""
from __future__ import annotations

from . import write_clock

last_rebase = 0  # the clock tick of the latest recorded write (0: none yet)


def as_of(tensor, clock):
    """``(ctx, idx, requires_grad)``: the place ``tensor`` held in the graph at ``clock``."""
    for written_at, ctx, idx, requires_grad in getattr(tensor, "_history", ()):
        if written_at > clock:
            return ctx, idx, requires_grad
    return tensor._ctx, tensor._idx, tensor.requires_grad


def check_writable(x, name):
    """Refuse an in-place write that autograd could not follow."""
    if x._ctx is None:
        if x.requires_grad:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad is being used in "
                               "an in-place operation; do it under dl.no_grad() (a parameter "
                               "update or initialisation) or on a copy (x.clone())")
        return
    from ..backend import xp_of

    overlaps = getattr(xp_of(x.data), "may_share_memory", None)
    if x.data.base is not None and overlaps is not None and any(
            overlaps(x.data, p.data) for p in x._ctx.parents):
        raise RuntimeError(f"{name}: this tensor is a view of the input of "
                           f"'{x._ctx.op_name()}', and an in-place write into a view is not "
                           "recorded for the tensor it views; write into that tensor "
                           "(base[index] = value) or into a copy (x = x.clone())")


def write(x, name, compute, record=True):
    """Write ``compute(x_old)`` (a Tensor of ``x``'s shape) into ``x``; ``record``: in the
    graph (else a plain write, as under ``no_grad``)."""
    from ..tensor import Tensor

    if record:
        check_writable(x, name)
        old = Tensor._make(x.data, x.requires_grad, x._ctx, x._idx)
        old._version = x._version
        start = write_clock.tick()     # the nodes that compute records carry this tick
    new = compute(old if record else x)
    if new.shape != x.shape:
        raise RuntimeError(f"{name}: the result has shape {tuple(new.shape)} but the tensor "
                           f"written in place has shape {tuple(x.shape)}")
    if new.data.dtype.kind == "f" and x.data.dtype.kind != "f":
        raise RuntimeError(f"{name}: the result has dtype {new.dtype}, which cannot be "
                           f"written in place into a tensor of dtype {x.dtype}")
    if record:
        copies = {}
        for node in _recorded_since(new._ctx, start):
            _keep_old_values(node, x.data, copies)
        if copies:   # the stand-in holds the old value too (double backward reads it)
            old.data = copies[id(x.data)] if id(x.data) in copies else old.data.copy()
    before_write(x)
    if new.data is not x.data:
        x.data[...] = new.data
    write_clock.stamp(x)
    if record and (new._ctx, new._idx, new.requires_grad) != (x._ctx, x._idx,
                                                              x.requires_grad):
        _rebase(x, new)
    return x


def _recorded_since(node, tick):
    """``node`` and the nodes behind it recorded at ``tick`` or later (what ``compute`` of
    :func:`write` recorded: one op, or several when the new value is a composition)."""
    found, stack = [], [node] if node is not None and node.clock_at_forward >= tick else []
    while stack:
        fn = stack.pop()
        found.append(fn)
        for t in fn.parents:
            ctx = t._ctx
            if ctx is not None and ctx.clock_at_forward >= tick and ctx not in found:
                stack.append(ctx)
    return found


def before_write(x):
    """Call before any write into ``x``'s array: what the node that made ``x`` saved of its
    own output (``sigmoid``, ``exp``, ``tanh`` keep it) is copied first, so that node's
    backward stays right."""
    if x._ctx is not None and not x._ctx.released:
        _keep_old_values(x._ctx, x.data)


def _rebase(x, new):
    """``x`` takes ``new``'s place in the graph; its old place goes to ``x._history``."""
    global last_rebase
    history = getattr(x, "_history", None)
    if history is None:
        history = x._history = []
    history.append((x._version, x._ctx, x._idx, x.requires_grad))
    last_rebase = x._version
    x._ctx, x._idx, x.requires_grad = new._ctx, new._idx, new.requires_grad


def _keep_old_values(node, array, copies=None):
    """Replace what ``node`` saved for backward that shares memory with ``array`` (about to
    be overwritten) by a copy; ``copies`` (id → copy) shares one copy of each saved array
    among the nodes of one write."""
    from ..backend import xp_of

    overlaps = getattr(xp_of(array), "may_share_memory", None)
    copies = {} if copies is None else copies

    def kept(item):
        if hasattr(item, "shape") and hasattr(item, "dtype") and (
                item is array or (overlaps is not None and overlaps(item, array))):
            if id(item) not in copies:
                copies[id(item)] = item.copy()
            return copies[id(item)]
        return item

    saved = vars(node)
    for key, value in list(saved.items()):
        if isinstance(value, (tuple, list)):
            items = [kept(v) for v in value]
            if any(c is not v for c, v in zip(items, value)):
                saved[key] = type(value)(items)
        else:
            saved[key] = kept(value)
