"""Layers: Gemm, MatMul, Einsum, Conv, ConvTranspose, pooling, and the normalizations, as
deltaflow's differentiable functions. ONNX's padding (explicit begin/end pads, ``auto_pad``,
``ceil_mode``) becomes an explicit pad before the layer's unpadded form."""
from __future__ import annotations

import math

import numpy as np

from ... import creation
from ... import functional as Fn
from ...nn import functional as F
from .registry import OnnxImportError, Unsupported, importer
from .values import axis as norm_axis
from .values import constant, host

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


@importer("Gemm", 7)
def gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):  # noqa: N803
    """ONNX Gemm: y = alpha · A' B' + beta · C (A' = Aᵀ if transA, B' = Bᵀ if transB)."""
    y = Fn.matmul(a.t() if transA else a, b.t() if transB else b)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c if beta == 1.0 else c * beta)
    return y


@importer("MatMul")
def matmul(a, b):
    """ONNX MatMul: NumPy's matmul (batched, broadcast)."""
    return Fn.matmul(a, b)


@importer("Einsum", 12)
def einsum(*xs, equation):
    """ONNX Einsum: NumPy's einsum of the inputs by ``equation``."""
    return Fn.einsum(equation.replace(" ", ""), *xs)


def _spatial(x, op):
    n = x.ndim - 2
    if n not in (1, 2, 3):
        raise Unsupported(f"{op}: {n} spatial dims (deltaflow has 1-D to 3-D layers)")
    return n


def _pads(op, auto_pad, pads, in_shape, kernel, strides, dilations):
    """(begin pads, end pads) from ``pads`` or ``auto_pad`` (SAME_*: output ⌈in / stride⌉)."""
    n = len(in_shape)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(in_shape, kernel, strides, dilations):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        return begin, end
    if auto_pad not in ("NOTSET", "VALID"):
        raise OnnxImportError(f"{op}: auto_pad {auto_pad!r}")
    if pads is None or auto_pad == "VALID":
        return [0] * n, [0] * n
    return list(pads[:n]), list(pads[n:])


def _pad_spatial(x, begin, end, value=0.0):
    """x padded by (begin, end) on each spatial dim (negative entries crop)."""
    if not any(begin) and not any(end):
        return x
    flat = [w for lo, hi in zip(reversed(begin), reversed(end)) for w in (lo, hi)]
    return Fn.pad(x, flat, value=value)


def _defaults(x, w_shape, kernel_shape, strides, dilations):
    n = _spatial(x, "Conv")
    kernel = list(kernel_shape) if kernel_shape is not None else list(w_shape[2:])
    return (n, kernel, list(strides) if strides is not None else [1] * n,
            list(dilations) if dilations is not None else [1] * n)


@importer("Conv")
def conv(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
         pads=None, strides=None):
    """ONNX Conv: y[n, m] = b[m] + Σ_c Σ_k w[m, c, k] · x[n, c, s·i + d·k − pad] (groups)."""
    n, kernel, strides, dilations = _defaults(x, w.shape, kernel_shape, strides, dilations)
    begin, end = _pads("Conv", auto_pad, pads, x.shape[2:], kernel, strides, dilations)
    padding = 0
    if begin == end:
        padding = tuple(begin)
    else:
        x = _pad_spatial(x, begin, end)
    return _CONV[n](x, w, b, stride=tuple(strides), padding=padding,
                    dilation=tuple(dilations), groups=group)


