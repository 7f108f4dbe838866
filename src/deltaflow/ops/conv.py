"""Convolution as one GEMM over a strided view (im2col), and its adjoint, col2im.

Layout. Inside these ops an image batch is handled *batch-last*, as a ``(C, H, W, N)``
array (the layout of cuda-convnet). im2col copies a strided window view of it into one
column buffer ``cols[c, p, q, i, j, n] = x_pad[n, c, i·sh + p·dh, j·sw + q·dw]`` (shape
``(C, kh, kw, Ho, Wo, N)``, i.e. a ``(C·kh·kw) × (Ho·Wo·N)`` matrix), the convolution is one
matrix product per group ``Y = W · cols`` with ``W`` viewed as ``O × (C·kh·kw)``, and its
``(O, Ho, Wo, N)`` result is returned as the ``(N, O, Ho, Wo)`` view -- no copy back to
NCHW. With the batch innermost, every shifted window slice is made of contiguous runs of
``Wo·N`` numbers (stride 1) or ``N`` numbers, so im2col, col2im and pooling move memory in
long runs instead of row pieces of a few numbers. Elementwise ops keep the memory order,
so the next convolution or pooling reads its input without a transpose too. At batch 1 or
2 those runs are short; inference then gathers channels-last rows instead (:func:`im2row`,
runs of kw·C numbers) when they are at least 3× longer (:func:`rows_pay`).

One-dimensional inputs ``(N, C, L)`` run as images of height 1.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from . import col2im_kernels
from .linear import blas_product


def out_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int,
             dilation: int) -> int:
    """Number of window positions: ⌊(size + pads − d·(k−1) − 1) / s⌋ + 1."""
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def batch_last(x, pads=((0, 0), (0, 0)), shape_hw=None, value=0.0):
    """``x`` (N, C, H, W) as a (C, Hp, Wp, N) array padded by ``pads`` ((top, bottom),
    (left, right)) with ``value``; a view of ``x`` when there is nothing to pad.

    ``shape_hw`` (optional) makes the padded array at least that large (the extra
    rows/columns at the bottom/right hold ``value`` too).
    """
    (t, b), (l, r) = pads
    N, C, H, W = x.shape
    Hp, Wp = H + t + b, W + l + r
    if shape_hw is not None:
        Hp, Wp = max(Hp, shape_hw[0]), max(Wp, shape_hw[1])
    xb = x.transpose(1, 2, 3, 0)
    if (Hp, Wp) == (H, W):
        return xb
    xp = xp_of(x)
    out = (xp.zeros if value == 0 else xp.empty)((C, Hp, Wp, N), dtype=x.dtype)
    if value != 0:
        out.fill(value)
    out[:, t:t + H, l:l + W] = xb
    return out


def batch_first(yb):
    """A batch-last (C, H, W, N) array as the (N, C, H, W) view."""
    return yb.transpose(3, 0, 1, 2)


def window_slice(p, q, stride, dilation, out_hw):
    """Index of kernel offset (p, q) in a batch-last image: the strided slice
    ``[:, p·dh + sh·i, q·dw + sw·j, :]`` for all output positions (i, j)."""
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    return (slice(None),
            slice(p * dh, p * dh + sh * (Ho - 1) + 1, sh),
            slice(q * dw, q * dw + sw * (Wo - 1) + 1, sw))


def windows(xb, kernel, stride, dilation, out_hw):
    """The read-only strided view ``v[c, p, q, i, j, n] = xb[c, i·sh + p·dh, j·sw + q·dw, n]``
    of a batch-last image ``xb`` (no copy)."""
    xp = xp_of(xb)
    sc, sy, sx, sn = xb.strides
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    view = xp.lib.stride_tricks.as_strided(
        xb, shape=(xb.shape[0], kh, kw, Ho, Wo, xb.shape[3]),
        strides=(sc, sy * dh, sx * dw, sy * sh, sx * sw, sn))
    if xp is np:                      # CuPy's arrays have no writeable flag
        view.flags.writeable = False
    return view


def im2col(xb, kernel, stride, dilation, out_hw, groups=1, ones=False):
    """The column buffer: :func:`windows` copied into one contiguous array, returned as
    the (G, K, Ho·Wo·N) matrices of the ``groups`` (K = C/G·kh·kw). With ``ones`` each
    matrix gets a last row of ones, the constant input whose weight is the bias."""
    xp = xp_of(xb)
    view = windows(xb, kernel, stride, dilation, out_hw)
    C, kh, kw, Ho, Wo, N = view.shape
    G, Cg = groups, C // groups
    K, L = Cg * kh * kw, Ho * Wo * N
    cols = xp.empty((G, K + 1 if ones else K, L), dtype=xb.dtype)
    cols[:, :K].reshape(G, Cg, kh, kw, Ho, Wo, N)[...] = view.reshape(G, Cg, kh, kw, Ho, Wo, N)
    if ones:
        cols[:, K] = 1
    return cols


def im2row(x, kernel, stride, padding, dilation, out_hw, ones=False):
    """The row buffer of a channels-last gather, for a batch of few images of many channels:
    ``rows[n, i, j, p, q, c] = x_pad[n, c, i·sh + p·dh, j·sw + q·dw]`` as the
    (N·Ho·Wo) × (kh·kw·C) matrix (with ``ones`` a last column of ones). With the channels
    innermost a window row is one contiguous run of kw·C numbers (dw = 1), where the
    batch-last :func:`im2col` copies runs of Wo·N (sw = 1): at batch 1 with 32 channels,
    runs of 96 instead of 14."""
    xp = xp_of(x)
    N, C = x.shape[:2]
    (kh, kw), (Ho, Wo) = kernel, out_hw
    # batch_last of the (C, N, H, W) view: the padded (N, Hp, Wp, C), channels innermost
    xc = xp.ascontiguousarray(batch_last(x.transpose(1, 0, 2, 3), padding))
    view = windows(xc, kernel, stride, dilation, out_hw)   # (N, kh, kw, Ho, Wo, C)
    K = kh * kw * C
    rows = xp.empty((N * Ho * Wo, K + 1 if ones else K), dtype=x.dtype)
    rows[:, :K].reshape(N, Ho, Wo, kh, kw, C)[...] = view.transpose(0, 3, 4, 1, 2, 5)
    if ones:
        rows[:, K] = 1
    return rows


def rows_pay(x_shape, kernel, stride, dilation, out_hw, groups):
    """Whether :func:`im2row` copies runs at least 3× as long as :func:`im2col`'s (one
    group only). The batch-1 CNN's second layer (runs of 96 against 14) is 0.75× as fast
    by rows; at batch 2 (96 against 28) as well, at batch 3 the same, at 4 and 6 slower
    (1.05×, 1.17×): docs/performance.md, ninth pass."""
    N, C = x_shape[:2]
    run_rows = C * (kernel[1] if dilation[1] == 1 else 1)
    run_cols = N * (out_hw[1] if stride[1] == 1 else 1)
    return groups == 1 and run_rows >= 3 * run_cols


def col2im(cols, padded_hw, stride, dilation):
    """Adjoint of :func:`im2col`: add the (C, kh, kw, Ho, Wo, N) columns back into a
    (C, Hp, Wp, N) image, kernel offset by kernel offset (:mod:`.col2im_kernels`)."""
    return col2im_kernels.pick(cols).col2im(cols, padded_hw, stride, dilation)


def as_image(x):
    """View a 1-D signal batch (N, C, L) as an image batch (N, C, 1, L)."""
    return x[:, :, None] if x.ndim == 3 else x


def restore(y, ndim):
    """An (N, C, H, W) result back in the caller's rank (drop the height of a 1-D signal)."""
    return y[:, :, 0] if ndim == 3 else y


