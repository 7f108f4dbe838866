"""Layer ops: Linear, convolution, pooling, normalisation, Embedding, EmbeddingBag, attention,
resampling.

1-D convolution and pooling run in deltaflow as images of height 1 (their options have a
leading 1 or (0, 0)); ONNX gets the 1-D form. Conv3d, ConvTranspose3d and MaxPool3d are
built by ``nn`` from 2-D ops, so they export as those ops.
"""
from __future__ import annotations

import numpy as np

from ...nn.modules.module import _BackwardHook
from ...ops import attention as Att
from ...ops import conv as C
from ...ops import embedding as Emb
from ...ops import linalg as L
from ...ops import linear as Lin
from ...ops import norm as N
from ...ops import pool as Pool
from ...ops import upsample as U
from ..graph import ExportError
from . import converter
from .elementwise import cast


def _spatial(n, values):
    """``values`` (one per image axis H, W) for the input's rank: W only for 1-D signals."""
    values = list(values)
    return values[1:] if len(n.shapes[0]) == 3 else values


@converter(Lin.Linear, emits="Gemm (2-D input) or Transpose, MatMul, Add")
def linear(g, n):
    """y = x·Wᵀ + b."""
    x, w = n.inputs[:2]
    b = n.inputs[2] if len(n.inputs) > 2 else None
    if len(n.shapes[0]) == 2:
        return g.add("Gemm", [x, w] + ([b] if b else []), transB=1)
    y = g.add("MatMul", [x, g.add("Transpose", [w], perm=[1, 0])])
    return g.add("Add", [y, b]) if b else y


@converter(L.MatMul, emits="MatMul")
def matmul(g, n):
    return g.add("MatMul", n.inputs)


@converter(L.Tril, L.Triu, since=14, emits="Trilu")
def trilu(g, n):
    return g.add("Trilu", [n.inputs[0], g.scalar(n.options.get("diagonal", 0), np.int64)],
                 upper=int(n.op is L.Triu))


@converter(C.Convolution, emits="Conv")
def conv(g, n):
    o = n.options
    pads = _spatial(n, o.get("padding", ((0, 0), (0, 0))))
    return g.add("Conv", n.inputs, strides=_spatial(n, o.get("stride", (1, 1))),
                 pads=[p[0] for p in pads] + [p[1] for p in pads],
                 dilations=_spatial(n, o.get("dilation", (1, 1))), group=o.get("groups", 1),
                 kernel_shape=list(n.shapes[1][2:]))


@converter(C.TransposedConvolution, emits="ConvTranspose")
def conv_transpose(g, n):
    o = n.options
    pads = _spatial(n, o.get("padding", (0, 0)))
    return g.add("ConvTranspose", n.inputs, strides=_spatial(n, o.get("stride", (1, 1))),
                 pads=pads + pads, output_padding=_spatial(n, o.get("output_padding", (0, 0))),
                 dilations=_spatial(n, o.get("dilation", (1, 1))), group=o.get("groups", 1),
                 kernel_shape=list(n.shapes[1][2:]))


@converter(Pool.MaxPooling, emits="MaxPool")
def max_pool(g, n):
    o = n.options
    if o.get("return_indices"):
        raise ExportError("max pooling with return_indices: ONNX's indices count over the "
                          "whole tensor, PyTorch's per channel")
    pads = _spatial(n, o["padding"])
    return g.add("MaxPool", n.inputs, kernel_shape=_spatial(n, o["kernel_size"]),
                 strides=_spatial(n, o["stride"]), pads=pads + pads,
                 dilations=_spatial(n, o.get("dilation", (1, 1))),
                 ceil_mode=int(bool(o.get("ceil_mode"))))


@converter(Pool.AvgPooling, emits="AveragePool (Mul for divisor_override)")
def avg_pool(g, n):
    o = n.options
    pads = _spatial(n, o["padding"])
    kernel = _spatial(n, o["kernel_size"])
    divisor = o.get("divisor_override")
    y = g.add("AveragePool", n.inputs, kernel_shape=kernel, strides=_spatial(n, o["stride"]),
              pads=pads + pads, ceil_mode=int(bool(o.get("ceil_mode"))),
              count_include_pad=int(bool(o.get("count_include_pad", True)) or bool(divisor)))
    if divisor:  # window sum / divisor = mean over the whole window · area / divisor
        y = g.add("Mul", [y, g.scalar(np.prod(kernel) / divisor, n.dtypes[0])])
    return y


