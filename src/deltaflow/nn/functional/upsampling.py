"""``F.interpolate`` (nearest, nearest-exact, linear, bilinear, bicubic, area): build the separable
resampling matrices of :mod:`deltaflow.ops.upsample` and apply them in one op."""
from __future__ import annotations

import math

from ...backend import xp_of
from ...ops import upsample as _U
from .pooling import adaptive_avg_pool1d, adaptive_avg_pool2d

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

_SPATIAL = {"linear": 1, "bilinear": 2, "bicubic": 2}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``.

    ``mode``: 'nearest' (input ⌊o·scale⌋), 'nearest-exact' (⌊(o+½)·scale⌋), 'linear' (3-D),
    'bilinear' and 'bicubic' (4-D; corners aligned with ``align_corners=True``), 'area'
    (adaptive average).
    """
    op = "interpolate"
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got "
                         f"shape {tuple(input.shape)}")
    spatial = input.ndim - 2
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area"):
        raise ValueError(f"{op}: mode {mode!r} is not supported (expected 'nearest', "
                         "'nearest-exact', 'linear', 'bilinear', 'bicubic' or 'area')")
    if mode in _SPATIAL and _SPATIAL[mode] != spatial:
        raise ValueError(f"{op}: mode {mode!r} needs a {_SPATIAL[mode] + 2}-D input, got "
                         f"shape {tuple(input.shape)}")
    if align_corners is not None and mode not in _SPATIAL:
        raise ValueError(f"{op}: align_corners option can only be set with the "
                         f"interpolating modes: linear | bilinear | bicubic (got mode "
                         f"{mode!r})")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    in_size = tuple(input.shape[2:])
    if size is not None:
        out = tuple(size) if isinstance(size, (tuple, list)) else (size,) * spatial
        scales = (None,) * spatial
    else:
        factors = (tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
                   else (scale_factor,) * spatial)
        if len(factors) != spatial:
            raise ValueError(f"{op}: scale_factor {scale_factor!r} does not match the "
                             f"{spatial} spatial dims")
        out = tuple(int(math.floor(n * f)) for n, f in zip(in_size, factors))
        scales = ((None,) * spatial if recompute_scale_factor
                  else tuple(1.0 / f for f in factors))
    if len(out) != spatial or min(out) < 1:
        raise ValueError(f"{op}: output size {out} is invalid for input of spatial size "
                         f"{in_size}")
    if mode == "area":
        return (adaptive_avg_pool1d if spatial == 1 else adaptive_avg_pool2d)(input, out)
    if mode in _SPATIAL:
        build = _U.cubic_matrix if mode == "bicubic" else _U.linear_matrix
        mats = [build(n, o, s, bool(align_corners)) for n, o, s in zip(in_size, out, scales)]
    else:
        mats = [_U.nearest_matrix(n, o, s, exact=mode == "nearest-exact")
                for n, o, s in zip(in_size, out, scales)]
    xp = xp_of(input.data)
    mats = [xp.asarray(m, dtype=input.dtype) for m in mats]
    ah, aw = (None, mats[0]) if spatial == 1 else mats
    return _U.Resample.apply(input, ah=ah, aw=aw)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate` (kept for PyTorch compatibility)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Bilinear upsampling with ``align_corners=True`` (like ``nn.UpsamplingBilinear2d``)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
