"""Adam, AdamW (decoupled weight decay) and their AMSGrad variant."""
from __future__ import annotations

from .. import backend
from . import fused
from .optimizer import Optimizer


def check_options(name, lr, betas, eps, weight_decay):
    """The checks of the Adam family (Adam, AdamW, Adamax, NAdam, RAdam)."""
    if lr < 0.0:
        raise ValueError(f"{name}: invalid learning rate {lr} (must be >= 0)")
    if eps < 0.0:
        raise ValueError(f"{name}: invalid eps {eps} (must be >= 0)")
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{name}: invalid betas {tuple(betas)} (two values in [0, 1))")
    if weight_decay < 0.0:
        raise ValueError(f"{name}: invalid weight_decay {weight_decay} (must be >= 0)")


class Adam(Optimizer):
    r"""Adam (Kingma & Ba), exactly as ``torch.optim.Adam``.

    With ``g = ±∇p`` (−: ``maximize``), ``g ← g + weight_decay·p`` (or, with
    ``decoupled_weight_decay=True``, which is AdamW, ``p ← p·(1 − lr·weight_decay)``) and
    step ``t``::

        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²            (amsgrad: v̂ ← max(v̂, v), used in place of v)
        p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq``.
    The update is :mod:`.fused`'s: NumPy/CuPy passes, or for large parameters one loop
    compiled by Numba when it is installed (the same numbers). ``foreach``, ``fused``,
    ``capturable``, ``differentiable``: see :mod:`.optimizer` (no effect; the last two
    refused when True).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False):
        check_options(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused, decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, g, state, lr, betas, eps, weight_decay, amsgrad,
                decoupled_weight_decay, **_):
        xp = backend.xp_of(p)
        lr, eps, weight_decay = float(lr), float(eps), float(weight_decay)
        beta1, beta2 = float(betas[0]), float(betas[1])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
            if amsgrad:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] = step = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        v_max = state["max_exp_avg_sq"] if amsgrad else None
        fused.pick(p, m, v, *(() if v_max is None else (v_max,))).adam(
            p, g, m, v, v_max, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
            weight_decay=weight_decay, decoupled=bool(decoupled_weight_decay))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    ``p ← p·(1 − lr·weight_decay)`` before the Adam step, which then uses the raw gradient:
    ``Adam(..., decoupled_weight_decay=True)``, with PyTorch's default ``weight_decay=1e-2``."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
