"""RAdam (Liu et al.): Adam whose adaptive step is switched on once the variance of its
second-moment estimate is tractable, and rectified."""
from __future__ import annotations

import math

from .. import backend
from .adam import check_options
from .optimizer import Optimizer, with_weight_decay


class RAdam(Optimizer):
    r"""RAdam, exactly as ``torch.optim.RAdam``.

    With ``g = ±∇p`` (−: ``maximize``), ``g ← g + weight_decay·p`` (or, with
    ``decoupled_weight_decay=True``, ``p ← p·(1 − lr·weight_decay)``) and step ``t``::

        m ← β₁·m + (1 − β₁)·g;   v ← β₂·v + (1 − β₂)·g²;   m̂ = m / (1 − β₁ᵗ)
        ρ∞ = 2/(1 − β₂) − 1,   ρₜ = ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)
        ρₜ > 5:  r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ))
                 p ← p − lr·m̂ · r·√(1 − β₂ᵗ)/(√v + ε)
        else:    p ← p − lr·m̂

    State: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v). ``foreach``, ``capturable``,
    ``differentiable``: see :mod:`.optimizer`.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        check_options("RAdam", lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize,
                                      foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      differentiable=differentiable))

    def _update(self, p, g, state, lr, betas, eps, weight_decay, decoupled_weight_decay, **_):
        xp = backend.xp_of(p)
        lr, eps, weight_decay = float(lr), float(eps), float(weight_decay)
        beta1, beta2 = float(betas[0]), float(betas[1])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        state["step"] = step = state["step"] + 1
        g = with_weight_decay(p, g, lr, weight_decay, decoupled_weight_decay)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1.0 - beta1) * g
        v *= beta2
        v += (1.0 - beta2) * (g * g)
        bias1, bias2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        step_m = m * (lr / bias1)
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta2 ** step / bias2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                             / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            denom = xp.sqrt(v)
            denom += eps
            step_m *= rect * math.sqrt(bias2)
            step_m /= denom
        p -= step_m
