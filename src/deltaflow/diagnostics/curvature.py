"""Sharpness: the largest eigenvalue λ_max of the loss's Hessian ∇²_θ L, by power iteration
on Hessian-vector products.

    H v = ∇_θ (∇_θ L · v)

is one more backward pass through the recorded first backward (``autograd.grad`` with
``create_graph=True`` once, then one ``autograd.grad`` of ``∇L`` seeded with ``v`` per
product): the Hessian itself (P² numbers for P parameters) is never formed. Power iteration
``v ← Hv / ‖Hv‖`` converges to the eigenvalue of largest *magnitude*; when that one is
negative (a saddle direction), a second run on H − λI finds the largest one. Like
:func:`~deltaflow.diagnostics.gradcheck_model` it works on a float64 CPU copy of the model
in the mode it was given (dropout's mask drawn once, from the current generator state).

How to read it (Cohen et al. 2021, "Gradient descent on neural networks typically occurs at
the edge of stability"): along the top eigenvector the loss is locally a parabola of
curvature λ_max, and a gradient step of size η multiplies the distance to its minimum by
(1 − ηλ_max) — stable only when λ_max < 2/η. Gradient descent drives λ_max up until it
reaches about 2/η and then hovers there; momentum β moves the threshold to (2 + 2β)/η
(heavy ball) or (2 + 2β)/((1 + 2β)η) (Nesterov, as ``optim.SGD(nesterov=True)``).
Adaptive methods (Adam) precondition the step, so their λ_max is not compared with 2/η
(Cohen et al. 2022 use the preconditioned Hessian).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from ..autograd import grad
from ..random import get_rng_state, set_rng_state
from ..tensor import Tensor
from .gradcheck import _loss_closure, _to_float64


@dataclass
class Sharpness:
    """The outcome: ``value`` = λ_max, the iterations used, whether they converged, and the
    eigenvalue estimates of each iteration (``history``)."""

    value: float
    iterations: int
    converged: bool
    loss: float
    parameters: int
    largest_magnitude: float
    history: list = field(default_factory=list)

    def threshold(self, lr, momentum=0.0, nesterov=False) -> float:
        """The largest curvature gradient descent with step ``lr`` is stable on, for a
        quadratic: 2/η; with momentum β, (2 + 2β)/η (heavy ball) or (2 + 2β)/((1 + 2β)η)
        (Nesterov)."""
        return (2 + 2 * momentum) / ((1 + 2 * momentum) if nesterov else 1) / lr

    def reading(self, lr=None, optimizer="sgd", momentum=0.0, nesterov=False) -> str:
        """One paragraph: λ_max, and how it compares with the optimizer's threshold."""
        text = (f"sharpness λ_max = {self.value:.6g} (largest eigenvalue of the loss's "
                f"Hessian over {self.parameters:,} parameters; {self.iterations} power "
                f"iterations, {'converged' if self.converged else 'NOT converged'})")
        if self.largest_magnitude < 0:
            text += (f"; the largest in magnitude is negative, {self.largest_magnitude:.6g}: "
                     "a direction of negative curvature (a saddle, not a minimum)")
        if lr is None:
            return text + "."
        if optimizer in ("sgd", "gd"):
            limit = self.threshold(lr, momentum, nesterov)
            beta = ("2/η" if not momentum else f"(2 + 2·{momentum:g})/((1 + 2·{momentum:g})η)"
                    if nesterov else f"(2 + 2·{momentum:g})/η")
            kind = (" with Nesterov momentum" if nesterov else " with momentum") \
                if momentum else ""
            return (text + f". Gradient descent{kind} with η = {lr:g} is stable along the top "
                    f"eigenvector only while λ_max < {beta} = {limit:.4g}; here λ_max is "
                    f"{self.value / limit:.0%} of it. Training tends to raise λ_max to about "
                    "this threshold and stay there (the edge of stability, Cohen et al. "
                    "2021): near 100% the step size is what limits the sharpness; well "
                    "below it, something else does (training stopped early, or the loss is "
                    "flat here).")
        return (text + f". {optimizer} preconditions its steps, so λ_max is not compared with "
                f"2/η = {2 / lr:.4g} (an SGD threshold); compare runs with each other, or "
                "with the same optimizer's preconditioned sharpness (Cohen et al. 2022).")


def _dot(a, b) -> float:
    return float(sum(float(np.vdot(x, y)) for x, y in zip(a, b)))


def _hvp(grads, params, v):
    """H v = ∂(∇L · v)/∂θ through the recorded first backward, as arrays."""
    live = [(g, vi) for g, vi in zip(grads, v) if g is not None]
    found = grad([g for g, _ in live], params, [Tensor(vi) for _, vi in live],
                 retain_graph=True, allow_unused=True)
    return [np.zeros(p.shape) if h is None else h.numpy() for h, p in zip(found, params)]


def _power(grads, params, start, shift, iters, tol):
    """Power iteration on H − shift·I from ``start``; ``(eigenvalue of H, iterations,
    converged, history)``."""
    v = [x / math.sqrt(_dot(start, start)) for x in start]
    history, previous = [], None
    for k in range(1, iters + 1):
        hv = [h - shift * x for h, x in zip(_hvp(grads, params, v), v)]
        value = _dot(v, hv)                       # Rayleigh quotient vᵀ(H − σI)v, ‖v‖ = 1
        history.append(value + shift)
        norm = math.sqrt(_dot(hv, hv))
        if norm == 0:                             # H − σI v = 0: v is an eigenvector
            return shift, k, True, history
        v = [h / norm for h in hv]
        if previous is not None and abs(value - previous) <= tol * max(abs(value), 1e-30):
            return value + shift, k, True, history
        previous = value
    return previous + shift, iters, False, history


def sharpness(model, loss_fn, batch, *, iters=100, tol=1e-6, seed=0) -> Sharpness:
    """λ_max of ∇²_θ L for ``L = loss_fn(model(x), y)`` (``batch`` as for
    :func:`~deltaflow.diagnostics.gradcheck_model`: ``(x, y, ...)`` or ``x``;
    ``loss_fn=None`` takes ``model(x)`` as the loss), every trainable parameter together.
    Power iteration from a seeded random direction, at most ``iters`` Hessian-vector
    products per run, until the estimate changes by less than ``tol`` (relative)."""
    model64 = copy.deepcopy(model).to(device="cpu", dtype=np.float64)
    params = [p for p in model64.parameters() if p.requires_grad]
    if not params:
        raise ValueError("sharpness: the model has no parameters that require grad")
    state = get_rng_state()
    loss = _loss_closure(model64, loss_fn, _to_float64(batch))()
    set_rng_state(state)
    grads = grad(loss, params, create_graph=True, allow_unused=True)
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(p.shape) for p in params]
    top, k, converged, history = _power(grads, params, start, 0.0, iters, tol)
    largest_magnitude = top
    if top < 0:   # the spectrum's far end is negative: shift it so λ_max dominates
        top, k2, converged, more = _power(grads, params, start, top, iters, tol)
        k, history = k + k2, history + more
    return Sharpness(float(top), k, converged, float(loss.item()),
                     sum(p.numel() for p in params), float(largest_magnitude), history)


__all__ = ["Sharpness", "sharpness"]
