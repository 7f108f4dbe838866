"""Assignment into positions, as an op: what ``x[index] = v`` records."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of
from .index import TakeFlat, positions_of


class IndexPut(Function):
    """y = x with y[index] = v (``v`` broadcast to ``x[index]``'s shape, cast to x's dtype);
    ∂L/∂x = ∂L/∂y with the written positions set to 0, ∂L/∂v = (∂L/∂y)[index] (summed back to
    ``v``'s shape by the engine; a position written twice sends its gradient to both)."""

    name = "index_put"

    def forward(self, x, v, index):
        self.index = index
        out = x.copy()
        out[index] = v
        return out

    def backward(self, g):
        need = self.needs_input_grad
        gx = None
        if need[0]:
            gx = g.copy()
            gx[self.index] = 0
        return gx, (g[self.index] if need[1] else None)

    def backward_graph(self, g):
        need = self.needs_input_grad
        gx = gv = None
        if need[0]:
            keep = xp_of(g.data).ones(g.shape, dtype=g.dtype)
            keep[self.index] = 0
            gx = g * keep
        if need[1]:
            gv = TakeFlat.apply(g, positions=positions_of(g.shape, self.index, xp_of(g.data)))
        return gx, gv
