"""Max pooling's forward (the maximum and its arg-max) and backward, as NumPy/CuPy passes
for any window and as loops compiled by Numba when it is installed (see
:mod:`deltaflow.jit`) for disjoint 2 × 2 windows (stride 2, no padding, no dilation: the
pooling of nearly every CNN). Training uses the maximum and its arg-max; inference, which
needs no arg-max, uses the maximum alone.

Both work on the batch-last ``(C, H, W, N)`` image of :mod:`deltaflow.ops.conv`; the
2 × 2 window (i, j) holds x₀ = x[2i, 2j], x₁ = x[2i, 2j+1], x₂ = x[2i+1, 2j],
x₃ = x[2i+1, 2j+1].

``max``         y = max over the window, NumPy's ``maximum`` over the window elements in
                order: y = max(max(max(x₀, x₁), x₂), x₃) (NaN propagates)
``max_argmax``  y = max over the window (NumPy's ``maximum``: NaN propagates, of two
                equal values the second) and k = the first window element attaining
                it, by a pairwise tournament: for 2 × 2, y = max(max(x₀, x₁), max(x₂, x₃)),
                k = (3 if x₃ > x₂ else 2) if max(x₂, x₃) > max(x₀, x₁) else
                (1 if x₁ > x₀ else 0) (strict ``>``: ties keep the earlier element)
``route``       ∂L/∂x = ∂L/∂y at each window's element k, 0 elsewhere (and on the row or
                column an odd H or W leaves out)

The passes are max passes (``max``) and compare/max/integer passes (``max_argmax``) over
the window's strided views and a zeroed image written through masked multiplies
(:func:`deltaflow.ops.pool._scatter`); each loop is one pass that reads a window's four
elements and writes y (and k), or writes the window's four gradients, so both give the
same numbers. NumPy's chain of maximum passes reads and writes the whole output three
times, the loop once: 1.5–1.7× faster on the benchmark CNN's batch-last (250, 64, 14, 14)
and (250, 32, 28, 28) images, a tie at batch 1, where the size gate keeps the passes.
``pick(xb, geometry)`` returns the loops for NumPy float32/float64 images of at least
``MIN_SIZE`` elements pooled by ``geometry == TWO_BY_TWO``; the loops take any strides.
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes

#: (kernel, stride, dilation, padding) of the pooling the loops implement
TWO_BY_TWO = ((2, 2), (2, 2), (1, 1), (0, 0))


def max_and_argmax(views):
    """(elementwise max over ``views``, index of the first view attaining it), by a
    pairwise tournament: neighbours are compared with a strict ``>`` so ties keep the
    earlier view, and winners meet winners in order. Uses only max/compare/integer
    arithmetic passes (no ``where``, no masked copies); the max propagates NaN."""
    xp = xp_of(views[0])
    itype = np.uint8 if len(views) <= 256 else np.int32
    level = [(v, k) for k, v in enumerate(views)]  # (values, index: int or array)
    while len(level) > 1:
        nxt = []
        for (a, ia), (b, ib) in zip(level[0::2], level[1::2]):
            later = xp.greater(b, a)          # strict: a tie keeps the earlier index
            m = xp.maximum(a, b)
            idx = later.astype(itype)         # ia + later·(ib − ia), wrap-around ints
            if not (isinstance(ia, int) and isinstance(ib, int)):  # leaves: ib − ia = 1
                idx *= (itype(ib) if isinstance(ib, int) else ib) - ia
            if not isinstance(ia, int) or ia:
                idx += itype(ia) if isinstance(ia, int) else ia
            nxt.append((m, idx))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    out, idx = level[0]
    if isinstance(idx, int):  # a single view (1×1 window)
        out, idx = out.copy(), xp.zeros(out.shape, dtype=itype)
    return out, idx


def _max(x, y):
    C, Ho, Wo, N = y.shape
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                for n in range(N):
                    m = x[c, 2 * i, 2 * j, n]
                    x1 = x[c, 2 * i, 2 * j + 1, n]
                    m = m if (m > x1 or m != m) else x1                # NumPy's maximum
                    x2 = x[c, 2 * i + 1, 2 * j, n]
                    m = m if (m > x2 or m != m) else x2
                    x3 = x[c, 2 * i + 1, 2 * j + 1, n]
                    y[c, i, j, n] = m if (m > x3 or m != m) else x3


def _max_argmax(x, y, k):
    C, Ho, Wo, N = y.shape
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                for n in range(N):
                    x0 = x[c, 2 * i, 2 * j, n]
                    x1 = x[c, 2 * i, 2 * j + 1, n]
                    x2 = x[c, 2 * i + 1, 2 * j, n]
                    x3 = x[c, 2 * i + 1, 2 * j + 1, n]
                    m01 = x0 if (x0 > x1 or x0 != x0) else x1      # NumPy's maximum
                    m23 = x2 if (x2 > x3 or x2 != x2) else x3
                    k01 = 1 if x1 > x0 else 0
                    k23 = 3 if x3 > x2 else 2
                    y[c, i, j, n] = m01 if (m01 > m23 or m01 != m01) else m23
                    k[c, i, j, n] = k23 if m23 > m01 else k01


def _route(g, k, gx):
    C, Ho, Wo, N = g.shape
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                for n in range(N):
                    gk, kk = g[c, i, j, n], k[c, i, j, n]
                    gx[c, 2 * i, 2 * j, n] = gk * (kk == 0)
                    gx[c, 2 * i, 2 * j + 1, n] = gk * (kk == 1)
                    gx[c, 2 * i + 1, 2 * j, n] = gk * (kk == 2)
                    gx[c, 2 * i + 1, 2 * j + 1, n] = gk * (kk == 3)


class _Passes(Passes):
    def max(self, xb, views, out_hw):
        """y of batch-last shape (C, Ho, Wo, N): the max over the window ``views``."""
        xp = xp_of(xb)
        out = views[0].copy() if len(views) == 1 else xp.maximum(views[0], views[1])
        for v in views[2:]:
            xp.maximum(out, v, out=out)
        return out

    def max_argmax(self, xb, views, out_hw):
        """(y, k) of batch-last shape (C, Ho, Wo, N) over the window ``views`` of ``xb``."""
        return max_and_argmax(views)

    def route(self, gb, k, padded_shape, scatter):
        """∂L/∂x_pad (``padded_shape``) from the batch-last ∂L/∂y ``gb`` and the arg-max
        ``k``, through ``scatter(weights)`` (:func:`deltaflow.ops.pool._scatter` of the
        pooling's geometry)."""
        return scatter(lambda w: k == w)


class _Compiled(Compiled):
    def max(self, xb, views, out_hw):
        y = np.empty((xb.shape[0], *out_hw, xb.shape[3]), dtype=xb.dtype)
        self.loops.max(xb, y)
        return y

    def max_argmax(self, xb, views, out_hw):
        shape = (xb.shape[0], *out_hw, xb.shape[3])
        y, k = np.empty(shape, dtype=xb.dtype), np.empty(shape, dtype=np.uint8)
        self.loops.max_argmax(xb, y, k)
        return y, k

    def route(self, gb, k, padded_shape, scatter):
        _, H, W, _ = padded_shape
        gx = (np.zeros if H % 2 or W % 2 else np.empty)(padded_shape, dtype=gb.dtype)
        self.loops.route(gb, k, gx)
        return gx


def _applies(xb, geometry):
    return xb.size >= MIN_SIZE and geometry == TWO_BY_TWO


pick = Kernels(_Passes(), _Compiled, _applies, max=_max, max_argmax=_max_argmax,
               route=_route).pick
