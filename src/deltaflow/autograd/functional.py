"""``dl.autograd.functional``: derivatives of whole functions, PyTorch's names and results.

For ``f: inputs → outputs`` (Tensors or tuples of Tensors):

* ``vjp(f, x, v)  = vᵀ J``                    one backward pass;
* ``jvp(f, x, v)  = J v``                     the double-vjp trick: ``u ↦ uᵀJ`` is linear in
  ``u``, so ``J v = ∂(uᵀJ v)/∂u`` — two backward passes, the second through the first;
* ``jacobian(f, x)``: ``J[i, j] = ∂fᵢ/∂xⱼ``   one backward pass per output element;
* ``hessian(f, x)``: ``H = J(∇f)``             the Jacobian of the gradient (scalar ``f``);
* ``hvp(f, x, v) = H v`` and ``vhp(f, x, v) = vᵀ H``  (equal: H is symmetric) through
  ``∇(∇f · v)``: a gradient and one more backward, about 2–4× the cost of one gradient.

The inputs are differentiated through copies (``create_graph=False``: detached results, so
nothing of the computation is kept). ``vectorize=True`` is PyTorch's vmap path; here the
rows are always computed one by one, with the same results.
"""
from __future__ import annotations

from .grad_mode import enable_grad
from .gradients import grad


def _as_tuple(x, what):
    from ..tensor import Tensor

    if isinstance(x, Tensor):
        return (x,), False
    if isinstance(x, (tuple, list)) and all(isinstance(t, Tensor) for t in x):
        return tuple(x), True
    raise TypeError(f"autograd.functional: {what} must be a Tensor or a tuple of Tensors, "
                    f"got {type(x).__name__}")


def _prepare(inputs, create_graph):
    """Inputs to differentiate: the tensors themselves joined to the graph when
    ``create_graph`` (so results stay differentiable in them), else detached copies."""
    return tuple(x.view_as(x) if create_graph and x.requires_grad
                 else x.detach().requires_grad_(True) for x in inputs)


def _finish(values, create_graph):
    from ..tensor import Tensor

    if create_graph:
        return values
    return tuple(None if v is None else Tensor.constant(v.data) for v in values)


def _zeros(grads, like):
    from ..tensor import Tensor

    return tuple(Tensor.constant(x.data * 0) if g is None else g for g, x in zip(grads, like))


def _grads(outputs, inputs, grad_outputs, create_graph):
    """∂(Σ outputs ⊙ grad_outputs)/∂inputs, zeros for inputs the outputs do not reach."""
    needed = [o for o in outputs if o.requires_grad]
    seeds = [v for o, v in zip(outputs, grad_outputs) if o.requires_grad]
    if not needed:
        return _zeros([None] * len(inputs), inputs)
    found = grad(needed, list(inputs), seeds, retain_graph=True, create_graph=create_graph,
                 allow_unused=True)
    return _zeros(found, inputs)