@converter(N.BatchNorm, emits="BatchNormalization (batch statistics: ReduceMean, ...)")
def batch_norm(g, n):
    """Evaluation: y = γ(x − μ_running)/√(σ²_running + ε) + β. Without running statistics
    (``track_running_stats=False``) the batch's own, as deltaflow computes them."""
    o, x, dtype = n.options, n.inputs[0], n.dtypes[0]
    channels = n.shapes[0][1]
    params = list(n.inputs[1:])
    weight = params.pop(0) if o.get("has_weight", True) else g.const(np.ones(channels, dtype))
    bias = params.pop(0) if o.get("has_bias", True) else g.const(np.zeros(channels, dtype))
    eps = float(o.get("eps", 1e-5))
    if not o.get("training", True):
        mean = n.value(o["running_mean"], n.options_b["running_mean"])
        var = n.value(o["running_var"], n.options_b["running_var"])
        return g.add("BatchNormalization", [x, weight, bias, mean, var], epsilon=eps)
    rank = len(n.shapes[0])
    axes = [0] + list(range(2, rank))
    shape = g.ints([1, channels] + [1] * (rank - 2))
    centred = g.add("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
    var = g.reduce("ReduceMean", g.add("Mul", [centred, centred]), axes, True)
    xhat = g.add("Div", [centred, g.add("Sqrt", [g.add("Add", [var, g.scalar(eps, dtype)])])])
    return g.add("Add", [g.add("Mul", [xhat, g.add("Reshape", [weight, shape])]),
                         g.add("Reshape", [bias, shape])])


def _norm_params(g, n, with_bias=True):
    o, dtype = n.options, n.dtypes[0]
    shape = n.shapes[0][len(n.shapes[0]) - o.get("n_axes", 1):]
    params = list(n.inputs[1:])
    weight = params.pop(0) if o.get("has_weight", True) else g.const(np.ones(shape, dtype))
    bias = (params.pop(0) if o.get("has_bias", True) else None) if with_bias else None
    return weight, bias


@converter(N.LayerNorm, emits="ReduceMean, Sub, Mul, Sqrt, Div, Add")
def layer_norm(g, n):
    """(x − μ)/√(σ² + ε)·γ + β over the last ``n_axes`` axes (before opset 17)."""
    x, dtype = n.inputs[0], n.dtypes[0]
    weight, bias = _norm_params(g, n)
    axes = list(range(-n.options.get("n_axes", 1), 0))
    centred = g.add("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
    var = g.reduce("ReduceMean", g.add("Mul", [centred, centred]), axes, True)
    eps = g.scalar(float(n.options.get("eps", 1e-5)), dtype)
    y = g.add("Mul", [g.add("Div", [centred, g.add("Sqrt", [g.add("Add", [var, eps])])]), weight])
    return g.add("Add", [y, bias]) if bias else y


@converter(N.LayerNorm, since=17, emits="LayerNormalization")
def layer_norm_17(g, n):
    weight, bias = _norm_params(g, n)
    return g.add("LayerNormalization", [n.inputs[0], weight] + ([bias] if bias else []),
                 axis=-n.options.get("n_axes", 1), epsilon=float(n.options.get("eps", 1e-5)))


@converter(N.RMSNorm, emits="Mul, ReduceMean, Add, Sqrt, Div")
def rms_norm(g, n):
    """x/√(mean(x²) + ε)·γ over the last ``n_axes`` axes."""
    x, dtype = n.inputs[0], n.dtypes[0]
    weight, _ = _norm_params(g, n, with_bias=False)
    axes = list(range(-n.options.get("n_axes", 1), 0))
    ms = g.reduce("ReduceMean", g.add("Mul", [x, x]), axes, True)
    eps = g.scalar(float(n.options.get("eps", 1e-6)), dtype)
    y = g.add("Div", [x, g.add("Sqrt", [g.add("Add", [ms, eps])])])
    return g.add("Mul", [y, weight]) if n.options.get("has_weight", True) else y


@converter(Emb.Embedding, emits="Gather", dynamic=("index",))
def embedding(g, n):
    """y = W[index]: rows of the weight picked by the (input) indices."""
    return g.add("Gather", [n.inputs[0], n.value(n.options["index"], n.options_b["index"])],
                 axis=0)


@converter(Emb.EmbeddingBag, dynamic=("index", "offsets"),
           emits="Gather, Equal, Not, Cast, Mul, ReduceSum (mean: Div; max: Where, ReduceMax)")
def embedding_bag(g, n):
    """The bags of a 2-D index (B, L): R = W[index] (B, L, D), the entries equal to
    ``padding_idx`` masked out (weight 0; −∞ for a max), then y_b = Σ_j w_bj·R_bj (sum),
    that sum over the count of kept entries (mean) or max_j R_bj (max; an empty bag 0).
    A 1-D index cut at offsets has bags of data-dependent sizes: refused."""
    o, dtype = n.options, n.dtypes[0]
    if o.get("offsets") is not None:
        raise ExportError("embedding_bag of a 1-D input cut at offsets: the bags' sizes are "
                          "data, which ONNX cannot gather by; pass the bags as a 2-D input "
                          "(B, L) padded with padding_idx")
    index = n.value(o["index"], n.options_b["index"])
    rows = g.add("Gather", [n.inputs[0], index], axis=0)              # (B, L, D)
    pad = o.get("padding_idx")
    keep = None if pad is None else g.add("Not", [g.add(
        "Equal", [index, g.scalar(pad, o["index"].dtype)])])           # (B, L) bool
    mode = o.get("mode", "mean")
    if mode == "max":
        if keep is None:
            return g.reduce("ReduceMax", rows, [1], False)
        kept3 = g.add("Unsqueeze", [keep, g.ints([2])])
        best = g.reduce("ReduceMax", g.add("Where", [kept3, rows, g.scalar(-np.inf, dtype)]),
                        [1], False)
        filled = g.reduce("ReduceMax", cast(g, keep, np.bool_, np.int64), [1], True)
        return g.add("Where", [cast(g, filled, np.int64, np.bool_), best, g.scalar(0, dtype)])
    weights = None if keep is None else cast(g, keep, np.bool_, dtype)
    if len(n.inputs) > 1:                                  # per_sample_weights (sum only)
        weights = n.inputs[1] if weights is None else g.add("Mul", [weights, n.inputs[1]])
    if mode == "mean" and keep is None:
        return g.reduce("ReduceMean", rows, [1], False)
    if weights is not None:
        rows = g.add("Mul", [rows, g.add("Unsqueeze", [weights, g.ints([2])])])
    out = g.reduce("ReduceSum", rows, [1], False)
    if mode == "sum":
        return out
    count = g.reduce("ReduceSum", weights, [1], True)                  # kept entries (B, 1)
    return g.add("Div", [out, g.add("Max", [count, g.scalar(1, dtype)])])


@converter(Att.ScaledDotProductAttention,
           emits="Transpose, MatMul, Mul, Add, Softmax, IsNaN, Where")
def attention(g, n):
    """O = P·V, P = softmax(s·Q·Kᵀ + M); a query whose keys are all masked (a row of −∞)
    gets P = 0, as in deltaflow, where ONNX's Softmax gives NaN."""
    o, dtype = n.options, n.dtypes[0]
    if o.get("keep") is not None:
        raise ExportError("attention with dropout in the forward pass (training mode)")
    q, k, v = n.inputs[:3]
    rank = len(n.shapes[1])
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    s = g.add("MatMul", [q, g.add("Transpose", [k], perm=perm)])
    s = g.add("Mul", [s, g.scalar(o.get("scale", 1.0), dtype)])
    if len(n.inputs) > 3:
        s = g.add("Add", [s, n.inputs[3]])
    p = g.add("Softmax", [s], axis=-1)
    p = g.add("Where", [g.add("IsNaN", [p]), g.scalar(0, dtype), p])
    out = g.add("MatMul", [p, v])
    return [out, p] if o.get("return_weights") else out


@converter(U.Resample, emits="MatMul")
def resample(g, n):
    """y = A_h·x·A_wᵀ (interpolation, adaptive average pooling) with constant A_h, A_w."""
    dtype = n.dtypes[0]
    y = g.add("MatMul", [n.inputs[0], g.const(np.asarray(n.options["aw"]).T, dtype)])
    ah = n.options.get("ah")
    return y if ah is None else g.add("MatMul", [g.const(ah, dtype), y])


@converter(_BackwardHook, emits="Identity")
def backward_hook(g, n):
    """A module's backward hooks: the identity in the forward pass."""
    return [g.add("Identity", [x]) for x in n.inputs]
