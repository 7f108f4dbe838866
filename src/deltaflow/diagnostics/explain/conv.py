"""Textbook rules for convolution and pooling, each equation written out in plain NumPy
(loops over the kernel positions, not deltaflow's im2col):

    z = W ⋆ a + b       z[n,o,i,j] = b[o] + Σ_{c,p,q} W[o,c,p,q] · a_pad[n, c, i·s + p, j·s + q]
    ∂L/∂a = δ ∗ rot180(W)   the FULL convolution of δ (dilated by the stride) with the kernel
                            turned by 180°, channels swapped, cut back to a's size
    ∇W = a ⋆ δ          ∇W[o,c,p,q] = Σ_{n,i,j} a_pad[n, c, i·s + p, j·s + q] · δ[n,o,i,j]
    ∇b = Σ_{n,i,j} δ
    max pooling         a[n,c,i,j] = max of the window; ∂L/∂h routes each δ to the window's
                        arg-max (the first one on ties)
    average pooling     a = (1/D) Σ window; ∂L/∂h spreads δ/D over every window position

Covered: 2-D, groups 1, dilation 1 (other settings are shown with autograd's values only).
"""
from __future__ import annotations

import numpy as np

from .record import Quantity
from .rules import Rule


def pad(a, padding, value=0.0):
    """``a`` (N, C, H, W) padded by ((top, bottom), (left, right))."""
    (t, b), (l, r) = padding
    return np.pad(a, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def window(a, p, q, stride, out_hw):
    """The (N, C, Ho, Wo) view of ``a`` read by kernel position (p, q)."""
    (sh, sw), (Ho, Wo) = stride, out_hw
    return a[:, :, p:p + sh * (Ho - 1) + 1:sh, q:q + sw * (Wo - 1) + 1:sw]


def correlate(a, w, stride=(1, 1)):
    """Cross-correlation of a padded input a (N, C, H, W) with w (O, C, kh, kw)."""
    O, _, kh, kw = w.shape
    out_hw = ((a.shape[2] - kh) // stride[0] + 1, (a.shape[3] - kw) // stride[1] + 1)
    z = np.zeros((a.shape[0], O) + out_hw)
    for p in range(kh):
        for q in range(kw):
            z += np.einsum("nchw,oc->nohw", window(a, p, q, stride, out_hw), w[:, :, p, q])
    return z


def full_convolution(delta, w, stride, padding, in_hw):
    """∂L/∂a: δ dilated by the stride, padded by k − 1 on every side, correlated with
    rot180(W) (channels swapped), cut to the padded input and then to the input."""
    N, O, Ho, Wo = delta.shape
    _, C, kh, kw = w.shape
    (sh, sw), ((t, b), (l, r)) = stride, padding
    dilated = np.zeros((N, O, (Ho - 1) * sh + 1, (Wo - 1) * sw + 1))
    dilated[:, :, ::sh, ::sw] = delta
    rotated = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)         # (C, O, kh, kw)
    full = correlate(pad(dilated, ((kh - 1, kh - 1), (kw - 1, kw - 1))), rotated)
    H, W = in_hw
    padded = np.zeros((N, C, H + t + b, W + l + r))
    hh, ww = min(full.shape[2], padded.shape[2]), min(full.shape[3], padded.shape[3])
    padded[:, :, :hh, :ww] = full[:, :, :hh, :ww]
    return padded[:, :, t:t + H, l:l + W]


def weight_gradient(a_pad, delta, kernel, stride):
    """∇W[o,c,p,q] = Σ_{n,i,j} a_pad[n,c,i·s+p,j·s+q] δ[n,o,i,j]: a correlated with δ."""
    kh, kw = kernel
    out_hw = delta.shape[2:]
    gw = np.zeros((delta.shape[1], a_pad.shape[1], kh, kw))
    for p in range(kh):
        for q in range(kw):
            gw[:, :, p, q] = np.einsum("nchw,nohw->oc", window(a_pad, p, q, stride, out_hw),
                                       delta)
    return gw


def _geometry_text(stride, padding):
    (t, b), (l, r) = padding
    pad_text = str(t) if t == b == l == r else f"{padding}"
    return f"stride {stride[0] if stride[0] == stride[1] else stride}, padding {pad_text}"


class Convolution(Rule):
    param_symbols = {1: "W", 2: "b"}

    def supported(self, r):
        stride, padding, dilation, groups = r.saved["geometry"][:4]
        if r.x.ndim != 4:
            return f"a {r.x.ndim}-D convolution input (explain writes out 2-D ones)"
        if groups != 1 or tuple(dilation) != (1, 1):
            return f"groups {groups}, dilation {tuple(dilation)} (explain writes out groups 1, " \
                   "dilation 1)"
        return None

    def forward(self, r, n):
        stride, padding = r.saved["geometry"][:2]
        W = r.values[1]
        z = correlate(pad(r.x, padding), W, stride)
        eq = f"{n.out} = W{n.s} ⋆ {n.inp}"
        if len(r.values) > 2:
            z = z + r.values[2][None, :, None, None]
            eq += f" + b{n.s}"
        eq += f"  (⋆: cross-correlation, {_geometry_text(stride, padding)})"
        return self.params(r, n) + [self.checked(n.out, eq, r.y, z, "forward")]

    def input_grad(self, r, n):
        stride, padding, _, _, in_hw = r.saved["geometry"][:5]
        W = r.values[1]
        how = "full convolution" + ("" if tuple(stride) == (1, 1)
                                    else f" of δ dilated by the stride {tuple(stride)}")
        return (f"{{g}} ∗ rot180(W{n.s})  ({how})",
                lambda g: full_convolution(g, W, stride, padding, in_hw))

    def backward(self, r, n):
        stride, padding = r.saved["geometry"][:2]
        kernel = r.values[1].shape[2:]
        out = [self.param_grad(r, 1, n, f"{n.inp} ⋆ {n.g_out}  (correlation of the input "
                                        "with δ)",
                               weight_gradient(pad(r.x, padding), r.g, kernel, stride))]
        if len(r.values) > 2:
            out.append(self.param_grad(r, 2, n, f"Σₙᵢⱼ {n.g_out}", r.g.sum(axis=(0, 2, 3))))
        return [q for q in out if q is not None]


def _pool_supported(r, dilation=(1, 1)):
    if r.x.ndim != 4:
        return f"a {r.x.ndim}-D pooling input (explain writes out 2-D ones)"
    if tuple(dilation) != (1, 1):
        return f"dilation {tuple(dilation)}"
    return None


def _kernel_text(kernel):
    return f"{kernel[0]}×{kernel[1]}"


class MaxPooling(Rule):
    def supported(self, r):
        return _pool_supported(r, r.saved["geometry"][2])

    def _argmax(self, r):
        """For each window, the kernel position of its (first) maximum."""
        kernel, stride, _, out_hw, pads = r.saved["geometry"][:5]
        xp = pad(r.x, pads, -np.inf)
        views = np.stack([window(xp, p, q, stride, out_hw)
                          for p in range(kernel[0]) for q in range(kernel[1])])
        return views, views.argmax(axis=0)

    def route(self, r, g):
        """Each g[n,c,i,j] added to the input position its window selected."""
        kernel, stride, _, out_hw, pads = r.saved["geometry"][:5]
        _, arg = self._argmax(r)
        (t, b), (l, rr) = pads
        N, C, H, W = r.x.shape
        out = np.zeros((N, C, H + t + b, W + l + rr))
        for k in range(kernel[0] * kernel[1]):
            window(out, k // kernel[1], k % kernel[1], stride, out_hw)[...] += \
                np.where(arg == k, g, 0.0)
        return out[:, :, t:t + H, l:l + W]

    def forward(self, r, n):
        kernel, stride = r.saved["geometry"][:2]
        views, arg = self._argmax(r)
        y = np.take_along_axis(views, arg[None], axis=0)[0]
        k = _kernel_text(kernel)
        mask = self.route(r, np.ones_like(r.y))
        return [Quantity(f"m{n.s}", f"m{n.s} = 1 where {n.inp} is the max of its {k} window "
                         "(the selected positions)", mask),
                self.checked(n.out, f"{n.out} = maxpool_{k}({n.inp})  (stride "
                             f"{stride[0]})", r.y, y, "forward")]

    def input_grad(self, r, n):
        return (f"{{g}} routed to the arg-max positions m{n.s}  (0 elsewhere)",
                lambda g: self.route(r, g))


class AvgPooling(Rule):
    def supported(self, r):
        return _pool_supported(r)

    def _scale(self, r):
        """1/D per output position (the op's divisor, from its count_include_pad option)."""
        scale = np.asarray(r.saved["scale"], dtype=np.float64)
        return scale if scale.ndim == 0 else scale[..., 0]

    def spread(self, r, g):
        kernel, stride, out_hw, pads = r.saved["geometry"][:4]
        (t, b), (l, rr) = pads
        N, C, H, W = r.x.shape
        out = np.zeros((N, C, H + t + b, W + l + rr))
        for p in range(kernel[0]):
            for q in range(kernel[1]):
                window(out, p, q, stride, out_hw)[...] += g * self._scale(r)
        return out[:, :, t:t + H, l:l + W]

    def forward(self, r, n):
        kernel, stride, out_hw, pads = r.saved["geometry"][:4]
        xp = pad(r.x, pads)
        y = sum(window(xp, p, q, stride, out_hw) for p in range(kernel[0])
                for q in range(kernel[1])) * self._scale(r)
        return [self.checked(n.out, f"{n.out} = avgpool_{_kernel_text(kernel)}({n.inp})  "
                             f"(mean of each window, stride {stride[0]})", r.y, y, "forward")]

    def input_grad(self, r, n):
        kernel = r.saved["geometry"][0]
        scale = self._scale(r)
        d = f"{1 / float(scale):g}" if scale.ndim == 0 else "D"
        return (f"{{g}}/{d} spread over every position of its {_kernel_text(kernel)} window",
                lambda g: self.spread(r, g))


RULES = {"Convolution": Convolution(), "MaxPooling": MaxPooling(), "AvgPooling": AvgPooling()}

__all__ = ["RULES", "correlate", "full_convolution", "weight_gradient"]
