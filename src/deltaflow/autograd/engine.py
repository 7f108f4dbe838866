"""The backward engine: reverse-mode accumulation over the recorded graph.

``run_backward`` orders the Functions reachable from the roots in reverse topological
order with an explicit stack (no recursion limit: a chain of 100 000 ops is fine), calls
each ``backward`` once with the summed gradient of its outputs, reduces broadcast
gradients back to each input's shape, and accumulates into ``.grad`` of leaf tensors.
Unless ``retain_graph`` is set, each node frees what it saved as soon as it has run.

Gradient arrays passed between ops are treated as immutable (sums make new arrays), so one
array may flow to several inputs. A leaf's contributions are summed first; its hooks then
run once on the total, and ``.grad`` gets a private array, safe to change in place (the
gradient itself when nothing else refers to it, else a copy). A leaf is accumulated as soon
as the last node that feeds it has run, so its post-accumulate hooks
(``Tensor.register_post_accumulate_grad_hook``) run while backward goes on: what lets
data-parallel training start a gradient's all-reduce early. ``queue_callback(fn)`` runs
``fn()`` once the current backward has accumulated every leaf (before it returns).
"""
from __future__ import annotations

import sys
import threading

from ..backend import xp_of
from ..sums import leading_sums
from . import inplace, write_clock
from .grad_mode import enable_grad, state

# where reference counts mean what _is_private assumes (3.14 borrows stack references)
_getrefcount = (sys.getrefcount if sys.implementation.name == "cpython"
                and sys.version_info < (3, 14) else None)


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``
    (an array, or under ``create_graph`` a Tensor)."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = _sum(grad, tuple(range(extra)), False)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = _sum(grad, axes, True)
    if grad.shape != tuple(shape):
        grad = grad.reshape(shape)
    return grad


def _sum(grad, axes, keepdims):
    """An array's own ``sum`` (over leading axes a matrix-vector product,
    :func:`deltaflow.sums.leading_sums`), or the array namespace's for a Tensor."""
    if hasattr(grad, "flags"):
        if not keepdims and axes == tuple(range(len(axes))):
            return leading_sums(grad, len(axes))
        return grad.sum(axis=axes, keepdims=keepdims)
    return xp_of(grad).sum(grad, axis=axes, keepdims=keepdims)


def topological_order(roots):
    """Functions reachable from ``roots``, each after every Function that consumes its output.

    An input written in place after ``fn`` was recorded is followed to the node that made
    its old value (``inplace.as_of``)."""
    order, visited = [], set()
    for root in roots:
        if root in visited:
            continue
        visited.add(root)
        stack = [(root, 0)]
        while stack:
            fn, i = stack[-1]
            parents = fn.parents
            rebased = fn.clock_at_forward < inplace.last_rebase
            while i < len(parents):
                ctx = (inplace.as_of(parents[i], fn.clock_at_forward)[0] if rebased
                       else parents[i]._ctx)
                i += 1
                if ctx is not None and ctx not in visited:
                    visited.add(ctx)
                    stack[-1] = (fn, i)
                    stack.append((ctx, 0))
                    break
            else:
                stack.pop()
                order.append(fn)
    order.reverse()
    return order


def _is_private(grad, _owners=3):
    """True when ``.grad`` may take ``grad`` without a copy, as PyTorch's AccumulateGrad
    steals a gradient nobody else holds: it owns its memory, is writeable, and the only
    references are ``_accumulate_leaf``'s argument, this function's and ``getrefcount``'s.
    (Reference counts are checked on CPython before 3.14 only; elsewhere: always copy.)"""
    return (_getrefcount is not None and grad.base is None
            and getattr(grad.flags, "writeable", True)  # CuPy's flags have no writeable
            and _getrefcount(grad) <= _owners)


