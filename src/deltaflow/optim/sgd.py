"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from . import fused
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""SGD, exactly as ``torch.optim.SGD``.

    With ``g = ±∇p (+ weight_decay·p)`` (−: ``maximize``)::

        buf ← g                                      (first step)
        buf ← momentum·buf + (1 − dampening)·g       (later steps)
        d   ← g + momentum·buf   if nesterov  else  buf       (d = g without momentum)
        p   ← p − lr·d

    The update is :mod:`.fused`'s: with momentum three in-place passes, ``buf *= μ``,
    ``buf += g``, ``p -= lr·buf``, or for large parameters with Numba installed one fused
    loop that gives the same numbers. ``foreach``, ``fused`` and ``differentiable``: see
    :mod:`.optimizer` (no effect; ``differentiable=True`` refused).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None):
        if lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate {lr} (must be >= 0)")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum {momentum} (must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay {weight_decay} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _update(self, p, g, state, lr, momentum, dampening, weight_decay, nesterov, **_):
        momentum = float(momentum)
        buf = state.get("momentum_buffer") if momentum else None   # None: the first step
        buf = fused.pick(p, *((buf,) if momentum else ())).sgd(
            p, g, buf, lr=float(lr), momentum=momentum, dampening=float(dampening),
            weight_decay=float(weight_decay), nesterov=bool(nesterov), scaled=self._scaled)
        if momentum:
            state["momentum_buffer"] = buf
