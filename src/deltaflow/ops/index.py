"""Indexing, gathering and scattering."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..ufunc_methods import assign_last, reduce_at


def is_basic_index(index) -> bool:
    """True for ints, slices, ``None`` and ``...`` only (the result is a view, no duplicates)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


def positions_of(shape, index, xp):
    """The flat offsets of ``x[index]``'s elements in an array ``x`` of ``shape`` (any
    index: slices, integer arrays, masks): ``arange(size).reshape(shape)[index]``."""
    size = 1
    for n in shape:
        size *= n
    return xp.arange(size).reshape(shape)[index]


class TakeFlat(Function):
    """y = x.flat[positions] (an array of flat offsets, any shape, repeats allowed);
    ∂L/∂x = ∂L/∂y added into those offsets: :class:`PutAddFlat`. With it, the pair is how
    every indexing op backpropagates under create_graph (each is the other's adjoint)."""

    name = "take"

    def forward(self, x, positions):
        self.shape, self.positions = x.shape, positions
        return x.reshape(-1)[positions]

    def backward(self, g):
        return _put_add(g, self.positions, self.shape)

    def backward_graph(self, g):
        return PutAddFlat.apply(g, positions=self.positions, shape=self.shape)


class PutAddFlat(Function):
    """y = zeros(shape), then y.flat[positions] += g (repeated offsets add up);
    ∂L/∂g = (∂L/∂y).flat[positions]: :class:`TakeFlat`."""

    name = "put_add"

    def forward(self, g, positions, shape):
        self.positions = positions
        return _put_add(g, positions, shape)

    def backward(self, u):
        return u.reshape(-1)[self.positions]

    def backward_graph(self, u):
        return TakeFlat.apply(u, positions=self.positions)


def _put_add(g, positions, shape):
    """zeros(shape) with g added at the flat ``positions`` (bincount: one pass)."""
    xp = xp_of(g)
    size = 1
    for n in shape:
        size *= n
    out = xp.bincount(positions.reshape(-1), weights=g.reshape(-1), minlength=size)
    return out.astype(g.dtype, copy=False).reshape(shape)


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

    def backward_graph(self, g):
        return PutAddFlat.apply(g, positions=positions_of(self.shape, self.index, xp_of(
            g.data)), shape=self.shape)


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

    def backward_graph(self, g):
        return PutAddFlat.apply(g, positions=self.flat, shape=self.shape)


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
        gsrc = _to_src(g.reshape(-1)[self.flat], self) if need[1] else None
        return (g if need[0] else None), gsrc

    def backward_graph(self, g):
        need = self.needs_input_grad
        return (g if need[0] else None), (_to_src_graph(g, self) if need[1] else None)


def _to_src(values, op):
    """Gradients for the part of ``src`` that ``index`` covers, zero elsewhere."""
    out = xp_of(values).zeros(op.src_shape, dtype=values.dtype)
    out[op.part] = values.reshape(out[op.part].shape)
    return out


def _to_src_graph(g, op):
    """:func:`_to_src` of ``g`` at the op's flat offsets, recorded (create_graph)."""
    taken = TakeFlat.apply(g, positions=op.flat.reshape(-1))
    xp = xp_of(g.data)
    return PutAddFlat.apply(taken, positions=positions_of(op.src_shape, op.part, xp).reshape(-1),
                            shape=op.src_shape)


class Scatter(Function):
    """y = x, then y[index[i][j]][j] = src[i][j] along ``dim`` (where an index repeats, one
    write wins: the last here, unspecified in PyTorch);
    ∂L/∂x = ∂L/∂y with the written positions set to 0, ∂L/∂src = ∂L/∂y gathered at ``index``
    (for every src element, also one whose write lost, as PyTorch)."""

    def forward(self, x, src, index, dim):
        xp = xp_of(x)
        self.flat = _flat_positions(xp, x.shape, index, dim).reshape(-1)
        self.src_shape, self.part = src.shape, tuple(slice(0, n) for n in index.shape)
        out = x.copy()
        assign_last(out.reshape(-1), self.flat, src[self.part].reshape(-1))
        return out

    def backward(self, g):
        need = self.needs_input_grad
        gx = gsrc = None
        if need[0]:
            gx = g.copy()
            gx.reshape(-1)[self.flat] = 0
        if need[1]:
            gsrc = _to_src(g.reshape(-1)[self.flat], self)
        return gx, gsrc

    def backward_graph(self, g):
        need = self.needs_input_grad
        gx = gsrc = None
        if need[0]:
            keep = xp_of(g.data).ones(g.shape, dtype=g.dtype)
            keep.reshape(-1)[self.flat] = 0
            gx = g * keep
        if need[1]:
            gsrc = _to_src_graph(g, self)
        return gx, gsrc


