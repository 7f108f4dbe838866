"""Whole-model gradient check: backprop's ∇θL against central differences, every parameter.

``gradcheck_model(model, loss_fn, batch)`` works on a float64 CPU *copy* of the model (the
original is untouched), so it can be run on a float32 or GPU model in the middle of
training. For every parameter θ it compares the analytic directional derivative ``∇θL · v``
with

    (L(θ + εv) − L(θ − εv)) / 2ε

along a few random unit directions ``v``, and, for small tensors, along every coordinate
(a full check). Randomness inside the model (dropout) is replayed identically for every
evaluation by restoring the generator state.

Non-differentiable points (ReLU at 0, max/min ties, |x| at 0, clamp edges) are not reported
as failures when that is what they are: when the check disagrees, the one-sided slopes
``(L(θ+εv) − L(θ))/ε`` and ``(L(θ) − L(θ−εv))/ε`` are compared. If they differ, a kink lies
within ε; the check is retried with a 100× smaller step, which usually steps off the kink
("kink stepped over", then judged as usual). If θ sits exactly on the kink (ReLU inputs that
are exactly 0, tied maxima), the derivative does not exist there and the check is reported
as "at a kink" -- neither passed nor failed. The table counts both per parameter;
everything else that disagrees is a failure.

The central difference itself is only as exact as the two losses it subtracts: each is
rounded to about u·|L| (u = 2.2·10⁻¹⁶ in float64), so the quotient carries an absolute
rounding error of about u·|L|/ε whatever the true derivative is. A tiny directional
derivative (10⁻⁶ beside a loss of 4) can thus differ from backprop's by 10⁻¹⁰, a relative
error of 10⁻⁴, with nothing wrong. The error judged and reported is therefore the part
beyond that rounding,

    max(|a − n| − ROUNDING·u·max(|L(θ+εv)|, |L(θ−εv)|, 1)/ε, 0) / max(|a|, |n|, floor),

with a the analytic and n the numeric derivative.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..autograd.grad_mode import no_grad
from ..random import get_rng_state, set_rng_state
from ..tensor import Tensor
from ..warnings import EvalModeWarning, allow

#: relative error above which a check fails (float64 central differences give ~1e-9)
TOLERANCE = 1e-5
#: how many units of the losses' rounding error a central difference may carry
ROUNDING = 16


@dataclass
class ParamCheck:
    """The outcome for one parameter: worst relative error over its checks."""

    name: str
    shape: tuple
    checks: int = 0
    full: bool = False
    max_rel_error: float = 0.0
    max_abs_error: float = 0.0
    kinks: int = 0
    kinks_avoided: int = 0
    status: str = "ok"
    worst: str = ""

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"


@dataclass
class GradcheckReport:
    """Per-parameter results; truthy when every parameter passed."""

    params: list = field(default_factory=list)
    loss: float = 0.0
    eps: float = 1e-6
    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.params)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def verdict(self) -> str:
        failed = [p.name for p in self.params if not p.passed]
        kinks = sum(p.kinks for p in self.params)
        unverified = [p.name for p in self.params if p.status == "unverified"]
        if failed:
            return (f"FAILED: {len(failed)} of {len(self.params)} parameters disagree with "
                    f"finite differences ({', '.join(failed)}): the backward pass that "
                    "computes their gradients is wrong")
        text = (f"passed: all {len(self.params)} parameters agree with finite differences "
                f"(max relative error {max((p.max_rel_error for p in self.params), default=0):.2g}"
                f" ≤ {self.tolerance:g})")
        if kinks:
            text += (f"; {kinks} check(s) sat exactly on a non-differentiable point (ReLU at 0, "
                     "a max tie): reported, not counted as failures")
        if unverified:
            text += (f"; not verifiable here, every check at a kink: {', '.join(unverified)} "
                     "(try another batch)")
        return text

    def table(self) -> str:
        head = f"{'parameter':<28} {'shape':<14} {'checks':>7}  {'max rel err':>11}  status"
        lines = [f"gradcheck (float64 copy, central differences, eps={self.eps:g}, "
                 f"loss {self.loss:.6g})", head, "-" * len(head)]
        for p in self.params:
            kind = f"{p.checks}{'*' if p.full else ''}"
            status = p.status
            notes = [f"{n} {what}" for n, what in ((p.kinks_avoided, "kink(s) stepped over"),
                                                   (p.kinks, "at a kink")) if n]
            if notes:
                status += f" ({', '.join(notes)})"
            lines.append(f"{p.name:<28} {str(p.shape):<14} {kind:>7}  "
                         f"{p.max_rel_error:>11.2e}  {status}")
            if p.worst and not p.passed:
                lines.append(f"    worst: {p.worst}")
        lines.append("(* = every element checked; otherwise random unit directions; the error "
                     "counts |analytic − numeric| beyond the central differences' rounding, "
                     f"{_rounding(2 * self.eps, self.loss):.1g} here)")
        lines.append(self.verdict)
        return "\n".join(lines)

    __str__ = table


def _to_float64(value):
    """Float tensors and arrays become float64 (no grad); anything else is kept."""
    if isinstance(value, Tensor):
        value = value.detach().cpu()
        return Tensor(value.data.astype(np.float64)) if value.is_floating_point() else value
    if isinstance(value, np.ndarray):
        return Tensor(value.astype(np.float64) if value.dtype.kind == "f" else value)
    if isinstance(value, (tuple, list)):
        return type(value)(_to_float64(v) for v in value)
    return value


def _loss_closure(model, loss_fn, batch):
    """``f()`` → scalar loss Tensor; ``batch`` is ``(x, y, ...)`` or a single input."""
    if isinstance(batch, (tuple, list)):
        x, rest = batch[0], tuple(batch[1:])
    else:
        x, rest = batch, ()

    def f():
        out = model(x)
        loss = loss_fn(out, *rest) if loss_fn is not None else out
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            shape = getattr(loss, "shape", type(loss).__name__)
            raise ValueError(f"gradcheck_model: the loss must be a scalar Tensor, got {shape}")
        return loss
    return f


def gradcheck_model(model, loss_fn, batch, *, eps=1e-6, directions=3, full_max=32,
                    tolerance=TOLERANCE, seed=0, params=None) -> GradcheckReport:
    """Check ∇θL of ``loss_fn(model(x), y)`` for every parameter of ``model``.

    ``batch`` is ``(x, y)`` (more entries are passed on to ``loss_fn``) or just ``x`` (then
    ``loss_fn(model(x))``; ``loss_fn=None`` uses ``model(x)`` itself as the loss).
    ``directions`` random unit directions per parameter, plus every element of tensors with
    at most ``full_max`` elements. ``params`` restricts the check to those names.
    Returns a :class:`GradcheckReport` (``print(report)`` shows the table and the verdict).
    """
    model64 = copy.deepcopy(model).to(device="cpu", dtype=np.float64)
    batch64 = _to_float64(batch)
    f = _loss_closure(model64, loss_fn, batch64)
    rng_state = get_rng_state()
    rng = np.random.default_rng(seed)

    def evaluate():
        set_rng_state(rng_state)
        with no_grad(), allow(EvalModeWarning):   # the training-mode loss, replayed
            return float(f().item())

    named = [(n, p) for n, p in model64.named_parameters() if p.requires_grad]
    if params is not None:
        unknown = set(params) - {n for n, _ in named}
        if unknown:
            raise ValueError(f"gradcheck_model: no trainable parameter named "
                             f"{', '.join(sorted(unknown))}; the model has "
                             f"{', '.join(n for n, _ in named)}")
        named = [(n, p) for n, p in named if n in set(params)]
    if not named:
        raise ValueError("gradcheck_model: the model has no parameters that require grad")
    for _, p in named:
        p.grad = None
    set_rng_state(rng_state)
    loss = f()
    loss.backward()
    loss0 = float(loss.item())
    grads = {n: (np.zeros(p.shape) if p.grad is None else np.asarray(p.grad.numpy()))
             for n, p in named}
    scale = max((float(np.abs(g).max()) for g in grads.values() if g.size), default=0.0)
    floor = 1e-10 + 1e-7 * scale  # below this, |analytic − numeric| is noise, not error

    report = GradcheckReport(loss=loss0, eps=eps, tolerance=tolerance)
    for name, p in named:
        result = ParamCheck(name, tuple(p.shape))
        g = grads[name]
        dirs = [v / np.linalg.norm(v) for v in rng.standard_normal((directions,) + g.shape)]
        labels = [f"random direction {k}" for k in range(directions)]
        if g.size <= full_max:
            result.full = True
            for k in range(g.size):
                e = np.zeros(g.size)
                e[k] = 1.0
                dirs.append(e.reshape(g.shape))
                labels.append(f"element {tuple(int(i) for i in np.unravel_index(k, g.shape))}")
        theta = p.data
        for v, label in zip(dirs, labels):
            analytic = float(np.sum(g * v))
            _check_one(result, p, theta, v, analytic, label, evaluate, loss0, eps, floor,
                       tolerance)
        p.data = theta
        if result.status == "ok" and result.kinks == result.checks:
            result.status = "unverified"  # every check sat on a kink
        report.params.append(result)
    set_rng_state(rng_state)
    return report


def _rel(a, n, floor, noise=0.0):
    """|a − n| beyond the rounding ``noise`` of the difference quotient, relative to the
    larger of |a|, |n| and ``floor``."""
    return max(abs(a - n) - noise, 0.0) / max(abs(a), abs(n), floor)


def _rounding(step, *losses):
    """The absolute rounding error of a difference quotient of ``losses`` over ``step``."""
    return ROUNDING * np.finfo(np.float64).eps * max(1.0, *map(abs, losses)) / step


def _check_one(result, p, theta, v, analytic, label, evaluate, loss0, eps, floor, tol):
    """One central-difference check of ``analytic`` = ∇θL·v, telling kinks from errors."""
    def at(step):
        p.data = theta + step * v
        return evaluate()

    try:
        plus, minus = at(eps), at(-eps)
        numeric = (plus - minus) / (2 * eps)
        err = _rel(analytic, numeric, floor, _rounding(2 * eps, plus, minus))
        status = "ok"
        if err > tol:
            status = "FAIL"
            forward, backward = (plus - loss0) / eps, (loss0 - minus) / eps
            if _rel(forward, backward, floor) > 100 * tol:  # a kink lies within ±ε
                small = eps / 100
                plus, minus = at(small), at(-small)
                retry = (plus - minus) / (2 * small)
                retry_err = _rel(analytic, retry, 100 * floor, _rounding(2 * small, plus, minus))
                if retry_err <= 100 * tol:
                    result.kinks_avoided += 1
                    status, numeric, err = "ok", retry, retry_err
                else:  # θ sits on the kink: the derivative is not defined there
                    result.kinks += 1
                    status, err = "kink", 0.0
    finally:
        p.data = theta
    result.checks += 1
    _record(result, err, analytic, numeric, label, status)


def _record(result, err, analytic, numeric, label, status):
    text = (f"{label}: analytic {analytic:.10g}, numeric {numeric:.10g} (relative error "
            f"{err:.2e}" + (f", ratio {analytic / numeric:.4g}" if numeric else "") + ")")
    if err >= result.max_rel_error:
        result.max_rel_error = err
        result.max_abs_error = max(result.max_abs_error, abs(analytic - numeric))
        if result.status != "FAIL":
            result.worst = text
    if status == "FAIL" and (result.status != "FAIL" or err >= result.max_rel_error):
        result.status = "FAIL"
        result.worst = text


__all__ = ["GradcheckReport", "ParamCheck", "gradcheck_model"]
