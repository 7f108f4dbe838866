"""Finite-difference gradient checking.

For a scalar-valued ``f`` of inputs ``x``, the analytic gradient from backprop is compared
with central differences  ∂f/∂xᵢ ≈ (f(x + εeᵢ) − f(x − εeᵢ)) / 2ε  in float64.  Non-scalar
outputs are reduced as ``Σ f(x) ⊙ v`` with a fixed random ``v``, which checks the full
vector–Jacobian product.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grad_mode import no_grad


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`; truthy when every checked element agrees."""

    passed: bool
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: str = ""
    details: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = (f"gradcheck {verdict}: max abs error {self.max_abs_error:.3g}, "
                f"max rel error {self.max_rel_error:.3g}")
        return text + (f"; worst: {self.worst}" if self.worst else "")


def _as_list(inputs):
    from ..tensor import Tensor
    if isinstance(inputs, Tensor):
        return [inputs]
    return list(inputs)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=False, seed=0,
              check_constant_outputs=False):
    """Compare backprop gradients of ``fn(*inputs)`` with float64 central differences.

    Inputs that require grad are checked; they must be float64 (promote them first, e.g.
    ``x.double()``). Returns a :class:`GradcheckResult` naming the worst element on failure;
    with ``raise_exception=True`` a failure raises ``AssertionError`` instead.
    ``check_constant_outputs``: floating outputs that do not require grad are checked too,
    against an analytic gradient of 0.
    """
    from ..tensor import Tensor

    inputs = _as_list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; gradcheck needs "
                            "float64 inputs (call .double())")
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    outs = [o for o in outs if isinstance(o, Tensor) and (o.requires_grad or (
        check_constant_outputs and np.issubdtype(o.dtype, np.floating)))]
    rng = np.random.default_rng(seed)
    weights = [np.ones(o.shape) if o.data.size == 1 else rng.standard_normal(o.shape)
               for o in outs]

    def scalar(values):
        vs = values if isinstance(values, (tuple, list)) else (values,)
        vs = [v for v in vs if isinstance(v, Tensor) and np.issubdtype(v.dtype, np.floating)]
        return float(sum(float(np.sum(np.asarray(v.numpy(), dtype=np.float64) * w))
                         for v, w in zip(vs, weights)))

    for i in checked:
        inputs[i].grad = None
    if not outs:
        raise ValueError("gradcheck: fn returned no tensor that requires grad")
    total = None
    for o, w in zip(outs, weights):
        if o.requires_grad:
            term = (o * Tensor(w.astype(o.dtype))).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()

    result = GradcheckResult(True)
    worst_margin = 0.0
    for i in checked:
        t = inputs[i]
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad.numpy(), float)
        flat = t.data.flat  # writes go into the array itself, contiguous or not
        numeric = np.zeros(t.data.size)
        with no_grad():
            for k in range(numeric.size):
                orig = flat[k]
                flat[k] = orig + eps
                plus = scalar(fn(*inputs))
                flat[k] = orig - eps
                minus = scalar(fn(*inputs))
                flat[k] = orig
                numeric[k] = (plus - minus) / (2 * eps)
        a = analytic.reshape(-1)
        abs_err = np.abs(a - numeric)
        margin = abs_err - (atol + rtol * np.abs(numeric))
        if not abs_err.size:
            continue
        k = int(np.argmax(margin))
        result.max_abs_error = max(result.max_abs_error, float(abs_err.max()))
        rel = abs_err / np.maximum(np.abs(numeric), 1e-12)
        result.max_rel_error = max(result.max_rel_error, float(rel.max()))
        for j in np.flatnonzero(margin > 0):
            idx = tuple(int(n) for n in np.unravel_index(j, t.shape)) if t.shape else ()
            msg = (f"input {i} element {idx}: analytic {a[j]:.8g}, numeric {numeric[j]:.8g} "
                   f"(abs error {abs_err[j]:.3g})")
            result.details.append(msg)
            if j == k and (result.passed or margin[k] > worst_margin):
                result.worst, worst_margin = msg, float(margin[k])
            result.passed = False
    if raise_exception and not result.passed:
        raise AssertionError(str(result))
    return result


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=False, seed=0):
    """Check second derivatives: gradcheck of the vector–Jacobian product.

    The first-order gradient ``(x, v) ↦ ∂(Σ fn(x) ⊙ v)/∂x``, computed by backprop with
    ``create_graph=True``, is itself gradchecked against float64 central differences, with
    respect to both ``x`` (the second derivatives, Σ v·∂²f/∂x²) and ``v`` (the Jacobian
    again). ``grad_outputs`` (one per output that requires grad) default to fixed random
    float64 tensors."""
    from ..tensor import Tensor
    from .grad_mode import enable_grad
    from .gradients import grad

    inputs = _as_list(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    out = fn(*inputs)
    outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
            if isinstance(o, Tensor) and o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    grad_outputs = _as_list(grad_outputs)
    n = len(inputs)

    def first_order(*args):
        xs, vs = list(args[:n]), args[n:]
        with enable_grad():
            y = fn(*xs)
            ys = [o for o in (y if isinstance(y, (tuple, list)) else (y,))
                  if isinstance(o, Tensor) and o.requires_grad]
            grads = grad(ys, [xs[i] for i in diff], list(vs), create_graph=True,
                         allow_unused=True)
        return tuple(g for g in grads if g is not None)

    # a first derivative that is constant (floor's 0, a linear op's) has second derivative
    # 0: gradcheck then compares the finite differences of the gradient with 0
    return gradcheck(first_order, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed,
                     check_constant_outputs=True)
