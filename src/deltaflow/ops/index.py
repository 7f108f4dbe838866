"""Indexing, gathering and scattering."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of


def is_basic_index(index) -> bool:
    """True for ints, slices, ``None`` and ``...`` only (the result is a view, no duplicates)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """y = x[index];  ∂L/∂x scatters ∂L/∂y back, adding where an index repeats."""

    name = "getitem"

    def forward(self, x, index):
        self.index, self.shape, self.dtype = index, x.shape, x.dtype
        return x[index]

    def backward(self, g):
        xp = xp_of(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if is_basic_index(self.index):
            out[self.index] = g
        else:
            xp.add.at(out, self.index, g)
        return out


def _flat_positions(xp, shape, index, dim):
    """Flat offsets into an array of ``shape`` for ``index`` placed along ``dim``
    (every other axis takes the index's own coordinates)."""
    coords = list(xp.ogrid[tuple(slice(0, n) for n in index.shape)])
    coords[dim] = index
    return xp.ravel_multi_index(tuple(coords), shape)


class Gather(Function):
    """y[i][j] = x[i][index[i][j]] (along ``dim``);  ∂L/∂x adds ∂L/∂y into those positions."""

    def forward(self, x, index, dim):
        xp = xp_of(x)
        self.shape = x.shape
        self.flat = _flat_positions(xp, x.shape, index, dim)
        return x.reshape(-1)[self.flat]

    def backward(self, g):
        xp = xp_of(g)
        size = 1
        for n in self.shape:
            size *= n
        out = xp.bincount(self.flat.reshape(-1), weights=g.reshape(-1), minlength=size)
        return out.astype(g.dtype, copy=False).reshape(self.shape)


class ScatterAdd(Function):
    """y = x, then y[index[i][j]][j] += src[i][j] along ``dim``;
    ∂L/∂x = ∂L/∂y,  ∂L/∂src = ∂L/∂y gathered at ``index``."""

    name = "scatter_add"

    def forward(self, x, src, index, dim):
        xp = xp_of(x)
        self.flat = _flat_positions(xp, x.shape, index, dim)
        self.src_shape, self.part = src.shape, tuple(slice(0, n) for n in index.shape)
        src = src[self.part]
        added = xp.bincount(self.flat.reshape(-1), weights=src.reshape(-1), minlength=x.size)
        return x + added.astype(x.dtype, copy=False).reshape(x.shape)

    def backward(self, g):
        need = self.needs_input_grad
        gsrc = None
        if need[1]:
            gsrc = xp_of(g).zeros(self.src_shape, dtype=g.dtype)
            gsrc[self.part] = g.reshape(-1)[self.flat]
        return (g if need[0] else None), gsrc


class IndexSelect(Function):
    """y = x.take(index, axis=dim);  ∂L/∂x adds each slice of ∂L/∂y into its source row."""

    name = "index_select"

    def forward(self, x, index, dim):
        self.shape, self.index, self.dim = x.shape, index, dim
        return xp_of(x).take(x, index, axis=dim)

    def backward(self, g):
        xp = xp_of(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        moved_out = xp.moveaxis(out, self.dim, 0)
        xp.add.at(moved_out, self.index, xp.moveaxis(g, self.dim, 0))
        return out


class MaskedFill(Function):
    """y = value where mask else x;  ∂L/∂x = ∂L/∂y where not mask, else 0."""

    name = "masked_fill"

    def forward(self, x, mask, value):
        xp = xp_of(x)
        self.mask = mask
        return xp.where(mask, xp.asarray(value, dtype=x.dtype), x)

    def backward(self, g):
        xp = xp_of(g)
        return xp.where(self.mask, xp.zeros((), dtype=g.dtype), g)