def _default_v(outputs, v, what):
    from ..tensor import Tensor

    if v is not None:
        vs, _ = _as_tuple(v, "v")
        for o, w in zip(outputs, vs):
            if o.shape != w.shape:
                raise RuntimeError(f"autograd.functional.{what}: v has shape "
                                   f"{tuple(w.shape)} but the output has {tuple(o.shape)}")
        return vs
    if any(o.data.size != 1 for o in outputs):
        raise RuntimeError(f"autograd.functional.{what}: v must be given when the function's "
                           "output is not a single element")
    return tuple(Tensor.constant(o.data * 0 + 1) for o in outputs)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀ J)``; ``v`` may be omitted for a single-element output."""
    xs, many_in = _as_tuple(inputs, "inputs")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        outs, many_out = _as_tuple(func(*xs), "func's output")
        vs = _default_v(outs, v, "vjp")
        result = _grads(outs, xs, vs, create_graph)
    outs, result = _finish(outs, create_graph), _finish(result, create_graph)
    return (outs if many_out else outs[0]), (result if many_in else result[0])


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)`` by the double-vjp trick; ``v`` may be omitted for a
    single-element input."""
    from ..tensor import Tensor

    xs, many_in = _as_tuple(inputs, "inputs")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        outs, many_out = _as_tuple(func(*xs), "func's output")
        vs = _default_v(xs, v, "jvp")
        us = tuple(Tensor(o.data * 0, requires_grad=True) for o in outs)
        uJ = _grads(outs, xs, us, create_graph=True)          # linear in u
        result = _grads(uJ, us, vs, create_graph)             # ∂(uᵀJ v)/∂u = J v
    outs, result = _finish(outs, create_graph), _finish(result, create_graph)
    return (outs if many_out else outs[0]), (result if many_out else result[0])


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """``J[i][j] = ∂ outputᵢ / ∂ inputⱼ``, of shape ``outputᵢ.shape + inputⱼ.shape``: a
    Tensor for one input and one output, else tuples (of tuples) as in PyTorch."""
    if strategy != "reverse-mode":
        raise ValueError("autograd.functional.jacobian: only strategy='reverse-mode' is "
                         f"implemented, got {strategy!r}")
    from ..functional import stack
    from ..tensor import Tensor

    xs, many_in = _as_tuple(inputs, "inputs")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        outs, many_out = _as_tuple(func(*xs), "func's output")
        rows = []
        for o in outs:
            flat = o.reshape(-1)
            per_input = [[] for _ in xs]
            for k in range(flat.shape[0]):
                seed = flat.data * 0
                seed[k] = 1
                for j, g in enumerate(_grads([flat], xs, [Tensor.constant(seed)],
                                             create_graph)):
                    per_input[j].append(g)
            blocks = []
            for j, x in enumerate(xs):
                if per_input[j]:
                    block = stack(per_input[j]).reshape(tuple(o.shape) + tuple(x.shape))
                else:
                    block = Tensor.constant((x.data * 0).reshape((0,) + tuple(x.shape)))
                blocks.append(block)
            rows.append(_finish(tuple(blocks), create_graph))
    if not many_out:
        return rows[0] if many_in else rows[0][0]
    return tuple(r if many_in else r[0] for r in rows)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """``H[i][j] = ∂² func / ∂inputᵢ ∂inputⱼ`` of a function with a single-element output,
    of shape ``inputᵢ.shape + inputⱼ.shape``: the Jacobian of the gradient."""
    xs, many_in = _as_tuple(inputs, "inputs")

    def gradient(*args):
        out = func(*args)
        if out.data.size != 1:
            raise RuntimeError("autograd.functional.hessian: func must return a single "
                               f"element, got shape {tuple(out.shape)}")
        return _grads([out.reshape(())], args, [_one(out)], create_graph=True)

    H = jacobian(gradient, xs, create_graph=create_graph, strategy=outer_jacobian_strategy)
    return H if many_in else H[0][0]


def _one(out):
    from ..tensor import Tensor

    return Tensor.constant(out.data.reshape(()) * 0 + 1)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), vᵀ H)`` for a function with a single-element output."""
    return _hessian_product(func, inputs, v, create_graph, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for a function with a single-element output (``= vᵀH``, since
    the Hessian is symmetric; PyTorch computes it by double backward too)."""
    return _hessian_product(func, inputs, v, create_graph, "hvp")


def _hessian_product(func, inputs, v, create_graph, what):
    xs, many_in = _as_tuple(inputs, "inputs")
    with enable_grad():
        xs = _prepare(xs, create_graph)
        out = func(*xs)
        if not hasattr(out, "data") or out.data.size != 1:
            raise RuntimeError(f"autograd.functional.{what}: func must return a single "
                               "element Tensor")
        vs = _default_v(xs, v, what)
        g = _grads([out.reshape(())], xs, [_one(out)], create_graph=True)
        result = _grads(g, xs, vs, create_graph)
    (out,), result = _finish((out,), create_graph), _finish(result, create_graph)
    return out, (result if many_in else result[0])


__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]
