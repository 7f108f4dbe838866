"""Matrix products, triangles and diagonals of matrices, the cross product."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of


class MatMul(Function):
    """C = A @ B (with NumPy's 1-D and batch-broadcast rules);
    ∂L/∂A = ∂L/∂C · Bᵀ,  ∂L/∂B = Aᵀ · ∂L/∂C."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp_of(a).matmul(a, b)

    def backward(self, g):
        xp = xp_of(g)
        a, b = self.a, self.b
        need = self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:
            return (g * b if need[0] else None), (g * a if need[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if need[0]:
            ga = xp.matmul(g2, b2.swapaxes(-1, -2))
            if a.ndim == 1:
                ga = xp.sum(ga.reshape(-1, a.shape[0]), axis=0)
        if need[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # B is shared by the whole batch: fold the batch into rows, one GEMM
                gb = a2.reshape(-1, a2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gb = xp.matmul(a2.swapaxes(-1, -2), g2)
            if b.ndim == 1:
                gb = xp.sum(gb.reshape(-1, b.shape[0]), axis=0)
        return ga, gb


class Tril(Function):
    """z = a on and below diagonal k of the last two dims, else 0;  ∂L/∂a = tril(∂L/∂z, k)."""

    def forward(self, a, diagonal=0):
        self.k = diagonal
        return xp_of(a).tril(a, diagonal)

    def backward(self, g):
        return xp_of(g).tril(g, self.k)


class Triu(Function):
    """z = a on and above diagonal k of the last two dims, else 0;  ∂L/∂a = triu(∂L/∂z, k)."""

    def forward(self, a, diagonal=0):
        self.k = diagonal
        return xp_of(a).triu(a, diagonal)

    def backward(self, g):
        return xp_of(g).triu(g, self.k)


def embed_diagonal(xp, d, shape, offset, dim1, dim2):
    """An array of ``shape``, zero except its diagonal ``offset`` of dims (dim1, dim2),
    which holds ``d`` (that diagonal's entries along d's last dim, as ``xp.diagonal`` gives
    them)."""
    moved = [n for i, n in enumerate(shape) if i not in (dim1, dim2)] + [shape[dim1],
                                                                         shape[dim2]]
    out = xp.zeros(moved, dtype=d.dtype)
    n = d.shape[-1]
    rows = xp.arange(n) + max(-offset, 0)
    out[..., rows, rows + offset] = d
    return xp.moveaxis(out, (-2, -1), (dim1, dim2))


class Diagonal(Function):
    """z = the diagonal ``offset`` of dims (dim1, dim2), as a last dim (a read-only view);
    ∂L/∂a = ∂L/∂z on that diagonal, 0 elsewhere."""

    def forward(self, a, offset=0, dim1=0, dim2=1):
        self.shape, self.options = a.shape, (offset, dim1, dim2)
        return xp_of(a).diagonal(a, offset, dim1, dim2)

    def backward(self, g):
        return embed_diagonal(xp_of(g), g, self.shape, *self.options)

    def backward_graph(self, g):
        offset, dim1, dim2 = self.options
        return DiagEmbed.apply(g, shape=self.shape, offset=offset, dim1=dim1, dim2=dim2)


class DiagEmbed(Function):
    """z = zeros with a's last dim on the diagonal ``offset`` of dims (dim1, dim2) (z has
    one dim more than a);  ∂L/∂a = that diagonal of ∂L/∂z."""

    def forward(self, a, shape, offset=0, dim1=-2, dim2=-1):
        self.options = (offset, dim1, dim2)
        return embed_diagonal(xp_of(a), a, shape, offset, dim1, dim2)

    def backward(self, g):
        return xp_of(g).diagonal(g, *self.options)


class Cross(Function):
    """z = a × b along ``dim`` (of size 3);  ∂L/∂a = b × ∂L/∂z,  ∂L/∂b = ∂L/∂z × a
    (from (a × b)·g = a·(b × g) = b·(g × a))."""

    def forward(self, a, b, dim=-1):
        self.a, self.b, self.dim = a, b, dim
        return xp_of(a).cross(a, b, axis=dim)

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        ga = xp.cross(self.b, g, axis=self.dim) if need[0] else None
        gb = xp.cross(g, self.a, axis=self.dim) if need[1] else None
        return ga, gb
