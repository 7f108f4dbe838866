"""Rprop (Riedmiller & Braun): per-element step sizes adapted from the gradient's sign."""
from __future__ import annotations

from .. import backend
from .optimizer import Optimizer


class Rprop(Optimizer):
    r"""Rprop, exactly as ``torch.optim.Rprop``.

    With ``g = ±∇p`` (−: ``maximize``), the previous step's (masked) gradient ``g′``,
    ``etas = (η⁻, η⁺)`` and ``step_sizes = (Δmin, Δmax)``::

        f = η⁺ where g·g′ > 0,  η⁻ where g·g′ < 0,  1 elsewhere
        Δ ← clamp(Δ·f, Δmin, Δmax)                    (Δ starts at lr)
        g ← 0 where g·g′ < 0                          (no step after a sign change)
        p ← p − sign(g)·Δ;   g′ ← g

    State: ``step``, ``prev`` (g′), ``step_size`` (Δ). ``foreach``, ``capturable``,
    ``differentiable``: see :mod:`.optimizer`.
    """

    def __init__(self, params, lr: float = 1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        if lr < 0.0:
            raise ValueError(f"Rprop: invalid learning rate {lr} (must be >= 0)")
        if len(etas) != 2 or not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: invalid etas {tuple(etas)} (need 0 < etaminus < 1 < "
                             f"etaplus)")
        if len(step_sizes) != 2:
            raise ValueError(f"Rprop: step_sizes must be (min, max), got {step_sizes}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable))

    def _update(self, p, g, state, lr, etas, step_sizes, **_):
        xp = backend.xp_of(p)
        if not state:
            state["step"] = 0
            state["prev"] = xp.zeros_like(p)
            state["step_size"] = xp.full_like(p, float(lr))
        state["step"] += 1
        prev, step_size = state["prev"], state["step_size"]
        agreement = g * prev
        flipped = agreement < 0
        factor = xp.where(agreement > 0, p.dtype.type(etas[1]),
                          xp.where(flipped, p.dtype.type(etas[0]), p.dtype.type(1.0)))
        step_size *= factor
        xp.clip(step_size, float(step_sizes[0]), float(step_sizes[1]), out=step_size)
        g = xp.where(flipped, p.dtype.type(0.0), g)
        p -= xp.sign(g) * step_size
        prev[...] = g
