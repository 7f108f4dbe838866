"""Averaged SGD (Polyak & Juditsky): SGD with a decaying rate and a running average of the
iterates (``ax``), the parameters to evaluate with."""
from __future__ import annotations

from .. import backend
from .optimizer import Optimizer


class ASGD(Optimizer):
    r"""ASGD, exactly as ``torch.optim.ASGD``.

    With ``g = ±∇p (+ weight_decay·p)`` (−: ``maximize``), step ``t``, rate η (starting at
    ``lr``) and averaging weight μ (starting at 1)::

        p  ← p·(1 − λ·η) − η·g
        ax ← ax + μ·(p − ax)          (ax ← p while μ = 1)
        η  ← lr / (1 + λ·lr·t)^α;   μ ← 1 / max(1, t − t₀)

    State: ``step``, ``eta`` (η), ``mu`` (μ) (Python numbers, PyTorch's 0-d tensors),
    ``ax`` (the averaged parameters). ``foreach``, ``capturable``, ``differentiable``: see
    :mod:`.optimizer`.
    """

    scalar_state = Optimizer.scalar_state | {"eta", "mu"}

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0.0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        for name, value in (("learning rate", lr), ("weight_decay", weight_decay)):
            if value < 0.0:
                raise ValueError(f"ASGD: invalid {name} {value} (must be >= 0)")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, p, g, state, lr, lambd, alpha, t0, weight_decay, **_):
        xp = backend.xp_of(p)
        lr, lambd = float(lr), float(lambd)
        if not state:
            state["step"] = 0
            state["eta"] = lr
            state["mu"] = 1.0
            state["ax"] = xp.zeros_like(p)
        state["step"] = step = state["step"] + 1
        if weight_decay:
            g = g + float(weight_decay) * p
        eta, mu, ax = state["eta"], state["mu"], state["ax"]
        p *= 1.0 - lambd * eta
        p -= eta * g
        if mu != 1:
            ax += (p - ax) * mu
        else:
            ax[...] = p
        state["eta"] = lr / (1.0 + lambd * lr * step) ** float(alpha)
        state["mu"] = 1.0 / max(1.0, step - float(t0))
