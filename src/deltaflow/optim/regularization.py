"""Explicit regularisation terms to add to a loss (L2 is usually ``weight_decay=`` instead)."""
from __future__ import annotations

from ..tensor import Tensor


def l1_penalty(params, weight: float = 1.0) -> Tensor:
    r"""``weight · Σₚ Σᵢ |pᵢ|`` -- differentiable; add it to the loss for L1 regularisation::

        loss = F.cross_entropy(model(x), y) + dl.optim.l1_penalty(model.parameters(), 1e-4)

    Its gradient is ``weight · sign(p)`` (0 at 0), which drives small weights to exactly
    zero over training. (L2 regularisation ``λ/2·Σp²`` is ``weight_decay=λ`` in SGD, Adam,
    RMSprop and Adagrad; AdamW's decoupled decay is not an L2 term.)
    """
    from .. import functional as F

    terms = [F.abs(p).sum() for p in params]
    if not terms:
        raise ValueError("l1_penalty: got no parameters")
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total * weight
