"""Max and average pooling over strided views: one vectorised pass per kernel offset.

Like :mod:`deltaflow.ops.conv`, pooling works on the channel-major ``(C, N, H, W)`` view of
its input and returns its output as a view of channel-major memory. The window element
(p, q) of every output position is the strided slice ``x_pad[:, :, p·dh + sh·i, q·dw + sw·j]``
(:func:`~deltaflow.ops.conv.window_slice`), so forward is kh·kw elementwise passes and
backward is kh·kw strided writes -- assignments when windows do not overlap, adds when they
do. No ``np.add.at`` anywhere.

One-dimensional inputs ``(N, C, L)`` run as images of height 1.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from .conv import _as_2d, channel_major, window_slice


def _as_2d_shape(shape):
    """(H, W) of an image batch, (1, L) of a signal batch."""
    return (shape[2], shape[3]) if len(shape) == 4 else (1, shape[2])


def _batch_major(yc, ndim):
    """A channel-major (C, N, H, W) result as the (N, C, H, W) (or (N, C, L)) view."""
    y = yc.transpose(1, 0, 2, 3)
    return y[:, :, 0] if ndim == 3 else y


def pool_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
              ceil_mode: bool) -> tuple[int, int]:
    """(number of windows, padding needed after the input) along one axis, PyTorch's rule:
    ⌊ or ⌈(size + 2p − d·(k−1) − 1)/s⌉ + 1, where with ``ceil_mode`` the last window must
    start inside the input or its left padding."""
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    n = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (n - 1) * stride >= size + padding:
        n -= 1
    return n, max(padding, (n - 1) * stride + span - size - padding)


def _geometry(shape, kernel_size, stride, padding, dilation, ceil_mode):
    (Ho, hb), (Wo, wb) = (pool_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                          zip(shape[2:], kernel_size, stride, padding, dilation))
    pads = ((padding[0], hb), (padding[1], wb))
    return (Ho, Wo), pads


def _disjoint(kernel_size, stride, dilation) -> bool:
    """True when no input element belongs to two windows (backward may assign, not add)."""
    return all(k == 1 or s >= d * (k - 1) + 1
               for k, s, d in zip(kernel_size, stride, dilation))


def _scatter(gc, weights, padded_shape, kernel_size, stride, dilation, out_hw):
    """Σ over kernel offsets k of ``gc · weights(k)`` written into the window slices of a
    zero (C, N, Hp, Wp) image (assigned when the windows are disjoint, added otherwise)."""
    xp = xp_of(gc)
    out = xp.zeros(padded_shape, dtype=gc.dtype)
    disjoint = _disjoint(kernel_size, stride, dilation)
    kh, kw = kernel_size
    for p in range(kh):
        for q in range(kw):
            sl = out[window_slice(p, q, stride, dilation, out_hw)]
            w = weights(p * kw + q)
            if disjoint:
                xp.multiply(gc, w, out=sl) if w is not None else xp.copyto(sl, gc)
            else:
                sl += gc * w if w is not None else gc
    return out


class MaxPooling(Function):
    """y[n,c,i,j] = max_{p,q} x_pad[n, c, i·sh + p·dh, j·sw + q·dw]  (padding is −∞);
    ∂L/∂x routes each ∂L/∂y[n,c,i,j] to the first window element that attained the max.

    With ``return_indices`` a second output holds that element's flat index into H·W."""

    name = "max_pool"

    def forward(self, x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False,
                return_indices=False):
        xp = xp_of(x)
        self.in_shape = x.shape
        x = _as_2d(x)
        (Ho, Wo), pads = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xc = channel_major(x, pads, value=lowest)
        kh, kw = kernel_size
        views = [xc[window_slice(p, q, stride, dilation, (Ho, Wo))]
                 for p in range(kh) for q in range(kw)]
        out = views[0].copy()
        for v in views[1:]:
            xp.maximum(out, v, out=out)  # propagates NaN like PyTorch
        need = self.needs_input_grad
        y = _batch_major(out, len(self.in_shape))
        if need is None and not return_indices:
            return y
        # argmax: the first offset k whose element equals the max (later ks are overwritten)
        arg = xp.zeros(out.shape, dtype=np.uint8 if len(views) < 256 else np.int32)
        hit = xp.empty(out.shape, dtype=bool)
        for k in reversed(range(len(views))):
            xp.equal(views[k], out, out=hit)
            xp.copyto(arg, k, where=hit)
        if need is not None:
            self.arg, self.dtype = arg, x.dtype
            self.geometry = (kernel_size, stride, dilation, (Ho, Wo), pads, xc.shape)
        if not return_indices:
            return y
        rows = xp.arange(Ho).reshape(Ho, 1) * stride[0] - padding[0]
        cols = xp.arange(Wo) * stride[1] - padding[1]
        index = ((rows + (arg // kw).astype(np.int64) * dilation[0]) * x.shape[3]
                 + cols + (arg % kw).astype(np.int64) * dilation[1])
        return y, _batch_major(index, len(self.in_shape))

    def backward(self, g, *_):
        xp = xp_of(g)
        kernel_size, stride, dilation, out_hw, ((t, _), (l, _)), padded = self.geometry
        H, W = _as_2d_shape(self.in_shape)
        gc = _as_2d(g).transpose(1, 0, 2, 3)
        arg = self.arg
        gxc = _scatter(gc, lambda k: arg == k, padded, kernel_size, stride, dilation, out_hw)
        return gxc[:, :, t:t + H, l:l + W].transpose(1, 0, 2, 3).reshape(self.in_shape)


def _divisor_1d(size, n, kernel, stride, padding, count_include_pad):
    """Per-window element counts along one axis (PyTorch's avg_pool rule): windows are cut
    at the padded border; padding counts only with ``count_include_pad``."""
    start = np.arange(n) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


class AvgPooling(Function):
    """y[n,c,i,j] = (1/D[i,j]) Σ_{p,q} x_pad[n, c, i·sh + p, j·sw + q]  (padding is 0);
    ∂L/∂x_pad[n, c, i·sh + p, j·sw + q] += ∂L/∂y[n,c,i,j] / D[i,j].

    D is the window area, without the padding unless ``count_include_pad``, or
    ``divisor_override``."""

    name = "avg_pool"

    def forward(self, x, kernel_size, stride, padding, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        xp = xp_of(x)
        self.in_shape = x.shape
        x = _as_2d(x)
        dilation = (1, 1)
        (Ho, Wo), pads = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        xc = channel_major(x, pads)
        kh, kw = kernel_size
        out = xc[window_slice(0, 0, stride, dilation, (Ho, Wo))].copy()
        for k in range(1, kh * kw):
            out += xc[window_slice(k // kw, k % kw, stride, dilation, (Ho, Wo))]
        if divisor_override:
            scale = 1.0 / divisor_override
        else:
            dh, dw = (_divisor_1d(n, o, k_, s, p, count_include_pad) for n, o, k_, s, p in
                      zip(x.shape[2:], (Ho, Wo), kernel_size, stride, padding))
            div = np.outer(dh, dw)
            scale = 1.0 / div[0, 0] if (div == div[0, 0]).all() else \
                xp.asarray(1.0 / div, dtype=x.dtype)
        out *= scale
        if self.needs_input_grad is not None:
            self.scale = scale
            self.geometry = (kernel_size, stride, (Ho, Wo), pads, xc.shape)
        return _batch_major(out, len(self.in_shape))

    def backward(self, g):
        kernel_size, stride, out_hw, ((t, _), (l, _)), padded = self.geometry
        H, W = _as_2d_shape(self.in_shape)
        gc = _as_2d(g).transpose(1, 0, 2, 3) * self.scale
        gxc = _scatter(gc, lambda k: None, padded, kernel_size, stride, (1, 1), out_hw)
        return gxc[:, :, t:t + H, l:l + W].transpose(1, 0, 2, 3).reshape(self.in_shape)
