"""``grid_sample``: sample an image at the points of a grid, with PyTorch's coordinate rules.

A grid value g ∈ [−1, 1] along a spatial dim of size S becomes the source coordinate
s = (g + 1)(S − 1)/2 (``align_corners``: −1 and 1 are the centres of the corner pixels) or
s = ((g + 1)S − 1)/2 (otherwise: they are the outer edges of the corner pixels); padding
'border' clips s to [0, S − 1], 'reflection' reflects it at the borders (the centres, or
the edges, of the corner pixels), then clips. ``source_index`` returns s and ∂s/∂g.
"""
from __future__ import annotations

import itertools

from ..autograd.function import Function
from ..backend import xp_of
from .embedding import scatter_rows


def reflect(s, twice_low, twice_high):
    """s reflected into [low, high] (given doubled, as PyTorch does) and ∂(reflected)/∂s = ±1."""
    xp = xp_of(s)
    if twice_low == twice_high:
        return xp.zeros_like(s), xp.zeros_like(s)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = s - low
    sign = xp.where(shifted < 0, -1.0, 1.0).astype(s.dtype)
    distance = xp.abs(shifted)
    extra = xp.fmod(distance, span)
    even = xp.floor(distance / span) % 2 == 0
    return xp.where(even, extra + low, span - extra + low), xp.where(even, sign, -sign)


def source_index(g, size, padding_mode, align_corners):
    """The source coordinate s of grid values ``g`` along a dim of ``size``, and ∂s/∂g."""
    xp = xp_of(g)
    scale = (size - 1) / 2 if align_corners else size / 2
    s = (g + 1) * scale if align_corners else ((g + 1) * size - 1) / 2
    slope = xp.full_like(g, scale)
    if padding_mode == "reflection":
        s, flip = reflect(s, 0, 2 * (size - 1)) if align_corners else reflect(s, -1, 2 * size - 1)
        slope *= flip
    if padding_mode in ("border", "reflection"):
        slope *= (s > 0) & (s < size - 1)   # PyTorch counts the clip bounds as outside
        s = xp.clip(s, 0, size - 1)
    return s, slope


class GridSample(Function):
    """y[n, c, p] = Σ_k w_k(p)·x[n, c, q_k(p)] at the source point s(p) of grid[n, p]
    (the last grid entry indexes the last spatial dim). Bilinear: q_k are the 2^d pixels
    around s, w_k = Π_a (1 − |s_a − q_k,a|); nearest: the one pixel round(s), w = 1; pixels
    outside the image contribute 0. ∂L/∂x[n, c, q] = Σ_{p, k: q_k(p) = q} w_k·g[n, c, p];
    ∂L/∂grid_a = ∂s_a/∂grid_a · Σ_k Σ_c g_c·x_k,c·∂w_k/∂s_a (0 for nearest)."""

    name = "grid_sample"

    def forward(self, x, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
        xp = xp_of(x)
        sizes = x.shape[2:]
        dims = len(sizes)
        rows = xp.moveaxis(x, 1, -1).reshape(-1, x.shape[1])          # (N·∏S, C)
        points = [source_index(grid[..., dims - 1 - a], size, padding_mode, align_corners)
                  for a, size in enumerate(sizes)]
        coords, self.slopes = [s for s, _ in points], [slope for _, slope in points]
        if mode == "nearest":
            lows, self.fracs, offsets = [xp.rint(s) for s in coords], None, [(0,) * dims]
        else:
            lows = [xp.floor(s) for s in coords]
            self.fracs = [s - low for s, low in zip(coords, lows)]
            offsets = list(itertools.product((0, 1), repeat=dims))
        batch = xp.arange(x.shape[0]).reshape((-1,) + (1,) * dims)
        self.corners = []                                             # (bits, flat index, mask)
        for bits in offsets:
            flat, inside = batch, True
            for low, bit, size in zip(lows, bits, sizes):
                q = (low + bit).astype(xp.int64)
                inside = inside & (q >= 0) & (q < size)
                flat = flat * size + xp.clip(q, 0, size - 1)
            self.corners.append((bits, flat, inside))
        out = 0
        for bits, flat, inside in self.corners:
            out = out + rows[flat] * (self.weight(bits) * inside)[..., None].astype(x.dtype)
        self.rows, self.x_shape = rows, x.shape
        return xp.moveaxis(out, -1, 1)

    def weight(self, bits, skip=None):
        """w_k for the corner at offsets ``bits``, leaving out the factor of dim ``skip``
        (bilinear; 1 for nearest)."""
        return corner_weight(self.fracs, bits, skip)

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        g = xp.moveaxis(g, 1, -1)                                     # (N, *P, C)
        gx = ggrid = None
        if need[0]:
            index = xp.concatenate([flat.reshape(-1) for _, flat, _ in self.corners])
            parts = [(g * (self.weight(bits) * inside)[..., None]).reshape(-1, g.shape[-1])
                     for bits, _, inside in self.corners]
            gx = scatter_rows(index, xp.concatenate(parts), len(self.rows))
            n, c, *sizes = self.x_shape
            gx = xp.moveaxis(gx.reshape(n, *sizes, c), -1, 1)
        if need[1]:
            dims = len(self.slopes)
            ggrid = xp.zeros(g.shape[:-1] + (dims,), dtype=g.dtype)
            if self.fracs is not None:
                for bits, flat, inside in self.corners:
                    dot = (g * self.rows[flat]).sum(axis=-1) * inside
                    for a, bit in enumerate(bits):
                        ggrid[..., dims - 1 - a] += (dot if bit else -dot) * self.weight(bits, a)
                for a, slope in enumerate(self.slopes):
                    ggrid[..., dims - 1 - a] *= slope
        return gx, ggrid

    def backward_graph(self, g):
        """Under ``create_graph``: the docstring's sum recomputed on Tensors with the saved
        corners (pixel indices and masks are piecewise constant in the grid); the source
        coordinate is piecewise linear in the grid, so near the forward's point each
        fraction is frac₀ + ∂s/∂grid·(grid − grid₀), exact to all orders."""
        corners, slopes, fracs0, dims = self.corners, self.slopes, self.fracs, len(self.slopes)

        def sample(x, grid):
            xp = xp_of(x)
            rows = xp.reshape(xp.moveaxis(x, 1, -1), (-1, x.shape[1]))
            fracs = None
            if fracs0 is not None:
                step = grid - grid.detach()
                fracs = [f + step[..., dims - 1 - a] * slope
                         for a, (f, slope) in enumerate(zip(fracs0, slopes))]
            out = 0
            for bits, flat, inside in corners:
                w = corner_weight(fracs, bits) * inside
                w = xp_of(w).asarray(xp_of(w).expand_dims(w, -1), dtype=x.dtype)
                out = out + rows[flat] * w
            return xp.moveaxis(out, -1, 1)

        gx, ggrid = self.recompute_backward(sample, g)
        if ggrid is None and self.needs_input_grad[1]:              # nearest: 0, as backward
            ggrid = self.unwritten_inputs()[1].detach() * 0
        return gx, ggrid


def corner_weight(fracs, bits, skip=None):
    """Π_a (fracₐ if bitₐ else 1 − fracₐ) over the dims a ≠ ``skip``: the bilinear weight of
    the corner at offsets ``bits`` (1 when ``fracs`` is None: nearest)."""
    w = 1.0
    if fracs is not None:
        for a, (frac, bit) in enumerate(zip(fracs, bits)):
            if a != skip:
                w = w * (frac if bit else 1 - frac)
    return w
