"""NAdam (Dozat): Adam with Nesterov momentum and a decaying momentum schedule."""
from __future__ import annotations

from .. import backend
from .adam import check_options
from .optimizer import Optimizer, with_weight_decay


class NAdam(Optimizer):
    r"""NAdam, exactly as ``torch.optim.NAdam``.

    With ``g = ±∇p`` (−: ``maximize``), ``g ← g + weight_decay·p`` (or, with
    ``decoupled_weight_decay=True``, NAdamW: ``p ← p·(1 − lr·weight_decay)``), step ``t``
    and ψ = ``momentum_decay``::

        μₜ = β₁·(1 − ½·0.96^(t·ψ)),   Πₜ = μ₁·…·μₜ
        m ← β₁·m + (1 − β₁)·g;   v ← β₂·v + (1 − β₂)·g²
        d = √(v / (1 − β₂ᵗ)) + ε
        p ← p − lr·(1 − μₜ)/(1 − Πₜ) · g/d − lr·μₜ₊₁/(1 − Πₜ·μₜ₊₁) · m/d

    State: ``step``, ``mu_product`` (Πₜ; Python numbers, PyTorch's 0-d tensors),
    ``exp_avg`` (m), ``exp_avg_sq`` (v). ``foreach``, ``capturable``, ``differentiable``:
    see :mod:`.optimizer`.
    """

    scalar_state = Optimizer.scalar_state | {"mu_product"}

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        check_options("NAdam", lr, betas, eps, weight_decay)
        if momentum_decay < 0.0:
            raise ValueError(f"NAdam: invalid momentum_decay {momentum_decay} (must be >= 0)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable))

    def _update(self, p, g, state, lr, betas, eps, weight_decay, momentum_decay,
                decoupled_weight_decay, **_):
        xp = backend.xp_of(p)
        lr, eps, weight_decay, psi = float(lr), float(eps), float(weight_decay), \
            float(momentum_decay)
        beta1, beta2 = float(betas[0]), float(betas[1])
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        state["step"] = step = state["step"] + 1
        g = with_weight_decay(p, g, lr, weight_decay, decoupled_weight_decay)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        state["mu_product"] = mu_product = state["mu_product"] * mu
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1.0 - beta1) * g
        v *= beta2
        v += (1.0 - beta2) * (g * g)
        denom = xp.sqrt(v / (1.0 - beta2 ** step))
        denom += eps
        p -= (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        p -= (lr * mu_next / (1.0 - mu_product * mu_next)) * (m / denom)
