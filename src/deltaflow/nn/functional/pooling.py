"""``F.max_pool1d/2d/3d``, ``F.avg_pool1d/2d/3d``, ``F.adaptive_avg_pool1d/2d/3d``,
``F.adaptive_max_pool1d/2d``, ``F.max_unpool1d/2d``: check
PyTorch-style arguments, then run one op from :mod:`deltaflow.ops.pool` or
:mod:`deltaflow.ops.upsample` (3-D pooling: 2-D pooling of each depth offset, combined)."""
from __future__ import annotations

import numpy as np

from ... import creation
from ... import functional as _F
from ...backend import to_device, xp_of
from ...ops import pool as _P
from ...ops import upsample as _U
from .conv import batched, lift, ntuple, positive

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "max_unpool1d", "max_unpool2d"]


def _pool_args(op, spatial, input, kernel_size, stride, padding, dilation, ceil_mode):
    if input.ndim not in (spatial + 1, spatial + 2):
        dims = {1: "L", 2: "H, W", 3: "D, H, W"}[spatial]
        raise ValueError(f"{op}: expected a {spatial + 2}-D input (N, C, {dims}) or a "
                         f"{spatial + 1}-D unbatched one, got shape {tuple(input.shape)}")
    kernel = positive(ntuple(kernel_size, spatial, op, "kernel_size"), op, "kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else \
        positive(ntuple(stride, spatial, op, "stride"), op, "stride")
    padding = positive(ntuple(padding, spatial, op, "padding"), op, "padding", minimum=0)
    dilation = positive(ntuple(dilation, spatial, op, "dilation"), op, "dilation")
    for k, p in zip(kernel, padding):
        if 2 * p > k:
            raise ValueError(f"{op}: padding {padding} should be at most half of kernel "
                             f"size {kernel}")
    x, unbatched = batched(input, spatial)
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        if _P.pool_size(n, k, s, p, d, ceil_mode)[0] < 1:
            raise ValueError(f"{op}: input of spatial size {tuple(x.shape[2:])} is too small "
                             f"for kernel {kernel} (dilation {dilation}, padding {padding})")
    as_2d = lambda v, fill: lift(v, spatial, fill)  # noqa: E731
    return x, unbatched, as_2d(kernel, 1), as_2d(stride, 1), as_2d(padding, 0), as_2d(dilation, 1)


def _max_pool(op, spatial, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    x, unbatched, kernel, stride, padding, dilation = _pool_args(
        op, spatial, input, kernel_size, stride, padding, dilation, ceil_mode)
    out = _P.MaxPooling.apply(x, kernel_size=kernel, stride=stride, padding=padding,
                              dilation=dilation, ceil_mode=bool(ceil_mode),
                              return_indices=bool(return_indices))
    if return_indices:
        y, idx = out[0], out[1].detach()
        return (_F.squeeze(y, 0), _F.squeeze(idx, 0)) if unbatched else (y, idx)
    return _F.squeeze(out, 0) if unbatched else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """y[n,c,i] = max_p x_pad[n, c, i·s + p·d] over (N, C, L); stride defaults to kernel_size."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """y[n,c,i,j] = max_{p,q} x_pad[n, c, i·sh + p·dh, j·sw + q·dw] (−∞ padding);
    stride defaults to kernel_size; ``return_indices`` also returns flat indices into H·W."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def _by_depth(x, kernel, stride, padding, dilation, ceil_mode, fill, pool2d):
    """3-D pooling as 2-D pooling of each kernel-depth offset k: the (N, C, Do, Ho, Wo)
    results of pool2d(x_pad[:, :, d·s_d + k·δ_d]) for k = 0 … kd−1, depth padded with
    ``fill`` (depth folded into the batch, one 2-D pooling call per k)."""
    (kd, *k_hw), (sd, *s_hw), (pd, *p_hw), (dd, *d_hw) = kernel, stride, padding, dilation
    Do, right = _P.pool_size(x.shape[2], kd, sd, pd, dd, ceil_mode)
    if pd or right:
        x = _F.pad(x, [0, 0, 0, 0, pd, right], value=fill)
    N, C, _, H, W = x.shape
    parts = []
    for k in range(kd):                                 # kernel depth: a few 2-D poolings
        xs = x[:, :, k * dd: k * dd + sd * (Do - 1) + 1: sd]
        y = pool2d(_F.reshape(_F.transpose(xs, 1, 2), (N * Do, C, H, W)),
                   tuple(k_hw), tuple(s_hw), tuple(p_hw), tuple(d_hw))
        parts.append(_F.transpose(_F.reshape(y, (N, Do, C, *y.shape[2:])), 1, 2))
    return parts


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """y[n,c,d,i,j] = max over the kd×kh×kw window (−∞ padding); the 2-D max of each depth
    offset, then the first maximum over the offsets (PyTorch's pick among ties).
    ``return_indices`` also gives each maximum's flat index into D·H·W."""
    op = "max_pool3d"
    x, unbatched, kernel, stride, padding, dilation = _pool_args(
        op, 3, input, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = bool(return_indices)
    plane_indices = []                                  # per depth offset: flat into H·W

    def pool2d(xs, k, s, p, d):
        out = _P.MaxPooling.apply(xs, kernel_size=k, stride=s, padding=p, dilation=d,
                                  ceil_mode=bool(ceil_mode), return_indices=return_indices)
        if not return_indices:
            return out
        plane_indices.append(out[1].data)
        return out[0]

    parts = _by_depth(x, kernel, stride, padding, dilation, ceil_mode, float("-inf"), pool2d)
    y, offset = _F.max(_F.stack(parts), dim=0)
    out = _F.squeeze(y, 0) if unbatched else y
    if not return_indices:
        return out
    N, C, D, H, W = x.shape
    Do = y.shape[2]
    planes = np.stack([to_device(i, "cpu").reshape(N, Do, C, *y.shape[3:])
                       .transpose(0, 2, 1, 3, 4) for i in plane_indices])  # (kd, N, C, Do, …)
    k = offset.numpy()
    depth = np.arange(Do)[:, None, None] * stride[0] + k * dilation[0] - padding[0]
    index = depth * (H * W) + np.take_along_axis(planes, k[None], axis=0)[0]
    index = creation.tensor(index[0] if unbatched else index)
    return out, index


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """y = (1/D) Σ over the kd×kh×kw window; D is the window volume (padding included when
    ``count_include_pad``) or ``divisor_override``. The volume is a product over the axes,
    so y = Σ_k avg_pool2d(depth offset k) / D_depth."""
    op = "avg_pool3d"
    x, unbatched, kernel, stride, padding, _ = _pool_args(
        op, 3, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or divisor_override < 1):
        raise ValueError(f"{op}: divisor_override must be a positive int, got "
                         f"{divisor_override!r}")
    parts = _by_depth(x, kernel, stride, padding, (1, 1, 1), ceil_mode, 0.0,
                      lambda xs, k, s, p, d: _P.AvgPooling.apply(
                          xs, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                          count_include_pad=bool(count_include_pad),
                          divisor_override=divisor_override))
    y = parts[0]
    for part in parts[1:]:
        y = y + part
    if divisor_override is None:                        # the depth factor of the volume
        D, (kd, sd, pd) = x.shape[2], (kernel[0], stride[0], padding[0])
        start = np.arange(y.shape[2]) * sd - pd
        end = np.minimum(start + kd, D + pd)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, D)
        depth = xp_of(y.data).asarray((end - start).reshape(1, 1, -1, 1, 1), dtype=y.dtype)
        y = y / depth
    return _F.squeeze(y, 0) if unbatched else y


def _avg_pool(op, spatial, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, unbatched, kernel, stride, padding, _ = _pool_args(
        op, spatial, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or divisor_override < 1):
        raise ValueError(f"{op}: divisor_override must be a positive int, got "
                         f"{divisor_override!r}")
    y = _P.AvgPooling.apply(x, kernel_size=kernel, stride=stride, padding=padding,
                            ceil_mode=bool(ceil_mode),
                            count_include_pad=bool(count_include_pad),
                            divisor_override=divisor_override)
    return _F.squeeze(y, 0) if unbatched else y


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """y[n,c,i] = mean_p x_pad[n, c, i·s + p] over (N, C, L)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """y[n,c,i,j] = (1/D) Σ_{p,q} x_pad[n, c, i·sh + p, j·sw + q]; D is the window area
    (padding included when ``count_include_pad``) or ``divisor_override``."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _adaptive(op, spatial, input, output_size):
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 2}-D or {spatial + 1}-D input, got "
                         f"shape {tuple(input.shape)}")
    size = tuple(input.shape[-spatial:])
    out = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * spatial
    if len(out) != spatial:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {spatial}, got "
                         f"{output_size!r}")
    out = tuple(n if o is None else o for n, o in zip(size, out))
    positive(out, op, "output_size")
    if all(n % o == 0 for n, o in zip(size, out)):  # equal bins: a plain average pool
        k = tuple(n // o for n, o in zip(size, out))
        return _avg_pool(op, spatial, input, k, k, 0, False, True, None)
    xp = xp_of(input.data)
    mats = [xp.asarray(_U.adaptive_avg_matrix(n, o), dtype=input.dtype)
            for n, o in zip(size, out)]
    ah, aw = (None, mats[0]) if spatial == 1 else mats
    return _U.Resample.apply(input, ah=ah, aw=aw)


def adaptive_avg_pool1d(input, output_size):
    """Average over ``output_size`` bins, bin o = [⌊o·L/out⌋, ⌈(o+1)·L/out⌉)."""
    return _adaptive("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Average over output_size (Ho, Wo) bins (an int, a pair, None keeps that size)."""
    return _adaptive("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """Average (N, C, D, H, W) over output_size (Do, Ho, Wo) bins: the 2-D adaptive average
    of every depth slice (depth folded into the channels), then the depth bins as one matrix
    product with the (Do, D) averaging matrix."""
    op = "adaptive_avg_pool3d"
    if input.ndim not in (4, 5):
        raise ValueError(f"{op}: expected a 5-D input (N, C, D, H, W) or a 4-D unbatched one, "
                         f"got shape {tuple(input.shape)}")
    out = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 3
    if len(out) != 3:
        raise ValueError(f"{op}: output_size must be an int or a tuple of 3, got "
                         f"{output_size!r}")
    x, unbatched = batched(input, 3)
    N, C, D, H, W = x.shape
    Do = D if out[0] is None else out[0]
    positive((Do,), op, "output_size")
    y = adaptive_avg_pool2d(_F.reshape(x, (N, C * D, H, W)), tuple(out[1:]))
    Ho, Wo = y.shape[2:]
    bins = creation.tensor(_U.adaptive_avg_matrix(D, Do), dtype=x.dtype, device=x.device)
    y = _F.matmul(bins, _F.reshape(y, (N, C, D, Ho * Wo)))
    y = _F.reshape(y, (N, C, Do, Ho, Wo))
    return _F.squeeze(y, 0) if unbatched else y


def _bin_indices(n, out):
    """(out, K) input indices of PyTorch's adaptive bins [⌊o·n/out⌋, ⌈(o+1)·n/out⌉), each
    padded to the longest bin K by repeating its last index (a repeat does not change a
    maximum, and the first occurrence of the maximum stays the one picked)."""
    start = (np.arange(out) * n) // out
    end = -((-(np.arange(out) + 1) * n) // out)
    longest = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(longest), end[:, None] - 1)


def _adaptive_max(op, spatial, input, output_size, return_indices):
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 2}-D or {spatial + 1}-D input, got "
                         f"shape {tuple(input.shape)}")
    x, unbatched = batched(input, spatial)
    size = tuple(x.shape[2:])
    out = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * spatial
    if len(out) != spatial:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {spatial}, got "
                         f"{output_size!r}")
    out = positive(tuple(n if o is None else o for n, o in zip(size, out)), op, "output_size")
    # gather every bin's window as its own axes, flatten them, take the first maximum
    N, C = x.shape[:2]
    bins = [_bin_indices(n, o) for n, o in zip(size, out)]
    if spatial == 1:
        windows = x[:, :, creation.tensor(bins[0])]                    # (N, C, Lo, K)
        flat_index = bins[0]
    else:
        (ih, iw), (Ho, Wo), (Kh, Kw) = bins, out, (bins[0].shape[1], bins[1].shape[1])
        rows = creation.tensor(ih[:, :, None, None])                    # (Ho, Kh, 1, 1)
        cols = creation.tensor(iw[None, None, :, :])                    # (1, 1, Wo, Kw)
        windows = _F.transpose(x[:, :, rows, cols], 3, 4)               # (N, C, Ho, Wo, Kh, Kw)
        windows = _F.reshape(windows, (N, C, Ho, Wo, Kh * Kw))
        flat_index = (ih[:, None, :, None] * size[1] + iw[None, :, None, :]).reshape(
            Ho, Wo, Kh * Kw)
    values, which = _F.max(windows, dim=-1)
    y = _F.squeeze(values, 0) if unbatched else values
    if not return_indices:
        return y
    pick = which.numpy()[..., None]
    idx = np.take_along_axis(np.broadcast_to(flat_index, which.shape + flat_index.shape[-1:]),
                             pick, axis=-1)[..., 0]
    idx = creation.tensor(idx[0] if unbatched else idx)
    return y, idx


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Maximum over ``output_size`` bins [⌊o·L/out⌋, ⌈(o+1)·L/out⌉) of (N, C, L)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over (Ho, Wo) bins of (N, C, H, W); ``return_indices`` also gives each
    maximum's flat index into H·W (as PyTorch)."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


def _max_unpool(op, spatial, input, indices, kernel_size, stride, padding, output_size):
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 2}-D or {spatial + 1}-D input, got "
                         f"shape {tuple(input.shape)}")
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(f"{op}: indices of shape {tuple(indices.shape)} do not match the "
                         f"input's {tuple(input.shape)}")
    kernel = positive(ntuple(kernel_size, spatial, op, "kernel_size"), op, "kernel_size")
    stride = kernel if stride is None else positive(ntuple(stride, spatial, op, "stride"),
                                                     op, "stride")
    padding = positive(ntuple(padding, spatial, op, "padding"), op, "padding", minimum=0)
    x, unbatched = batched(input, spatial)
    idx, _ = batched(indices, spatial)
    default = tuple((n - 1) * s - 2 * p + k
                    for n, s, p, k in zip(x.shape[2:], stride, padding, kernel))
    out = default if output_size is None else tuple(output_size)[-spatial:]
    if len(out) != spatial or any(abs(o - d) >= s for o, d, s in zip(out, default, stride)):
        raise ValueError(f"{op}: output_size {output_size!r} must be within one stride of "
                         f"the default {default}")
    limit = int(np.prod(out))
    if idx.numel() and (int(idx.data.min()) < 0 or int(idx.data.max()) >= limit):
        raise ValueError(f"{op}: indices must lie in [0, {limit}) for output size {out}")
    y = _P.MaxUnpooling.apply(x, idx, output_shape=out)
    return _F.squeeze(y, 0) if unbatched else y


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Scatter (N, C, L) values back to the positions ``indices`` (from ``max_pool1d(...,
    return_indices=True)``) of a zero (N, C, L_out) tensor."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Scatter (N, C, H, W) values back to the flat H_out·W_out positions ``indices`` (from
    ``max_pool2d(..., return_indices=True)``) of a zero (N, C, H_out, W_out) tensor."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


# ---- pytorch parity: power-average pooling ----
__all__ += ["lp_pool1d", "lp_pool2d", "lp_pool3d"]


def _lp_pool(op, avg_pool, spatial, input, norm_type, kernel_size, stride, ceil_mode):
    """(Σ_window xᵖ)^(1/p) = (K · mean_window xᵖ)^(1/p), as PyTorch computes it (a negative
    window sum clipped to 0)."""
    kernel = ntuple(kernel_size, spatial, op, "kernel_size")
    out = avg_pool(input ** norm_type, kernel, stride, 0, ceil_mode)
    return (_F.sign(out) * _F.relu(_F.abs(out)) * float(np.prod(kernel))) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool1d", avg_pool1d, 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool2d", avg_pool2d, 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool3d", avg_pool3d, 3, input, norm_type, kernel_size, stride, ceil_mode)
