"""Shape ops: they move or copy elements without arithmetic, so backward moves them back."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of


class Reshape(Function):
    """y = x viewed with a new shape;  ∂L/∂x = (∂L/∂y) reshaped back."""

    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    """y = x with axes reordered by ``dims``;  ∂L/∂x = (∂L/∂y) with the inverse order."""

    def forward(self, x, dims):
        self.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    def backward(self, g):
        return xp_of(g).transpose(g, self.inverse)


class Expand(Function):
    """y = x broadcast to ``shape`` (a view);  ∂L/∂x = ∂L/∂y summed over broadcast axes."""

    def forward(self, x, shape):
        return xp_of(x).broadcast_to(x, shape)

    def backward(self, g):
        return g  # the engine reduces it back to x's shape


class Cat(Function):
    """y = [x₁; x₂; …] along ``dim``;  ∂L/∂xₖ = the k-th slice of ∂L/∂y."""

    def forward(self, *xs, dim=0):
        self.dim = dim
        self.bounds = np.cumsum([x.shape[dim] for x in xs])[:-1].tolist()
        return xp_of(xs[0]).concatenate(xs, axis=dim)

    def backward(self, g):
        return tuple(xp_of(g).split(g, self.bounds, axis=self.dim))


class Stack(Function):
    """y = stack(x₁, x₂, …) along a new ``dim``;  ∂L/∂xₖ = ∂L/∂y indexed at k."""

    def forward(self, *xs, dim=0):
        self.dim, self.n = dim, len(xs)
        return xp_of(xs[0]).stack(xs, axis=dim)

    def backward(self, g):
        xp = xp_of(g)
        return tuple(xp.take(g, k, axis=self.dim) for k in range(self.n))


class Split(Function):
    """(y₁, y₂, …) = consecutive pieces of x along ``dim``;  ∂L/∂x = [∂L/∂y₁; ∂L/∂y₂; …]."""

    def forward(self, x, sections, dim=0):
        self.dim = dim
        bounds = np.cumsum(sections)[:-1].tolist()
        return tuple(xp_of(x).split(x, bounds, axis=dim))

    def backward(self, *gs):
        return xp_of(gs[0]).concatenate(gs, axis=self.dim)


class Flip(Function):
    """y = x reversed along ``dims``;  ∂L/∂x = ∂L/∂y reversed the same way."""

    def forward(self, x, dims):
        self.dims = dims
        return xp_of(x).flip(x, axis=dims)

    def backward(self, g):
        return xp_of(g).flip(g, axis=self.dims)


class Roll(Function):
    """y = x rotated by ``shifts`` along ``dims``;  ∂L/∂x = ∂L/∂y rotated back."""

    def forward(self, x, shifts, dims=None):
        self.shifts, self.dims, self.shape = shifts, dims, x.shape
        return xp_of(x).roll(x, shifts, axis=dims)

    def backward(self, g):
        xp = xp_of(g)
        if self.dims is None:
            return xp.roll(g.reshape(-1), -self.shifts).reshape(self.shape)
        neg = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return xp.roll(g, neg, axis=self.dims)


class Tile(Function):
    """y = x repeated ``reps`` times along each axis (``torch.repeat``/``tile``);
    ∂L/∂x = Σ over the copies of ∂L/∂y."""

    name = "repeat"

    def forward(self, x, reps):
        self.in_shape = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps, self.x_shape = reps, x.shape
        return xp_of(x).tile(x, reps)

    def backward(self, g):
        split = []
        for r, s in zip(self.reps, self.in_shape):
            split += [r, s]
        g = xp_of(g).sum(g.reshape(split), axis=tuple(range(0, len(split), 2)))
        return g.reshape(self.x_shape)


class Pad(Function):
    """y = x padded by ``widths`` ((before, after) per axis) with a constant, or by
    reflecting / replicating / wrapping its edges;  ∂L/∂x = the sum of ∂L/∂y over every
    output position that copied each input element."""

    def forward(self, x, widths, mode="constant", value=0.0):
        xp = xp_of(x)
        self.widths, self.mode, self.shape = widths, mode, x.shape
        if mode == "constant":
            return xp.pad(x, widths, mode="constant", constant_values=value)
        np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        self.index = []
        out = x
        for axis, (lo, hi) in enumerate(widths):
            if lo or hi:
                idx = np.pad(np.arange(x.shape[axis]), (lo, hi), mode=np_mode)
                self.index.append((axis, idx))
                out = xp.take(out, xp.asarray(idx), axis=axis)
        return out

    def backward(self, g):
        xp = xp_of(g)
        if self.mode == "constant":
            sl = tuple(slice(lo, g.shape[a] - hi) for a, (lo, hi) in enumerate(self.widths))
            return g[sl]
        for axis, idx in reversed(self.index):
            n = int(idx.max()) + 1
            moved = xp.moveaxis(g, axis, 0)
            out = xp.zeros((n,) + moved.shape[1:], dtype=g.dtype)
            xp.add.at(out, xp.asarray(idx), moved)
            g = xp.moveaxis(out, 0, axis)
        return g

    def backward_graph(self, g):
        if self.mode == "constant":
            return super().backward_graph(g)
        from .index import PutAddFlat, positions_of
        xp = xp_of(g.data)
        positions = positions_of(self.shape, Ellipsis, xp)
        for axis, idx in self.index:   # where each output element was copied from
            positions = xp.take(positions, xp.asarray(idx), axis=axis)
        return PutAddFlat.apply(g, positions=positions, shape=self.shape)