def _run_hook(hook, grad, graph=False):
    """``hook(grad)``; a returned Tensor replaces the gradient and must keep its shape.
    Under ``create_graph`` (``graph``) the gradient is a Tensor already and stays one."""
    from ..tensor import Tensor

    out = hook(grad if graph else Tensor.constant(grad))
    if out is None:
        return grad
    if out.shape != grad.shape:
        raise RuntimeError(f"backward: hook {getattr(hook, '__name__', hook)!r} changed the "
                           f"gradient's shape from {tuple(grad.shape)} to {tuple(out.shape)}")
    return out if graph else out.data


def _leaf_hooks(tensor, grad, graph=False):
    """The leaf's hooks run in turn on its total gradient; what the last one leaves."""
    for hook in list(tensor._hooks.values()) if tensor._hooks else ():
        grad = _run_hook(hook, grad, graph)
    return grad


def _accumulate_leaf(tensor, grad, accumulate, graph=False):
    """Run the leaf's hooks on its total gradient, then add it to ``.grad``. Under
    ``create_graph`` the gradient is a Tensor with its own graph: ``.grad`` becomes that
    Tensor (or the recorded sum ``.grad + grad``), so it can be differentiated again."""
    from ..tensor import Tensor

    grad = _leaf_hooks(tensor, grad, graph)
    if not accumulate:
        return
    if graph:
        tensor.grad = grad if tensor.grad is None else tensor.grad + grad
    elif tensor.grad is None:
        # .grad must be private: copy unless nothing else can see this array
        tensor.grad = Tensor.constant(grad if _is_private(grad) else grad.copy())
    else:
        tensor.grad.data = tensor.grad.data + grad
    post_hooks = getattr(tensor, "_post_accumulate_hooks", None)  # slot unset until used
    if post_hooks:
        for hook in list(post_hooks.values()):
            hook(tensor)


def leaf_consumers(order):
    """For each Function in ``order``, the leaves requiring grad among its inputs (as they
    were when it was recorded), and how many inputs of all the Functions each leaf is: once
    that many have run, the leaf's gradient is complete."""
    leaves_of, uses = {}, {}
    for fn in order:
        rebased = fn.clock_at_forward < inplace.last_rebase
        leaves = []
        for t in fn.parents:
            if rebased:
                ctx, _, requires_grad = inplace.as_of(t, fn.clock_at_forward)
            else:
                ctx, requires_grad = t._ctx, t.requires_grad
            if ctx is None and requires_grad:
                leaves.append(t)
                uses[t] = uses.get(t, 0) + 1
        if leaves:
            leaves_of[fn] = leaves
    return leaves_of, uses


class _Callbacks(threading.local):
    def __init__(self):
        self.stack = []   # one list of queued callbacks per running backward (nested ok)


_callbacks = _Callbacks()


def queue_callback(callback):
    """Run ``callback()`` when the backward now running has accumulated every leaf's
    gradient, before it returns (PyTorch's ``Variable._execution_engine.queue_callback``;
    DistributedDataParallel finalizes its gradient all-reduces there)."""
    if not _callbacks.stack:
        raise RuntimeError("queue_callback: no backward is running (call it from a hook)")
    _callbacks.stack[-1].append(callback)


def run_backward(roots, root_grads, retain_graph=False, accumulate=True, create_graph=False,
                 capture=None):
    """Backpropagate ``root_grads`` from ``roots`` (Tensors) through the graph.

    ``root_grads`` are arrays; with ``create_graph`` they are Tensors, and every node's
    backward runs as :meth:`Function.backward_graph` with grad mode on, so the gradients are
    Tensors recorded in a graph of their own (double backward, docs/autodiff.md).

    ``capture`` (``autograd.grad``): a list of Tensors whose total gradients to return, in
    a list; then only the nodes on a path to one of them run, no ``.grad`` changes, and
    only the captured tensors' hooks run (PyTorch's rule)."""
    queued = []
    _callbacks.stack.append(queued)
    try:
        if create_graph:
            with enable_grad():
                found = _backpropagate(roots, root_grads, retain_graph, accumulate, True,
                                       capture)
        else:
            found = _backpropagate(roots, root_grads, retain_graph, accumulate, False, capture)
        while queued:
            queued.pop(0)()
    finally:
        _callbacks.stack.pop()
    return found


