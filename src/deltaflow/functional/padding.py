"""``pad``: PyTorch's padding modes (constant, reflect, replicate, circular); negative
entries crop.
"""
from __future__ import annotations

import builtins

from ..ops import shape as S
from .indexing import getitem


def pad(x, pad, mode="constant", value=None):
    """``F.pad`` with PyTorch's convention: ``pad = (last_lo, last_hi, prev_lo, prev_hi, ...)``.

    'constant' fills with ``value`` (0) and pads any trailing dims; 'reflect' (mirror without
    the edge; each pad < the dim's size), 'replicate' (repeat the edge) and 'circular' (wrap;
    each pad ≤ the size) pad the last 1, 2 or 3 dims of a batched or unbatched input
    ((C, L) or (N, C, L) for 2 entries, ...). A negative entry crops that side."""
    pad = tuple(int(p) for p in pad)
    shape = tuple(x.shape)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding {pad} must have an even length of at most "
                         f"2 × {x.ndim} entries for a tensor of shape {shape}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: unknown mode {mode!r} (expected 'constant', 'reflect', "
                         f"'replicate' or 'circular')")
    n = len(pad) // 2
    widths = [(0, 0)] * x.ndim
    for k in range(n):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    for axis, (lo, hi) in enumerate(widths):
        if shape[axis] + lo + hi < 0:
            raise ValueError(f"pad: padding ({lo}, {hi}) of dim {axis} of an input of shape "
                             f"{shape} leaves a negative size")
    cuts = [(builtins.min(lo, 0), builtins.min(hi, 0)) for lo, hi in widths]
    grow = tuple((builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths)

    def crop(t):
        return getitem(t, tuple(slice(-lo, t.shape[a] + hi) for a, (lo, hi) in enumerate(cuts)))

    if mode != "constant":
        if value is not None:
            raise ValueError(f"pad: mode {mode!r} takes no value argument, got value={value}")
        if n not in (1, 2, 3) or x.ndim not in (n + 1, n + 2):
            raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of a "
                                      f"(batched) input of 2 to 5 dims; padding {pad} has "
                                      f"{len(pad)} entries and the input is {x.ndim}-D "
                                      f"{shape}")
        for axis in range(x.ndim - n, x.ndim):
            # circular wraps the cropped input (PyTorch crops first), the others the input
            size = shape[axis] + (builtins.sum(cuts[axis]) if mode == "circular" else 0)
            if size == 0 or (mode == "reflect" and builtins.max(grow[axis]) >= size) or (
                    mode == "circular" and builtins.max(grow[axis]) > size):
                limit = {"reflect": "smaller than", "circular": "at most"}.get(mode)
                raise ValueError(f"pad: {mode} padding {widths[axis]} of dim {axis} of an input "
                                 f"of shape {shape} must be "
                                 + (f"{limit} its size" if limit else "of a non-empty dim"))
    cropping = builtins.any(builtins.any(c) for c in cuts)
    if cropping and mode == "circular":
        x = crop(x)
    out = S.Pad.apply(x, widths=grow, mode=mode, value=0.0 if value is None else value)
    return crop(out) if cropping and mode != "circular" else out
