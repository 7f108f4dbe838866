"""Adagrad (Duchi et al.): per-coordinate learning rates from the sum of squared gradients."""
from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, with_weight_decay


class Adagrad(Optimizer):
    r"""Adagrad, exactly as ``torch.optim.Adagrad``.

    With ``g = ±∇p (+ weight_decay·p)`` (−: ``maximize``) and step ``t``::

        clr ← lr / (1 + (t − 1)·lr_decay)
        S   ← S + g²                       (S starts at initial_accumulator_value)
        p   ← p − clr · g / (√S + ε)

    State: ``step``, ``sum`` (S). ``foreach``, ``fused``, ``differentiable``: see
    :mod:`.optimizer`.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        for name, value in (("learning rate", lr), ("lr_decay", lr_decay), ("eps", eps),
                            ("weight_decay", weight_decay),
                            ("initial_accumulator_value", initial_accumulator_value)):
            if value < 0.0:
                raise ValueError(f"Adagrad: invalid {name} {value} (must be >= 0)")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))

    def _update(self, p, g, state, lr, lr_decay, weight_decay, initial_accumulator_value, eps,
                **_):
        xp = backend.xp_of(p)
        weight_decay = float(weight_decay)
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p, float(initial_accumulator_value))
        state["step"] = step = state["step"] + 1
        g = with_weight_decay(p, g, lr, weight_decay)
        clr = float(lr) / (1.0 + (step - 1) * float(lr_decay))
        tmp = xp.multiply(g, g)
        state["sum"] += tmp
        xp.sqrt(state["sum"], out=tmp)
        tmp += float(eps)
        xp.divide(g, tmp, out=tmp)
        tmp *= clr
        p -= tmp
