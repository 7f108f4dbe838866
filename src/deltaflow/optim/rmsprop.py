"""RMSprop (Hinton), with momentum and the centered variant."""
from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, with_weight_decay


class RMSprop(Optimizer):
    r"""RMSprop, exactly as ``torch.optim.RMSprop``.

    With ``g = ±∇p (+ weight_decay·p)`` (−: ``maximize``)::

        s ← α·s + (1 − α)·g²
        ḡ ← α·ḡ + (1 − α)·g                       (centered only)
        d ← √(s − ḡ²) + ε   if centered  else  √s + ε
        buf ← momentum·buf + g/d;  p ← p − lr·buf     (momentum > 0)
        p ← p − lr·g/d                                  (otherwise)

    State: ``step``, ``square_avg`` (s), ``grad_avg`` (ḡ), ``momentum_buffer``.
    ``foreach``, ``capturable``, ``differentiable``: see :mod:`.optimizer`.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        for name, value in (("learning rate", lr), ("eps", eps), ("momentum", momentum),
                            ("weight_decay", weight_decay), ("alpha", alpha)):
            if value < 0.0:
                raise ValueError(f"RMSprop: invalid {name} {value} (must be >= 0)")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      capturable=capturable, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable))

    def _update(self, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, **_):
        xp = backend.xp_of(p)
        lr, alpha, eps = float(lr), float(alpha), float(eps)
        weight_decay, momentum = float(weight_decay), float(momentum)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p)
            if centered:
                state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1
        g = with_weight_decay(p, g, lr, weight_decay)
        s = state["square_avg"]
        tmp = xp.multiply(g, g)
        tmp *= 1.0 - alpha
        s *= alpha
        s += tmp
        if centered:
            ga = state["grad_avg"]
            ga *= alpha
            ga += (1.0 - alpha) * g
            xp.multiply(ga, ga, out=tmp)
            xp.subtract(s, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(s, out=tmp)
        tmp += eps
        xp.divide(g, tmp, out=tmp)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += tmp
            xp.multiply(buf, lr, out=tmp)
        else:
            tmp *= lr
        p -= tmp