@importer("ConvTranspose")
def conv_transpose(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1,
                   kernel_shape=None, output_padding=None, output_shape=None, pads=None,
                   strides=None):
    """ONNX ConvTranspose: the gradient of Conv w.r.t. its input (weights (C, M/group, k…)),
    full output s·(in − 1) + d·(k − 1) + 1 cropped by ``pads`` (or to ``output_shape``, or
    SAME: in · s), extended by ``output_padding``, plus b."""
    n, kernel, strides, dilations = _defaults(x, w.shape, kernel_shape, strides, dilations)
    out_pad = list(output_padding) if output_padding is not None else [0] * n
    full = _CONV_T[n](x, w, None, stride=tuple(strides), dilation=tuple(dilations),
                      groups=group)
    sizes = full.shape[2:]
    if pads is not None and auto_pad in ("NOTSET", "VALID"):
        begin = list(pads[:n]) if auto_pad == "NOTSET" else [0] * n
        end = list(pads[n:]) if auto_pad == "NOTSET" else [0] * n
        lengths = list(output_shape[-n:]) if output_shape is not None else [
            f + p - lo - hi for f, p, lo, hi in zip(sizes, out_pad, begin, end)]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER") or output_shape is not None:
        lengths = (list(output_shape[-n:]) if output_shape is not None
                   else [i * s for i, s in zip(x.shape[2:], strides)])
        totals = [f + p - length for f, p, length in zip(sizes, out_pad, lengths)]
        if auto_pad == "SAME_UPPER":
            begin = [t // 2 for t in totals]
        elif auto_pad == "SAME_LOWER":
            begin = [t - t // 2 for t in totals]
        else:
            begin = [0] * n
    elif auto_pad in ("NOTSET", "VALID"):
        begin, lengths = [0] * n, [f + p for f, p in zip(sizes, out_pad)]
    else:
        raise OnnxImportError(f"ConvTranspose: auto_pad {auto_pad!r}")
    y = _pad_spatial(full, [-lo for lo in begin],
                     [lo + length - f for lo, length, f in zip(begin, lengths, sizes)])
    return y if b is None else y + b.reshape(-1, *[1] * n)


def _pool_geometry(op, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides):
    """(kernel, strides, dilations, begin pads, end pads incl. the ceil-mode overhang)."""
    n = _spatial(x, op)
    kernel = list(kernel_shape)
    strides = list(strides) if strides is not None else [1] * n
    dilations = list(dilations) if dilations is not None else [1] * n
    begin, end = _pads(op, auto_pad, pads, x.shape[2:], kernel, strides, dilations)
    extra = [0] * n
    if ceil_mode:
        for i, size in enumerate(x.shape[2:]):
            span = size + begin[i] + end[i] - ((kernel[i] - 1) * dilations[i] + 1)
            out = -(-span // strides[i]) + 1
            if (out - 1) * strides[i] >= size + begin[i]:   # a window starting in the padding
                out -= 1
            extra[i] = max((out - 1) * strides[i] - span, 0)
    return kernel, strides, dilations, begin, end, extra


@importer("MaxPool")
def max_pool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape,
             pads=None, storage_order=0, strides=None, n_outputs):
    """ONNX MaxPool: y = max over each (dilated) window of x padded with −∞; Indices (a
    second output) index x flattened (row-major, or column-major within each image for
    ``storage_order`` 1)."""
    kernel, strides, dilations, begin, end, extra = _pool_geometry(
        "MaxPool", x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides)
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = _pad_spatial(x, begin, [e + c for e, c in zip(end, extra)], value=lowest)
    pool = _MAX_POOL[len(kernel)]
    if n_outputs == 1:
        return pool(padded, tuple(kernel), tuple(strides), 0, tuple(dilations))
    y, idx = pool(padded, tuple(kernel), tuple(strides), 0, tuple(dilations),
                  return_indices=True)
    coords = np.unravel_index(host(idx), padded.shape[2:])
    coords = [c - lo for c, lo in zip(coords, begin)]
    spatial = x.shape[2:]
    flat = np.ravel_multi_index(coords, spatial, order="F" if storage_order else "C")
    planes = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * len(kernel))
    return y, constant((flat + planes * math.prod(spatial)).astype(np.int64), x)


@importer("AveragePool")
def average_pool(x, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None,
                 kernel_shape, pads=None, strides=None):
    """ONNX AveragePool: y = Σ window / (number of elements of x in the window, or also of
    the explicit pads with ``count_include_pad``; never the ceil-mode overhang). The sums
    are a depthwise convolution with a kernel of ones."""
    kernel, strides, dilations, begin, end, extra = _pool_geometry(
        "AveragePool", x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides)
    n = len(kernel)
    grown = [e + c for e, c in zip(end, extra)]
    ones = creation.ones(1, 1, *kernel, dtype=x.dtype, device=x.device)

    def window_sums(t):
        s = _CONV[n](t.reshape(-1, 1, *t.shape[2:]), ones, None, stride=tuple(strides),
                     dilation=tuple(dilations))
        return s.reshape(*t.shape[:2], *s.shape[2:])

    sums = window_sums(_pad_spatial(x, begin, grown))
    if count_include_pad:
        mask = creation.ones(1, 1, *[s + lo + hi for s, lo, hi in zip(x.shape[2:], begin, end)],
                             dtype=x.dtype, device=x.device)
        mask = _pad_spatial(mask, [0] * n, extra)
    else:
        mask = _pad_spatial(creation.ones(1, 1, *x.shape[2:], dtype=x.dtype, device=x.device),
                            begin, grown)
    return sums / window_sums(mask)


@importer("GlobalAveragePool")
def global_average_pool(x):
    """ONNX GlobalAveragePool: the mean over the spatial dims (kept as size 1)."""
    return Fn.mean(x, dim=tuple(range(2, x.ndim)), keepdim=True)


@importer("GlobalMaxPool")
def global_max_pool(x):
    """ONNX GlobalMaxPool: the maximum over the spatial dims (kept as size 1)."""
    return Fn.amax(x, dim=tuple(range(2, x.ndim)), keepdim=True)


def _channels(t, ndim):
    return t.reshape(-1, *[1] * (ndim - 2))


@importer("BatchNormalization", 9)
def batch_norm_v9(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9):
    """ONNX BatchNormalization (opsets 9–13, inference): y = scale · (x − mean) / √(var + ε) + B
    per channel (dim 1)."""
    return _inference_norm(x, scale, b, mean, var, epsilon)


@importer("BatchNormalization", 14)
def batch_norm(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, training_mode=0,
               n_outputs):
    """ONNX BatchNormalization: inference, y = scale · (x − mean) / √(var + ε) + B per
    channel; ``training_mode``: normalised by the batch's mean and (biased) variance, with
    the running statistics momentum · running + (1 − momentum) · batch as outputs 2 and 3."""
    if not training_mode:
        return _inference_norm(x, scale, b, mean, var, epsilon)
    dims = (0,) + tuple(range(2, x.ndim))
    batch_mean = Fn.mean(x, dim=dims)
    batch_var = Fn.var(x, dim=dims, correction=0)
    y = _inference_norm(x, scale, b, batch_mean, batch_var, epsilon)
    if n_outputs == 1:
        return y
    return (y, mean * momentum + batch_mean * (1 - momentum),
            var * momentum + batch_var * (1 - momentum))


def _inference_norm(x, scale, b, mean, var, epsilon):
    return F.batch_norm(x, mean, var, scale, b, training=False, eps=epsilon)


@importer("InstanceNormalization", 6)
def instance_norm(x, scale, b, *, epsilon=1e-5):
    """ONNX InstanceNormalization: y = scale · (x − μ) / √(σ² + ε) + B, μ, σ² over each
    image's channel's spatial dims."""
    dims = tuple(range(2, x.ndim))
    mu = Fn.mean(x, dim=dims, keepdim=True)
    var = Fn.mean((x - mu) ** 2, dim=dims, keepdim=True)
    return (x - mu) / Fn.sqrt(var + epsilon) * _channels(scale, x.ndim) + _channels(b, x.ndim)


@importer("LayerNormalization", 17)
def layer_norm(x, scale, b=None, *, axis=-1, epsilon=1e-5, stash_type=1, n_outputs):
    """ONNX LayerNormalization: y = (x − μ) / √(σ² + ε) · scale + B, μ and σ² over the dims
    from ``axis`` on; outputs 2 and 3 are μ and 1 / √(σ² + ε)."""
    if stash_type != 1:
        raise Unsupported(f"LayerNormalization: stash_type {stash_type} (only 1, float32)")
    a = norm_axis(axis, x.ndim, "LayerNormalization")
    normalized = tuple(x.shape[a:])
    if n_outputs == 1 and tuple(scale.shape) == normalized and (
            b is None or tuple(b.shape) == normalized):
        return F.layer_norm(x, normalized, scale, b, eps=epsilon)
    dims = tuple(range(a, x.ndim))
    mu = Fn.mean(x, dim=dims, keepdim=True)
    inv_std = 1 / Fn.sqrt(Fn.mean((x - mu) ** 2, dim=dims, keepdim=True) + epsilon)
    y = (x - mu) * inv_std * scale
    if b is not None:
        y = y + b
    return (y, mu, inv_std)[:n_outputs]


@importer("Hardmax", 13)
def hardmax(x, *, axis=-1):
    """ONNX Hardmax: 1 at the first maximum along ``axis``, 0 elsewhere."""
    a = norm_axis(axis, x.ndim, "Hardmax")
    first = np.argmax(host(x), axis=a)
    return constant(np.moveaxis(np.eye(x.shape[a], dtype=x.dtype)[first], -1, a), x)

