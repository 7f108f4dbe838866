"""Adamax (Kingma & Ba): Adam with the infinity norm in place of the second moment."""
from __future__ import annotations

from .. import backend
from .adam import check_options
from .optimizer import Optimizer, with_weight_decay


class Adamax(Optimizer):
    r"""Adamax, exactly as ``torch.optim.Adamax``.

    With ``g = ±∇p (+ weight_decay·p)`` (−: ``maximize``) and step ``t``::

        m ← β₁·m + (1 − β₁)·g
        u ← max(β₂·u, |g| + ε)
        p ← p − lr/(1 − β₁ᵗ) · m/u

    State: ``step``, ``exp_avg`` (m), ``exp_inf`` (u). ``foreach``, ``capturable``,
    ``differentiable``: see :mod:`.optimizer`.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        check_options("Adamax", lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, p, g, state, lr, betas, eps, weight_decay, **_):
        xp = backend.xp_of(p)
        beta1, beta2 = float(betas[0]), float(betas[1])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_inf"] = xp.zeros_like(p)
        state["step"] = step = state["step"] + 1
        g = with_weight_decay(p, g, lr, weight_decay)
        m, u = state["exp_avg"], state["exp_inf"]
        m *= beta1
        m += (1.0 - beta1) * g
        u *= beta2
        norm = xp.abs(g)
        norm += float(eps)
        xp.maximum(u, norm, out=u)
        xp.divide(m, u, out=norm)
        norm *= float(lr) / (1.0 - beta1 ** step)
        p -= norm