class Convolution(Function):
    """Cross-correlation, the deep-learning "convolution" (groups G, C/G channels each):

        y[n,o,i,j] = b[o] + Σ_{c,p,q} w[o,c,p,q] · x_pad[n, g(o)·C/G + c, i·sh + p·dh, j·sw + q·dw]

    per group one GEMM  Y = [W b] · [cols(x); 1]  (the bias is the weight of a constant
    input 1);  [∂L/∂W ∂L/∂b] = ∂L/∂Y · [cols(x); 1]ᵀ (in OpenBLAS's faster orientation,
    :func:`~deltaflow.ops.linear.blas_product`),  ∂L/∂x = col2im(Wᵀ · ∂L/∂Y).
    ``padding`` is ((top, bottom), (left, right)). Under no_grad, for one or two images of
    many channels (:func:`rows_pay`), the same product runs over channels-last rows
    (:meth:`_by_rows`).
    """

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                dilation=(1, 1), groups=1):
        xp = xp_of(x)
        self.ndim, self.w_shape = x.ndim, w.shape
        x, w4 = as_image(x), as_image(w)
        N, C, H, W = x.shape
        O, Cg, kh, kw = w4.shape
        G, K = groups, Cg * kh * kw
        (t, bo), (l, r) = padding
        Ho = out_size(H, kh, stride[0], t, bo, dilation[0])
        Wo = out_size(W, kw, stride[1], l, r, dilation[1])
        need = self.needs_input_grad
        if need is None and rows_pay(x.shape, (kh, kw), stride, dilation, (Ho, Wo), G):
            return restore(self._by_rows(x, w4, b, stride, padding, dilation, (Ho, Wo)),
                           self.ndim)
        cols = im2col(batch_last(x, padding), (kh, kw), stride, dilation, (Ho, Wo), G,
                      ones=b is not None)
        wmat = w4.reshape(G, O // G, K)
        if b is not None:
            wmat = xp.concatenate([wmat, b.reshape(G, O // G, 1)], axis=2)
        y = xp.matmul(wmat, cols).reshape(O, Ho, Wo, N)
        if need is not None:
            self.geometry = (stride, padding, dilation, G, (H, W), (H + t + bo, W + l + r))
            self.cols = cols if need[1] else None
            self.w = w4 if need[0] else None
        return restore(batch_first(y), self.ndim)

    @staticmethod
    def _by_rows(x, w4, b, stride, padding, dilation, out_hw):
        """Inference on few images of many channels: Y = [cols(x)ᵀ 1] · [W b]ᵀ over the
        channels-last :func:`im2row` buffer, K in (p, q, c) order; returns the
        (N, O, Ho, Wo) view of the channels-last (N, Ho, Wo, O) result."""
        xp = xp_of(x)
        N = x.shape[0]
        O, C, kh, kw = w4.shape
        K = kh * kw * C
        rows = im2row(x, (kh, kw), stride, padding, dilation, out_hw, ones=b is not None)
        wmat = xp.empty((O, rows.shape[1]), dtype=w4.dtype)
        wmat[:, :K].reshape(O, kh, kw, C)[...] = w4.transpose(0, 2, 3, 1)
        if b is not None:
            wmat[:, K] = b
        y = xp.matmul(rows, wmat.T)
        return y.reshape(N, *out_hw, O).transpose(0, 3, 1, 2)

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        stride, ((t, _), (l, _)), dilation, G, (H, W), padded_hw = self.geometry
        g = as_image(g)
        N, O, Ho, Wo = g.shape
        gmat = g.transpose(1, 2, 3, 0).reshape(G, O // G, Ho * Wo * N)
        gx = gw = gb = None
        has_bias = len(need) > 2                       # b was given (it may need no grad)
        if need[1]:
            cols, self.cols = self.cols, None
            gwb = (blas_product(gmat[0], cols[0].T)[None] if G == 1 else
                   xp.matmul(gmat, cols.transpose(0, 2, 1)))
            del cols  # keep at most one column buffer alive
            K = gwb.shape[2] - int(has_bias)
            gw = gwb[:, :, :K].reshape(self.w_shape)
            if has_bias and need[2]:
                gb = gwb[:, :, K].reshape(O)   # the column of the constant input 1
        elif has_bias and need[2]:
            gb = gmat.sum(axis=-1).reshape(O)
        if need[0]:
            _, Cg, kh, kw = self.w.shape
            gcols = xp.matmul(self.w.reshape(G, O // G, Cg * kh * kw).transpose(0, 2, 1), gmat)
            gxb = col2im(gcols.reshape(G * Cg, kh, kw, Ho, Wo, N), padded_hw, stride,
                         dilation)
            gx = restore(batch_first(gxb[:, t:t + H, l:l + W]), self.ndim)
        return (gx, gw, gb)[:len(need)]

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of :func:`conv_formula` (unfold, then one
        matrix product per group), differentiable again."""
        stride, padding, dilation, groups = self.geometry[:4]
        return self.recompute_backward(
            lambda x, w, b=None: conv_formula(x, w, b, stride, padding, dilation, groups), g)


def conv_formula(x, w, b, stride, padding, dilation, groups):
    """:class:`Convolution` on Tensors with differentiable ops:
    y[n, g] = W_g · unfold(x_pad)[n, g] (+ b), W_g the (O/G, C/G·kh·kw) weights of group g."""
    xp = xp_of(x)
    ndim = x.ndim
    if ndim == 3:                                   # (N, C, L): an image of height 1
        x, w = xp.expand_dims(x, 2), xp.expand_dims(w, 2)
    (t, bo), (l, r) = padding
    x = xp.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    N, O, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    Ho = out_size(x.shape[2], kh, stride[0], 0, 0, dilation[0])
    Wo = out_size(x.shape[3], kw, stride[1], 0, 0, dilation[1])
    cols = Im2Col.apply(x, kernel_size=(kh, kw), stride=stride, padding=(0, 0),
                        dilation=dilation)
    cols = xp.reshape(cols, (N, groups, -1, Ho * Wo))
    y = xp.reshape(xp.matmul(xp.reshape(w, (groups, O // groups, -1)), cols), (N, O, Ho, Wo))
    if b is not None:
        y = y + xp.reshape(b, (1, O, 1, 1))
    return xp.reshape(y, (N, O, Wo)) if ndim == 3 else y


class TransposedConvolution(Function):
    """The adjoint of :class:`Convolution` with respect to its input ("deconvolution"):

        y = col2im(Wᵀ · x) cropped by ``padding`` (and extended by ``output_padding``) + b

    with w of shape (C_in, C_out/G, kh, kw);  ∂L/∂x = W · cols(∂L/∂y),
    ∂L/∂W = x · cols(∂L/∂y)ᵀ,  ∂L/∂b = Σ_{n,i,j} ∂L/∂y.
    """

    def forward(self, x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                dilation=(1, 1), groups=1):
        xp = xp_of(x)
        self.ndim, self.w_shape = x.ndim, w.shape
        x, w4 = as_image(x), as_image(w)
        N, Cin, H, W = x.shape
        _, Cog, kh, kw = w4.shape
        G, K = groups, Cog * kh * kw
        xb = x.transpose(1, 2, 3, 0).reshape(G, Cin // G, H * W * N)
        cols = xp.matmul(w4.reshape(G, Cin // G, K).transpose(0, 2, 1), xb)
        cols = cols.reshape(G * Cog, kh, kw, H, W, N)
        full = [(n - 1) * s + d * (k - 1) + 1
                for n, s, d, k in zip((H, W), stride, dilation, (kh, kw))]
        out_hw = tuple(f - 2 * p + op for f, p, op in zip(full, padding, output_padding))
        buf_hw = tuple(max(f, o + p) for f, o, p in zip(full, out_hw, padding))
        buf = col2im(cols, buf_hw, stride, dilation)
        del cols
        (ph, pw), (Ho, Wo) = padding, out_hw
        y = buf[:, ph:ph + Ho, pw:pw + Wo]
        if b is not None:
            y += b.reshape(-1, 1, 1, 1)
        need = self.needs_input_grad
        if need is not None:
            self.geometry = (stride, padding, dilation, G, buf_hw, (H, W))
            self.xb = xb if need[1] else None
            self.w = w4 if need[0] else None
        return restore(batch_first(y), self.ndim)

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        stride, (ph, pw), dilation, G, buf_hw, (H, W) = self.geometry
        g = as_image(g)
        N, Cout, Ho, Wo = g.shape
        gx = gw = gb = None
        if len(need) > 2 and need[2]:
            gb = g.sum(axis=(0, 2, 3))
        gbuf = batch_last(g, ((ph, 0), (pw, 0)), shape_hw=buf_hw)
        kh, kw = self.w_shape[2:] if len(self.w_shape) == 4 else (1, self.w_shape[2])
        K = (Cout // G) * kh * kw
        gcols = im2col(gbuf, (kh, kw), stride, dilation, (H, W), G)
        if need[1]:
            gw = xp.matmul(self.xb, gcols.transpose(0, 2, 1)).reshape(self.w_shape)
        if need[0]:
            Cin = self.w.shape[0]
            gx = xp.matmul(self.w.reshape(G, Cin // G, K), gcols).reshape(Cin, H, W, N)
            gx = restore(batch_first(gx), self.ndim)
        return (gx, gw, gb)[:len(need)]

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of :func:`conv_transpose_formula` (one matrix
        product per group, then fold), differentiable again."""
        stride, padding, dilation, groups = self.geometry[:4]
        out_hw = g.shape[2:] if g.ndim == 4 else (1, g.shape[2])
        return self.recompute_backward(
            lambda x, w, b=None: conv_transpose_formula(x, w, b, stride, padding, out_hw,
                                                        dilation, groups), g)


def conv_transpose_formula(x, w, b, stride, padding, out_hw, dilation, groups):
    """:class:`TransposedConvolution` on Tensors with differentiable ops: the columns
    W_gᵀ · x[n, g] of each group folded into the full (n−1)·s + d·(k−1) + 1 image, then
    cropped by ``padding`` at the start and cut (or zero-extended) to ``out_hw`` (+ b)."""
    xp = xp_of(x)
    ndim = x.ndim
    if ndim == 3:
        x, w = xp.expand_dims(x, 2), xp.expand_dims(w, 2)
    N, Cin, H, W = x.shape
    _, Cog, kh, kw = w.shape
    wg = xp.swapaxes(xp.reshape(w, (groups, Cin // groups, -1)), 1, 2)
    cols = xp.matmul(wg, xp.reshape(x, (N, groups, Cin // groups, H * W)))
    full = [(n - 1) * s + d * (k - 1) + 1
            for n, s, d, k in zip((H, W), stride, dilation, (kh, kw))]
    y = Col2Im.apply(xp.reshape(cols, (N, -1, H * W)), output_size=tuple(full),
                     kernel_size=(kh, kw), stride=stride, padding=(0, 0), dilation=dilation)
    y = xp.pad(y, ((0, 0), (0, 0)) + tuple((-p, o + p - f) for p, o, f in
                                            zip(padding, out_hw, full)))
    if b is not None:
        y = y + xp.reshape(b, (1, -1, 1, 1))
    return xp.reshape(y, (N, -1, out_hw[1])) if ndim == 3 else y


class Im2Col(Function):
    """``unfold``: the sliding local blocks of x as columns,
    y[n, (c, p, q), (i, j)] = x_pad[n, c, i·sh + p·dh, j·sw + q·dw];  ∂L/∂x = col2im(∂L/∂y)."""

    name = "unfold"

    def forward(self, x, kernel_size, stride, padding, dilation):
        N, C, H, W = x.shape
        (ph, pw), (kh, kw) = padding, kernel_size
        Ho = out_size(H, kh, stride[0], ph, ph, dilation[0])
        Wo = out_size(W, kw, stride[1], pw, pw, dilation[1])
        self.geometry = (x.shape, kernel_size, stride, padding, dilation, (Ho, Wo))
        cols = im2col(batch_last(x, ((ph, ph), (pw, pw))), kernel_size, stride, dilation,
                      (Ho, Wo))
        return cols.reshape(C * kh * kw, Ho * Wo, N).transpose(2, 0, 1)

    def backward(self, g):
        (N, C, H, W), (kh, kw), stride, (ph, pw), dilation, (Ho, Wo) = self.geometry
        cols = g.transpose(1, 2, 0).reshape(C, kh, kw, Ho, Wo, N)
        gxb = col2im(cols, (H + 2 * ph, W + 2 * pw), stride, dilation)
        return batch_first(gxb[:, ph:ph + H, pw:pw + W])

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient is ``fold(g)``, a differentiable op."""
        (_, _, H, W), kernel_size, stride, padding, dilation, _ = self.geometry
        return Col2Im.apply(g, output_size=(H, W), kernel_size=kernel_size, stride=stride,
                            padding=padding, dilation=dilation)


class Col2Im(Function):
    """``fold``: sum sliding local blocks (columns) back into an image,
    y[n, c, i·sh + p·dh, j·sw + q·dw] += x[n, (c, p, q), (i, j)] (then the padding is cropped);
    ∂L/∂x = im2col(∂L/∂y)."""

    name = "fold"

    def forward(self, x, output_size, kernel_size, stride, padding, dilation):
        N, CK, L = x.shape
        (H, W), (kh, kw), (ph, pw) = output_size, kernel_size, padding
        C = CK // (kh * kw)
        Ho = out_size(H, kh, stride[0], ph, ph, dilation[0])
        Wo = out_size(W, kw, stride[1], pw, pw, dilation[1])
        self.geometry = (kernel_size, stride, padding, dilation, (Ho, Wo))
        cols = x.transpose(1, 2, 0).reshape(C, kh, kw, Ho, Wo, N)
        yb = col2im(cols, (H + 2 * ph, W + 2 * pw), stride, dilation)
        return batch_first(yb[:, ph:ph + H, pw:pw + W])

    def backward(self, g):
        (kh, kw), stride, (ph, pw), dilation, (Ho, Wo) = self.geometry
        N, C = g.shape[:2]
        cols = im2col(batch_last(g, ((ph, ph), (pw, pw))), (kh, kw), stride, dilation,
                      (Ho, Wo))
        return cols.reshape(C * kh * kw, Ho * Wo, N).transpose(2, 0, 1)

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient is ``unfold(g)``, a differentiable op."""
        kernel_size, stride, padding, dilation, _ = self.geometry
        return Im2Col.apply(g, kernel_size=kernel_size, stride=stride, padding=padding,
                            dilation=dilation)
