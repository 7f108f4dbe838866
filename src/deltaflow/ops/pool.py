"""Max and average pooling over strided views: a few vectorised passes per kernel offset.

Like :mod:`deltaflow.ops.conv`, pooling works on the batch-last ``(C, H, W, N)`` view of
its input and returns its output as a view of batch-last memory. The window element
(p, q) of every output position is the strided slice ``x_pad[:, p·dh + sh·i, q·dw + sw·j, :]``
(:func:`~deltaflow.ops.conv.window_slice`), so forward is kh·kw elementwise passes and
backward is kh·kw strided writes -- assignments when windows do not overlap, adds when they
do. No ``np.add.at`` anywhere.

One-dimensional inputs ``(N, C, L)`` run as images of height 1.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from . import pool_kernels
from .conv import Im2Col, as_image, batch_first, batch_last, restore, window_slice


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


def _scatter(gb, weights, padded_shape, kernel_size, stride, dilation, out_hw):
    """Σ over kernel offsets k of ``gb · weights(k)`` (``weights(k)`` None: 1) written into
    the window slices of a zero (C, Hp, Wp, N) image: assigned when the windows are
    disjoint, added where they overlap."""
    xp = xp_of(gb)
    out = xp.zeros(padded_shape, dtype=gb.dtype)
    disjoint = _disjoint(kernel_size, stride, dilation)
    kh, kw = kernel_size
    for p in range(kh):
        for q in range(kw):
            sl = out[window_slice(p, q, stride, dilation, out_hw)]
            w = weights(p * kw + q)
            if not disjoint:
                sl += gb if w is None else gb * w
            elif w is None:
                sl[...] = gb
            else:
                xp.multiply(gb, w, out=sl)
    return out


class MaxPooling(Function):
    """y[n,c,i,j] = max_{p,q} x_pad[n, c, i·sh + p·dh, j·sw + q·dw]  (padding is −∞);
    ∂L/∂x routes each ∂L/∂y[n,c,i,j] to the first window element that attained the max.

    With ``return_indices`` a second output holds that element's flat index into H·W."""

    name = "max_pool"

    def forward(self, x, kernel_size, stride, padding, dilation=(1, 1), ceil_mode=False,
                return_indices=False):
        xp = xp_of(x)
        self.ndim = x.ndim
        x = as_image(x)
        (Ho, Wo), pads = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xb = batch_last(x, pads, value=lowest)
        kh, kw = kernel_size
        views = [xb[window_slice(p, q, stride, dilation, (Ho, Wo))]
                 for p in range(kh) for q in range(kw)]
        need = self.needs_input_grad
        kernels = pool_kernels.pick(xb, (kernel_size, stride, dilation, padding))
        if need is None and not return_indices:              # inference: no argmax
            return restore(batch_first(kernels.max(xb, views, (Ho, Wo))), self.ndim)
        out, arg = kernels.max_argmax(xb, views, (Ho, Wo))
        y = restore(batch_first(out), self.ndim)
        if need is not None:
            self.arg, self.kernels = arg, kernels
            self.geometry = (kernel_size, stride, dilation, (Ho, Wo), pads, xb.shape,
                             x.shape[2:])
        if not return_indices:
            return y
        rows = xp.arange(Ho).reshape(Ho, 1, 1) * stride[0] - padding[0]
        cols = xp.arange(Wo).reshape(Wo, 1) * stride[1] - padding[1]
        index = ((rows + (arg // kw).astype(np.int64) * dilation[0]) * x.shape[3]
                 + cols + (arg % kw).astype(np.int64) * dilation[1])
        return y, restore(batch_first(index), self.ndim)

    def backward(self, g, *_):
        kernel_size, stride, dilation, out_hw, ((t, _), (l, _)), padded, (H, W) = \
            self.geometry
        gb = as_image(g).transpose(1, 2, 3, 0)
        gxb = self.kernels.route(gb, self.arg, padded, lambda weights: _scatter(
            gb, weights, padded, kernel_size, stride, dilation, out_hw))
        return restore(batch_first(gxb[:, t:t + H, l:l + W]), self.ndim)

    def backward_graph(self, g, *_):
        """Under ``create_graph``: max pooling is, near the forward's input, the gather of
        each window's saved arg-max element from the padded input (flat index
        (i·sh + p·dh)·Wp + j·sw + q·dw for window element (p, q) = divmod(arg, kw)); its
        gradient is differentiated again."""
        (kh, kw), (sh, sw), (dh, dw), (Ho, Wo), pads, (_, Hp, Wp, _), _ = self.geometry
        xp = xp_of(self.arg)
        arg = batch_first(self.arg).astype(np.int64)                     # (N, C, Ho, Wo)
        rows = (xp.arange(Ho)[:, None] * sh + arg // kw * dh) * Wp
        flat = rows + xp.arange(Wo) * sw + arg % kw * dw

        def pick(x):
            xq = xp_of(x)
            x = xq.pad(xq.expand_dims(x, 2) if x.ndim == 3 else x, ((0, 0), (0, 0)) + pads)
            N, C = x.shape[:2]
            y = xq.take_along_axis(xq.reshape(x, (N, C, Hp * Wp)), flat.reshape(N, C, -1), 2)
            return xq.reshape(y, g.shape)

        return self.recompute_backward(pick, g)


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
        self.ndim = x.ndim
        x = as_image(x)
        dilation = (1, 1)
        (Ho, Wo), pads = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        xb = batch_last(x, pads)
        kh, kw = kernel_size
        out = xb[window_slice(0, 0, stride, dilation, (Ho, Wo))].copy()
        for k in range(1, kh * kw):
            out += xb[window_slice(k // kw, k % kw, stride, dilation, (Ho, Wo))]
        if divisor_override:
            scale = 1.0 / divisor_override
        else:
            dh, dw = (_divisor_1d(n, o, k_, s, p, count_include_pad) for n, o, k_, s, p in
                      zip(x.shape[2:], (Ho, Wo), kernel_size, stride, padding))
            div = np.outer(dh, dw)
            scale = 1.0 / div[0, 0] if (div == div[0, 0]).all() else \
                xp.asarray(1.0 / div[:, :, None], dtype=x.dtype)
        out *= scale
        if self.needs_input_grad is not None:
            self.scale = scale
            self.geometry = (kernel_size, stride, (Ho, Wo), pads, xb.shape, x.shape[2:])
        return restore(batch_first(out), self.ndim)

    def backward(self, g):
        kernel_size, stride, out_hw, ((t, _), (l, _)), padded, (H, W) = self.geometry
        gb = as_image(g).transpose(1, 2, 3, 0) * self.scale
        gxb = _scatter(gb, lambda k: None, padded, kernel_size, stride, (1, 1), out_hw)
        return restore(batch_first(gxb[:, t:t + H, l:l + W]), self.ndim)

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of the same average written as
        unfold(x_pad) summed over each window, times 1/D (a linear map of x)."""
        kernel_size, stride, (Ho, Wo), pads = self.geometry[:4]
        scale = self.scale if isinstance(self.scale, float) else self.scale[..., 0]

        def average(x):
            xq = xp_of(x)
            x = xq.pad(xq.expand_dims(x, 2) if x.ndim == 3 else x, ((0, 0), (0, 0)) + pads)
            N, C = x.shape[:2]
            cols = Im2Col.apply(x, kernel_size=kernel_size, stride=stride, padding=(0, 0),
                                dilation=(1, 1))
            windows = xq.reshape(cols, (N, C, -1, Ho, Wo))
            return xq.reshape(xq.sum(windows, axis=2) * scale, g.shape)

        return self.recompute_backward(average, g)


class MaxUnpooling(Function):
    """Partial inverse of max pooling: y = 0 except y[n, c, idx[n, c, j]] = x[n, c, j]
    (``idx``: flat indices into the output's spatial positions, as max pooling returns
    them);  ∂L/∂x[n, c, j] = ∂L/∂y[n, c, idx[n, c, j]].
    Inputs: x (N, C, *in), indices (same shape); option ``output_shape`` (*out)."""

    name = "max_unpool"

    def forward(self, x, indices, output_shape):
        xp = xp_of(x)
        N, C = x.shape[:2]
        size = 1
        for n in output_shape:
            size *= n
        flat = indices.reshape(N * C, -1)
        rows = xp.arange(N * C)[:, None]
        y = xp.zeros((N * C, size), dtype=x.dtype)
        y[rows, flat] = x.reshape(N * C, -1)
        self.rows, self.flat, self.x_shape = rows, flat, x.shape
        return y.reshape(N, C, *output_shape)

    def backward(self, g):
        N, C = g.shape[:2]
        return g.reshape(N * C, -1)[self.rows, self.flat].reshape(self.x_shape), None
