"""col2im, the adjoint of im2col (:mod:`deltaflow.ops.conv`), as NumPy/CuPy passes and as a
loop compiled by Numba when it is installed (see :mod:`deltaflow.jit`):

``col2im``  x[c, i·sh + p·dh, j·sw + q·dw, n] += cols[c, p, q, i, j, n]  for every kernel
            offset (p, q) in order, into a zeroed batch-last (C, Hp, Wp, N) image

The passes are one strided add per kernel offset over the whole image (kh·kw passes over
the image and the columns: 9 for a 3 × 3 kernel); the loop adds the offsets channel by
channel, so each channel's image stays in cache while its columns stream past once
(conv2 of the `cnn` benchmark, a (32·3·3) × (14·14·64) column gradient: 2.4 → ≈ 1 ms;
docs/performance.md). Every image element receives its terms in the same (p, q) order,
starting from zero, on both paths: the same bits. ``pick(cols)`` returns the loop for a
C-ordered NumPy float array of at least ``MIN_SIZE`` values, else the passes.
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes


def _col2im(cols, out, sh, sw, dh, dw):
    C, kh, kw, Ho, Wo, N = cols.shape
    for c in range(C):
        for p in range(kh):
            for q in range(kw):
                for i in range(Ho):
                    for j in range(Wo):
                        y, x = i * sh + p * dh, j * sw + q * dw
                        for n in range(N):
                            out[c, y, x, n] += cols[c, p, q, i, j, n]


class _Passes(Passes):
    def col2im(self, cols, padded_hw, stride, dilation):
        from .conv import window_slice  # conv imports this module
        C, kh, kw, Ho, Wo, N = cols.shape
        out = xp_of(cols).zeros((C,) + tuple(padded_hw) + (N,), dtype=cols.dtype)
        for p in range(kh):
            for q in range(kw):
                out[window_slice(p, q, stride, dilation, (Ho, Wo))] += cols[:, p, q]
        return out


class _Compiled(Compiled):
    def col2im(self, cols, padded_hw, stride, dilation):
        out = np.zeros((cols.shape[0],) + tuple(padded_hw) + (cols.shape[5],), dtype=cols.dtype)
        self.loops.col2im(cols, out, *stride, *dilation)
        return out


def _applies(cols):
    return cols.size >= MIN_SIZE and cols.ndim == 6 and cols.flags.c_contiguous


pick = Kernels(_Passes(), _Compiled, _applies, col2im=_col2im).pick