def needed_nodes(order, capture):
    """The Functions of ``order`` from which a path leads to one of the ``capture`` tensors
    (the only ones ``autograd.grad`` has to run)."""
    targets = {id(t) for t in capture}
    needed = set()
    for fn in reversed(order):           # producers before their consumers
        rebased = fn.clock_at_forward < inplace.last_rebase
        for t in fn.parents:
            ctx = inplace.as_of(t, fn.clock_at_forward)[0] if rebased else t._ctx
            if id(t) in targets or (ctx is not None and ctx in needed):
                needed.add(fn)
                break
    return needed


def _backpropagate(roots, root_grads, retain_graph, accumulate, graph, capture=None):
    pending = {}      # Function -> gradient of each of its outputs
    leaf_grads = {}   # leaf Tensor -> its summed gradient (hooks and .grad see the total)
    fns = []
    for t, g in zip(roots, root_grads):
        if t._ctx is None:
            prev = leaf_grads.get(t)
            leaf_grads[t] = g if prev is None else prev + g
            continue
        slots = pending.setdefault(t._ctx, [None] * t._ctx.n_outputs)
        slots[t._idx] = g if slots[t._idx] is None else slots[t._idx] + g
        fns.append(t._ctx)
    anomaly = state.anomaly_enabled
    order = topological_order(fns)
    needed = None
    if capture is not None:
        needed, captured, leaves_of, uses = needed_nodes(order, capture), {}, {}, {}
        slots_of = {}   # Function -> [(output index, captured non-leaf tensor)]
        for t in capture:
            if t._ctx is not None:
                slots_of.setdefault(t._ctx, []).append((t._idx, t))
    else:
        leaves_of, uses = leaf_consumers(order)
    for fn in order:
        grads = pending.pop(fn, None)
        if grads is None:
            continue
        if needed is not None:
            if fn.out_hooks:
                _run_out_hooks(fn, grads, graph)
            for i, t in slots_of.get(fn, ()):
                if grads[i] is not None:
                    captured[id(t)] = grads[i]
            if fn not in needed:
                continue
        if fn.released:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time (at "
                f"'{fn.op_name()}'); its saved values were freed after the first backward. "
                "Pass retain_graph=True to the first backward() to keep them.")
        if fn.out_hooks and needed is None:
            _run_out_hooks(fn, grads, graph)
        if fn.n_outputs > 1:
            for i, g in enumerate(grads):
                if g is None:
                    shape, dtype = fn.out_meta[i]
                    grads[i] = _zeros_like_parent(fn, shape, dtype, graph)
        if write_clock.latest > fn.clock_at_forward:
            check_saved_inputs(fn)
        in_grads = fn.backward_graph(*grads) if graph else fn.backward(*grads)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if graph:
            in_grads = _tensors(in_grads)
        if anomaly:
            from . import anomaly as _anomaly
            _anomaly.on_backward(fn, *((_arrays(grads), _arrays(in_grads)) if graph
                                       else (grads, in_grads)))
        parents = fn.parents
        rebased = fn.clock_at_forward < inplace.last_rebase
        if not retain_graph:
            fn.release()
        for t, g in zip(parents, in_grads):
            if g is None:
                continue
            if rebased:   # t was written in place after fn: send g to its old value's node
                ctx, i, requires_grad = inplace.as_of(t, fn.clock_at_forward)
            else:
                ctx, i, requires_grad = t._ctx, t._idx, t.requires_grad
            if not requires_grad:
                continue
            data = t.data
            if g.shape != data.shape:
                g = unbroadcast(g, data.shape)
            if g.dtype != data.dtype:
                g = g.to(data.dtype) if graph else g.astype(data.dtype)
            if ctx is None:
                prev = leaf_grads.get(t)
                leaf_grads[t] = g if prev is None else prev + g
            else:
                slots = pending.get(ctx)
                if slots is None:
                    slots = pending[ctx] = [None] * ctx.n_outputs
                slots[i] = g if slots[i] is None else slots[i] + g
        complete = []
        for t in leaves_of.get(fn, ()):
            uses[t] -= 1
            if not uses[t] and t in leaf_grads:
                complete.append(t)
        if complete:   # accumulate now, so post-accumulate hooks overlap the rest
            grads = in_grads = g = None  # drop the loop's references: _is_private counts them
            for t in complete:
                _accumulate_leaf(t, leaf_grads.pop(t), accumulate, graph)
    grads = in_grads = g = None  # drop the loop's references: _is_private counts them
    if capture is not None:
        targets = {id(t) for t in capture}
        for t, g in leaf_grads.items():
            if id(t) in targets:
                captured[id(t)] = _leaf_hooks(t, g, graph)
        return [captured.get(id(t)) for t in capture]
    for t in list(leaf_grads):
        _accumulate_leaf(t, leaf_grads.pop(t), accumulate, graph)
    return None


