"""L1 regularisation: add ``λ·l1_penalty(model.parameters())`` to the loss.

(L2 regularisation is weight decay: pass ``weight_decay=`` to the optimizer, or use AdamW
for decoupled decay.)"""
from __future__ import annotations

from ... import functional as _F


def l1_penalty(parameters):
    """Σ_p Σ|p|: the L1 norm of all parameters together, a differentiable scalar whose
    gradient is sign(p)."""
    total = None
    for p in parameters:
        term = _F.abs(p).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l1_penalty: got no parameters")
    return total
