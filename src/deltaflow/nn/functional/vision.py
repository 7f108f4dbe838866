"""``F.pixel_shuffle``, ``F.pixel_unshuffle`` (reshapes and a permutation), ``F.affine_grid``
(a matrix product with the base grid) and ``F.grid_sample`` (:mod:`deltaflow.ops.vision`)."""
from __future__ import annotations

import warnings

import numpy as np

from ...backend import xp_of
from ...ops import vision as _V
from ...tensor import Tensor

__all__ = ["pixel_shuffle", "pixel_unshuffle", "affine_grid", "grid_sample"]


def _check_factor(op, what, factor):
    if not isinstance(factor, int) or factor <= 0:
        raise ValueError(f"{op}: {what} must be a positive int, got {factor!r}")


def pixel_shuffle(input, upscale_factor):
    """(*, C·r², H, W) → (*, C, H·r, W·r): out[..., c, h·r + i, w·r + j] =
    in[..., c·r² + i·r + j, h, w]."""
    op, r = "pixel_shuffle", upscale_factor
    _check_factor(op, "upscale_factor", r)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C, H, W), got shape "
                         f"{tuple(input.shape)}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"{op}: the channel dim (-3) of an input of shape "
                         f"{tuple(input.shape)} must be divisible by upscale_factor² = {r * r}")
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H·r, W·r) → (*, C·r², H, W), the inverse of ``pixel_shuffle``."""
    op, r = "pixel_unshuffle", downscale_factor
    _check_factor(op, "downscale_factor", r)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C, H, W), got shape "
                         f"{tuple(input.shape)}")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"{op}: the height and width of an input of shape "
                         f"{tuple(input.shape)} must be divisible by downscale_factor = {r}")
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def _align(op, align_corners):
    if align_corners is None:
        warnings.warn(f"{op}: the default align_corners=None means False (PyTorch's behaviour "
                      f"since 1.3.0); pass align_corners explicitly", UserWarning, stacklevel=3)
        return False
    return bool(align_corners)


def _linspace(steps, align_corners):
    """The grid values of the pixel centres along a dim of ``steps`` pixels."""
    if steps == 1:
        return np.zeros(1)
    points = np.linspace(-1.0, 1.0, steps)
    return points if align_corners else points * (steps - 1) / steps


def affine_grid(theta, size, align_corners=None):
    """The sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps ``theta``
    (N, 2, 3) (or (N, 3, 4)) for an output of ``size`` (N, C, H, W) (or (N, C, D, H, W)):
    grid[n, h, w] = theta[n] · (x_w, y_h, 1)."""
    op = "affine_grid"
    align_corners = _align(op, align_corners)
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise ValueError(f"{op}: size must be (N, C, H, W) or (N, C, D, H, W), got {size}")
    d = len(size) - 2
    if not np.issubdtype(theta.dtype, np.floating):
        raise TypeError(f"{op}: theta must be floating, got dtype {theta.dtype}")
    if tuple(theta.shape) != (size[0], d, d + 1):
        raise ValueError(f"{op}: expected theta of shape {(size[0], d, d + 1)} (a batch of "
                         f"{d}-D affine matrices) for size {size}, got {tuple(theta.shape)}")
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn(f"{op}: with align_corners=True a size-1 dim of the unit-size grid "
                      f"{size} gets the grid value 0, as in PyTorch since 1.3.0", UserWarning,
                      stacklevel=2)
    axes = [_linspace(s, align_corners) for s in reversed(spatial)]   # x (last dim) first
    mesh = np.meshgrid(*axes[::-1], indexing="ij")[::-1]               # each of shape spatial
    base = np.stack([*mesh, np.ones(spatial)], axis=-1).reshape(-1, d + 1)
    base = Tensor.constant(xp_of(theta.data).asarray(base, dtype=theta.dtype))
    return (base @ theta.transpose(1, 2)).reshape(size[0], *spatial, d)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` (N, C, H, W) (or (N, C, D, H, W)) at ``grid`` (N, H', W', 2) (or
    (N, D', H', W', 3)) of normalised (x, y[, z]) points in [−1, 1]; ``mode`` 'bilinear'
    (trilinear for 5-D) or 'nearest', ``padding_mode`` 'zeros', 'border' or 'reflection'."""
    op = "grid_sample"
    align_corners = _align(op, align_corners)
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"{op}: mode {mode!r} is not supported (expected 'bilinear' or "
                         f"'nearest')")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"{op}: padding_mode {padding_mode!r} is not supported (expected "
                         f"'zeros', 'border' or 'reflection')")
    if input.ndim not in (4, 5):
        raise ValueError(f"{op}: expected a 4-D (N, C, H, W) or 5-D (N, C, D, H, W) input, "
                         f"got shape {tuple(input.shape)}")
    d = input.ndim - 2
    if (grid.ndim != input.ndim or grid.shape[0] != input.shape[0]
            or grid.shape[-1] != d):
        raise ValueError(f"{op}: expected a grid of shape (N, *output_size, {d}) with "
                         f"N = {input.shape[0]} for an input of shape {tuple(input.shape)}, "
                         f"got {tuple(grid.shape)}")
    if input.dtype != grid.dtype:
        raise TypeError(f"{op}: input and grid must have the same dtype, got {input.dtype} "
                        f"and {grid.dtype}")
    return _V.GridSample.apply(input, grid, mode=mode, padding_mode=padding_mode,
                               align_corners=align_corners)