def _run_out_hooks(fn, grads, graph):
    """The hooks registered on ``fn``'s outputs, each on its output's summed gradient."""
    for i, hooks in fn.out_hooks.items():
        for hook in list(hooks.values()):
            if grads[i] is not None:
                grads[i] = _run_hook(hook, grads[i], graph)


def check_saved_inputs(fn):
    """Refuse to backpropagate through ``fn`` if an input it saved for backward was written
    in place after the forward pass (PyTorch's version-counter check).

    Every in-place write to a Tensor (``x.mul_()``, ``x[i] = v``, ``zero_``, ``copy_``, an
    optimizer step) stamps its ``_version`` from a global clock (``write_clock``);
    ``Function.apply`` records the clock with the node (``fn.clock_at_forward``). An input
    stamped later was written after the forward pass; the gradient is then wrong only if
    ``fn`` kept that input's array (or a view of it) for backward — ``x + y`` keeps
    neither, ``x * y`` keeps both — so the check looks through what ``fn`` saved. Writes
    through another Tensor that views the same memory are caught too: the clock remembers
    which arrays' memory was written (``write_clock.written_since``)."""
    saved = []
    for value in vars(fn).values():
        for item in (value if isinstance(value, (tuple, list)) else (value,)):
            if hasattr(item, "shape") and hasattr(item, "dtype"):
                saved.append(item)
    for k, t in enumerate(fn.parents):
        if t._version <= fn.clock_at_forward:
            continue
        overlaps = getattr(xp_of(t.data), "may_share_memory", None)
        if any(a is t.data or (overlaps is not None and overlaps(a, t.data)) for a in saved):
            raise RuntimeError(
                f"{fn.op_name()}: input {k} (shape {tuple(t.shape)}) was modified in place "
                "after the forward pass saved it; backward needs its old value. Modify a "
                "copy (x = x.clone()), or make the in-place change after backward.")
    for owner in write_clock.written_since(fn.clock_at_forward):
        overlaps = getattr(xp_of(owner), "may_share_memory", None)
        for a in saved:
            if a is owner or (overlaps is not None and overlaps(a, owner)):
                raise RuntimeError(
                    f"{fn.op_name()}: an array of shape {tuple(a.shape)} that it saved for "
                    "backward was modified in place after the forward pass, through a tensor "
                    "sharing its memory (a view, or a detach()ed alias); backward needs its "
                    "old value. Modify a copy (x = x.clone()), or make the in-place change "
                    "after backward.")


def _zeros_like_parent(fn, shape, dtype, graph=False):
    xp = xp_of(fn.parents[0].data) if fn.parents else __import__("numpy")
    zeros = xp.zeros(shape, dtype=dtype)
    if graph:
        from ..tensor import Tensor
        return Tensor.constant(zeros)
    return zeros


def _tensors(grads):
    """Gradients of a graph-mode backward as Tensors (a constant array, e.g. the zeros of
    ``floor``'s derivative, becomes a constant Tensor)."""
    from ..tensor import Tensor

    return tuple(g if g is None or isinstance(g, Tensor) else Tensor.constant(g)
                 for g in grads)


def _arrays(grads):
    """The arrays of a tuple of gradient Tensors (None kept), for the anomaly hooks."""
    return tuple(None if g is None else g.data for g in grads)
