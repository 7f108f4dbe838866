"""Adadelta (Zeiler): steps scaled by the ratio of running RMS of updates and gradients."""
from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, with_weight_decay


class Adadelta(Optimizer):
    r"""Adadelta, exactly as ``torch.optim.Adadelta``.

    With ``g = ±∇p (+ weight_decay·p)`` (−: ``maximize``)::

        s ← ρ·s + (1 − ρ)·g²
        Δ = √(a + ε) / √(s + ε) · g
        a ← ρ·a + (1 − ρ)·Δ²
        p ← p − lr·Δ

    State: ``step``, ``square_avg`` (s), ``acc_delta`` (a). ``foreach``, ``capturable``,
    ``differentiable``: see :mod:`.optimizer`.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        for name, value in (("learning rate", lr), ("eps", eps),
                            ("weight_decay", weight_decay)):
            if value < 0.0:
                raise ValueError(f"Adadelta: invalid {name} {value} (must be >= 0)")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {rho} (must be in [0, 1])")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, capturable=capturable,
                                      foreach=foreach, differentiable=differentiable))

    def _update(self, p, g, state, lr, rho, eps, weight_decay, **_):
        xp = backend.xp_of(p)
        rho, eps = float(rho), float(eps)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            state["acc_delta"] = xp.zeros_like(p)
        state["step"] += 1
        g = with_weight_decay(p, g, lr, weight_decay)
        s, a = state["square_avg"], state["acc_delta"]
        s *= rho
        s += (1.0 - rho) * (g * g)
        delta = xp.sqrt(a + eps)
        delta /= xp.sqrt(s + eps)
        delta *= g
        a *= rho
        a += (1.0 - rho) * (delta * delta)
        delta *= float(lr)
        p -= delta
