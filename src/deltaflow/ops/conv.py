"""Convolution as one GEMM over a strided view (im2col), and its adjoint, col2im.

Layout. Inside these ops an image batch is handled *channel-major*, as a ``(C, N, H, W)``
array. im2col copies a strided window view of it into one column buffer
``cols[c, p, q, n, i, j] = x_pad[n, c, i·sh + p·dh, j·sw + q·dw]`` (shape
``(C, kh, kw, N, Ho, Wo)``, i.e. a ``(C·kh·kw) × (N·Ho·Wo)`` matrix), the convolution is
one matrix product per group ``Y = W · cols`` with ``W`` viewed as ``O × (C·kh·kw)``, and
its ``(O, N, Ho, Wo)`` result is returned as the ``(N, O, Ho, Wo)`` view -- no copy back to
NCHW. Elementwise ops keep that memory order, so the next convolution reads its input
without a transpose too.

One-dimensional inputs ``(N, C, L)`` run as images of height 1.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of


def out_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int,
             dilation: int) -> int:
    """Number of window positions: ⌊(size + pads − d·(k−1) − 1) / s⌋ + 1."""
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def channel_major(x, pads=((0, 0), (0, 0)), shape_hw=None, value=0.0):
    """``x`` (N, C, H, W) as a (C, N, Hp, Wp) array padded by ``pads`` ((top, bottom),
    (left, right)) with ``value``; a view of ``x`` when there is nothing to pad.

    ``shape_hw`` (optional) makes the padded array at least that large (the extra
    rows/columns at the bottom/right hold ``value`` too).
    """
    (t, b), (l, r) = pads
    N, C, H, W = x.shape
    Hp, Wp = H + t + b, W + l + r
    if shape_hw is not None:
        Hp, Wp = max(Hp, shape_hw[0]), max(Wp, shape_hw[1])
    xc = x.transpose(1, 0, 2, 3)
    if (Hp, Wp) == (H, W):
        return xc
    xp = xp_of(x)
    out = (xp.zeros if value == 0 else xp.empty)((C, N, Hp, Wp), dtype=x.dtype)
    if value != 0:
        out.fill(value)
    out[:, :, t:t + H, l:l + W] = xc
    return out


def window_slice(p, q, stride, dilation, out_hw):
    """Index of kernel offset (p, q) in a channel-major image: the strided slice
    ``[:, :, p·dh + sh·i, q·dw + sw·j]`` for all output positions (i, j)."""
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    return (slice(None), slice(None),
            slice(p * dh, p * dh + sh * (Ho - 1) + 1, sh),
            slice(q * dw, q * dw + sw * (Wo - 1) + 1, sw))


def windows(xc, kernel, stride, dilation, out_hw):
    """The read-only strided view ``v[c, p, q, n, i, j] = xc[c, n, i·sh + p·dh, j·sw + q·dw]``
    of a channel-major image ``xc`` (no copy)."""
    xp = xp_of(xc)
    sc, sn, sy, sx = xc.strides
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    return xp.lib.stride_tricks.as_strided(
        xc, shape=(xc.shape[0], kh, kw, xc.shape[1], Ho, Wo),
        strides=(sc, sy * dh, sx * dw, sn, sy * sh, sx * sw), writeable=False)


def im2col(xc, kernel, stride, dilation, out_hw):
    """The column buffer: :func:`windows` copied into one contiguous
    (C, kh, kw, N, Ho, Wo) array."""
    view = windows(xc, kernel, stride, dilation, out_hw)
    cols = xp_of(xc).empty(view.shape, dtype=xc.dtype)
    cols[...] = view
    return cols


def col2im(cols, padded_hw, stride, dilation):
    """Adjoint of :func:`im2col`: add the (C, kh, kw, N, Ho, Wo) columns back into a
    (C, N, Hp, Wp) image, one strided slice per kernel offset (kh·kw vectorised adds)."""
    C, kh, kw, N, Ho, Wo = cols.shape
    out = xp_of(cols).zeros((C, N) + tuple(padded_hw), dtype=cols.dtype)
    for p in range(kh):
        for q in range(kw):
            out[window_slice(p, q, stride, dilation, (Ho, Wo))] += cols[:, p, q]
    return out


def _as_2d(x):
    """View a 1-D signal batch (N, C, L) as an image batch (N, C, 1, L)."""
    return x[:, :, None] if x.ndim == 3 else x


class Convolution(Function):
    """Cross-correlation, the deep-learning "convolution" (groups G, C/G channels each):

        y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · x_pad[n, g(o)·C/G + c, i·sh + p·dh, j·sw + q·dw]

    per group one GEMM  Y = W · cols(x);  ∂L/∂W = ∂L/∂Y · cols(x)ᵀ,  ∂L/∂b = Σ_{n,i,j} ∂L/∂y,
    ∂L/∂x = col2im(Wᵀ · ∂L/∂Y).  ``padding`` is ((top, bottom), (left, right)).
    """

    def forward(self, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                dilation=(1, 1), groups=1):
        xp = xp_of(x)
        self.in_shape, self.w_shape = x.shape, w.shape
        x, w4 = _as_2d(x), _as_2d(w)
        N, C, H, W = x.shape
        O, Cg, kh, kw = w4.shape
        G, K = groups, Cg * kh * kw
        (t, bo), (l, r) = padding
        Ho = out_size(H, kh, stride[0], t, bo, dilation[0])
        Wo = out_size(W, kw, stride[1], l, r, dilation[1])
        cols = im2col(channel_major(x, padding), (kh, kw), stride, dilation, (Ho, Wo))
        y = xp.matmul(w4.reshape(G, O // G, K), cols.reshape(G, K, N * Ho * Wo))
        y = y.reshape(O, N, Ho, Wo)
        if b is not None:
            y += b.reshape(O, 1, 1, 1)
        need = self.needs_input_grad
        if need is not None:
            self.geometry = (stride, padding, dilation, G, (H, W), (H + t + bo, W + l + r))
            self.cols = cols if need[1] else None
            self.w = w4 if need[0] else None
        y = y.transpose(1, 0, 2, 3)
        return y[:, :, 0] if len(self.in_shape) == 3 else y

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        stride, ((t, _), (l, _)), dilation, G, (H, W), padded_hw = self.geometry
        g = _as_2d(g)
        N, O, Ho, Wo = g.shape
        gc = g.transpose(1, 0, 2, 3).reshape(G, O // G, N * Ho * Wo)
        gx = gw = gb = None
        if len(need) > 2 and need[2]:
            gb = gc.sum(axis=-1).reshape(O)
        if need[1]:
            cols, self.cols = self.cols, None
            K = cols.size // (G * N * Ho * Wo)
            gw = xp.matmul(gc, cols.reshape(G, K, N * Ho * Wo).transpose(0, 2, 1))
            gw = gw.reshape(self.w_shape)
            del cols  # keep at most one column buffer alive
        if need[0]:
            w = self.w
            O_, Cg, kh, kw = w.shape
            gcols = xp.matmul(w.reshape(G, O // G, Cg * kh * kw).transpose(0, 2, 1), gc)
            gcols = gcols.reshape(G * Cg, kh, kw, N, Ho, Wo)
            gxc = col2im(gcols, padded_hw, stride, dilation)
            gx = gxc[:, :, t:t + H, l:l + W].transpose(1, 0, 2, 3).reshape(self.in_shape)
        return (gx, gw, gb)[:len(need)]


class TransposedConvolution(Function):
    """The adjoint of :class:`Convolution` with respect to its input ("deconvolution"):

        y = col2im(Wᵀ · x) cropped by ``padding`` (and extended by ``output_padding``) + b

    with w of shape (C_in, C_out/G, kh, kw);  ∂L/∂x = W · cols(∂L/∂y),
    ∂L/∂W = x · cols(∂L/∂y)ᵀ,  ∂L/∂b = Σ_{n,i,j} ∂L/∂y.
    """

    def forward(self, x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                dilation=(1, 1), groups=1):
        xp = xp_of(x)
        self.in_shape, self.w_shape = x.shape, w.shape
        x, w4 = _as_2d(x), _as_2d(w)
        N, Cin, H, W = x.shape
        _, Cog, kh, kw = w4.shape
        G, K = groups, Cog * kh * kw
        xc = x.transpose(1, 0, 2, 3).reshape(G, Cin // G, N * H * W)
        cols = xp.matmul(w4.reshape(G, Cin // G, K).transpose(0, 2, 1), xc)
        cols = cols.reshape(G * Cog, kh, kw, N, H, W)
        full = [(n - 1) * s + d * (k - 1) + 1
                for n, s, d, k in zip((H, W), stride, dilation, (kh, kw))]
        out_hw = tuple(f - 2 * p + op for f, p, op in zip(full, padding, output_padding))
        buf_hw = tuple(max(f, o + p) for f, o, p in zip(full, out_hw, padding))
        buf = col2im(cols, buf_hw, stride, dilation)
        del cols
        (ph, pw), (Ho, Wo) = padding, out_hw
        y = buf[:, :, ph:ph + Ho, pw:pw + Wo]
        if b is not None:
            y += b.reshape(-1, 1, 1, 1)
        need = self.needs_input_grad
        if need is not None:
            self.geometry = (stride, padding, dilation, G, buf_hw, (H, W))
            self.xc = xc if need[1] else None
            self.w = w4 if need[0] else None
        y = y.transpose(1, 0, 2, 3)
        return y[:, :, 0] if len(self.in_shape) == 3 else y

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        stride, (ph, pw), dilation, G, buf_hw, (H, W) = self.geometry
        g = _as_2d(g)
        N, Cout, Ho, Wo = g.shape
        gx = gw = gb = None
        if len(need) > 2 and need[2]:
            gb = g.sum(axis=(0, 2, 3))
        gbuf = channel_major(g, ((ph, 0), (pw, 0)), shape_hw=buf_hw)
        kh, kw = (self.w_shape[-2] if len(self.w_shape) == 4 else 1), self.w_shape[-1]
        K = (Cout // G) * kh * kw
        gcols = im2col(gbuf, (kh, kw), stride, dilation, (H, W)).reshape(G, K, N * H * W)
        if need[1]:
            gw = xp.matmul(self.xc, gcols.transpose(0, 2, 1)).reshape(self.w_shape)
        if need[0]:
            Cin = self.w.shape[0]
            gx = xp.matmul(self.w.reshape(G, Cin // G, K), gcols)
            gx = gx.reshape(Cin, N, H, W).transpose(1, 0, 2, 3).reshape(self.in_shape)
        return (gx, gw, gb)[:len(need)]


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
        cols = im2col(channel_major(x, ((ph, ph), (pw, pw))), kernel_size, stride,
                      dilation, (Ho, Wo))
        return cols.transpose(3, 0, 1, 2, 4, 5).reshape(N, C * kh * kw, Ho * Wo)

    def backward(self, g):
        (N, C, H, W), (kh, kw), stride, (ph, pw), dilation, (Ho, Wo) = self.geometry
        cols = g.transpose(1, 0, 2).reshape(C, kh, kw, N, Ho, Wo)
        gxc = col2im(cols, (H + 2 * ph, W + 2 * pw), stride, dilation)
        return gxc[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)


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
        cols = x.transpose(1, 0, 2).reshape(C, kh, kw, N, Ho, Wo)
        yc = col2im(cols, (H + 2 * ph, W + 2 * pw), stride, dilation)
        return yc[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)

    def backward(self, g):
        (kh, kw), stride, (ph, pw), dilation, (Ho, Wo) = self.geometry
        N, C = g.shape[:2]
        cols = im2col(channel_major(g, ((ph, ph), (pw, pw))), (kh, kw), stride, dilation,
                      (Ho, Wo))
        return cols.transpose(3, 0, 1, 2, 4, 5).reshape(N, C * kh * kw, Ho * Wo)
