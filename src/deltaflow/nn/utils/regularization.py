"""L1 regularisation: add ``λ·l1_penalty(model.parameters())`` to the loss.

(L2 regularisation ``λ/2·Σp²`` is weight decay: ``weight_decay=λ`` in SGD, Adam, RMSprop
and Adagrad; AdamW's decoupled decay is not an L2 term.)"""
from __future__ import annotations

from ... import functional as _F


def l1_penalty(parameters):
    r"""``Σₚ Σᵢ |pᵢ|``: the L1 norm of all parameters together, a differentiable scalar::

        loss = F.cross_entropy(model(x), y) + 1e-4 * nn.utils.l1_penalty(model.parameters())

    Its gradient is ``sign(p)`` (0 at 0), which drives small weights to exactly zero over
    training."""
    total = None
    for p in parameters:
        term = _F.abs(p).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l1_penalty: got no parameters")
    return total