class ScatterReduce(Function):
    """y = x with src reduced into it along ``dim``: for each position p that ``index`` writes,
    yₚ = reduce of the members of p, {srcᵢ : i written to p} and xₚ when ``include_self``;
    elsewhere yₚ = xₚ.  ``reduce``: sum, prod, mean, amax, amin.

    ∂yₚ/∂member (PyTorch's rules): sum 1; mean 1/Nₚ (Nₚ members); prod the product of the
    other members (exact also with zeros); amax/amin 1/k for each of the k members equal to
    yₚ (ties split evenly). Without ``include_self`` xₚ gets 0 at the written positions."""

    IDENTITY = {"sum": 0, "mean": 0, "prod": 1}
    UFUNC = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum",
             "amin": "minimum"}

    def forward(self, x, src, index, dim, reduce, include_self=True):
        xp = xp_of(x)
        flat = _flat_positions(xp, x.shape, index, dim).reshape(-1)
        self.src_shape, self.part = src.shape, tuple(slice(0, n) for n in index.shape)
        s = src[self.part].reshape(-1)
        written = xp.zeros(x.size, dtype=bool)
        written[flat] = True
        out = x.copy().reshape(-1)
        if not include_self:  # start from the reduction's identity (amax/amin: a member)
            out[flat] = s if reduce in ("amax", "amin") else self.IDENTITY[reduce]
        reduce_at(self.UFUNC[reduce], out, flat, s)
        members = xp.bincount(flat, minlength=x.size) + int(include_self)
        if reduce == "mean":
            n = xp.maximum(members, 1).astype(out.dtype)
            out = xp.where(members > 0, out / n if out.dtype.kind == "f" else out // n, out)
        self.x, self.s, self.flat, self.out = x.reshape(-1), s, flat, out
        self.written, self.members, self.reduce = written, members, reduce
        self.include_self, self.shape = include_self, x.shape
        return out.reshape(x.shape)

    def backward(self, g):
        xp = xp_of(g)
        g = g.reshape(-1)
        x, s, flat, out, reduce = self.x, self.s, self.flat, self.out, self.reduce
        if reduce == "sum":
            gx, gs = g, g[flat]
        elif reduce == "mean":
            per_member = g / xp.maximum(self.members, 1)
            gx, gs = per_member, per_member[flat]
        elif reduce == "prod":
            gx, gs = self._prod_grads(xp, g)
        else:
            self_is = x == out
            if not self.include_self:
                self_is &= ~self.written
            src_is = s == out[flat]
            ties = self_is + xp.bincount(flat, weights=src_is, minlength=x.size)
            per_tie = g / xp.maximum(ties, 1)
            gx, gs = self_is * per_tie, src_is * per_tie[flat]
        if not self.include_self:
            gx = xp.where(self.written, 0, gx)
        return gx.reshape(self.shape), _to_src(gs, self)

    def backward_graph(self, g):
        """The reduction recomputed densely: row p of a (size of x) × (members) matrix holds
        the members of position p (and xₚ with ``include_self``), the reduction's identity
        elsewhere; reducing each row is ordinary differentiable ops (O(size·members))."""
        reduce, flat, include_self, shape = self.reduce, self.flat, self.include_self, \
            self.shape
        written = self.written
        part, size = self.part, written.shape[0]

        def dense(x, src):
            xp = xp_of(x)
            xf, sf = x.reshape(-1), src[part].reshape(-1)
            member = np.arange(size)[:, None] == flat[None, :]
            fill = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "amax": -np.inf,
                    "amin": np.inf}[reduce]
            rows = xp.where(member, xp.expand_dims(sf, 0), fill)
            if include_self:
                rows = xp.concatenate([xp.expand_dims(xf, 1), rows], axis=1)
            if reduce in ("sum", "mean"):
                out = xp.sum(rows, axis=1)
                if reduce == "mean":
                    out = out / np.maximum(self.members, 1)
            elif reduce == "prod":
                out = xp.prod(rows, axis=1)
            else:
                out = (xp.max if reduce == "amax" else xp.min)(rows, axis=1)
            return xp.where(written, out, xf).reshape(shape)

        return self.recompute_backward(dense, g)

    def _prod_grads(self, xp, g):
        """∂yₚ/∂xₚ = Π srcᵢ at p; ∂yₚ/∂srcᵢ = xₚ · Π of p's other src elements, that
        product found as Π(non-zero)/srcᵢ, or Π(non-zero) for p's only zero, or 0."""
        x, s, flat = self.x, self.s, self.flat
        src_product = xp.ones_like(x)
        reduce_at("multiply", src_product, flat, s)
        is_zero = s == 0
        nonzero_product = xp.ones_like(x)
        reduce_at("multiply", nonzero_product, flat, xp.where(is_zero, 1, s))
        zeros = xp.bincount(flat, weights=is_zero, minlength=x.size)[flat]
        others = nonzero_product[flat] * xp.where(
            is_zero, zeros == 1, (zeros == 0) / xp.where(is_zero, 1, s))
        if self.include_self:
            others = others * x[flat]
        return g * src_product, g[flat] * others


class IndexAdd(Function):
    """y = x, then y[…, index[i], …] += src[…, i, …] along ``dim`` (repeated indices add up);
    ∂L/∂x = ∂L/∂y,  ∂L/∂src = ∂L/∂y taken at ``index`` along ``dim``."""

    name = "index_add"

    def forward(self, x, src, index, dim):
        xp = xp_of(x)
        self.index, self.dim = index, dim
        out = x.copy()
        xp.add.at(xp.moveaxis(out, dim, 0), index, xp.moveaxis(src, dim, 0))
        return out

    def backward(self, g):
        need = self.needs_input_grad
        gsrc = xp_of(g).take(g, self.index, axis=self.dim) if need[1] else None
        return (g if need[0] else None), gsrc

    def backward_graph(self, g):
        need = self.needs_input_grad
        gsrc = None
        if need[1]:
            xp = xp_of(g.data)
            positions = xp.take(positions_of(g.shape, Ellipsis, xp), self.index, axis=self.dim)
            gsrc = TakeFlat.apply(g, positions=positions)
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

    def backward_graph(self, g):
        xp = xp_of(g.data)
        positions = xp.take(positions_of(self.shape, Ellipsis, xp), self.index, axis=self.dim)
        return PutAddFlat.apply(g, positions=positions, shape=self.shape)


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
