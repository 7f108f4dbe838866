"""Reductions: sums, means, extrema, variance, log-sum-exp and norms over ``dim``."""
from __future__ import annotations

import math

import numpy as np

from ...ops import reduce as R
from ..graph import ExportError
from . import converter


def _axes(n):
    """The reduced axes (None: all) and ``keepdim``."""
    dim = n.options.get("dim")
    rank = len(n.shapes[0])
    if dim is None:
        return None, bool(n.options.get("keepdim", False))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return [int(d) % rank for d in dims], bool(n.options.get("keepdim", False))


def _count(n, axes):
    """Number of reduced elements (refused when it depends on a dynamic size)."""
    shape_a, shape_b = n.shapes[0], n.shapes_b[0]
    axes = range(len(shape_a)) if axes is None else axes
    count_a = math.prod(shape_a[a] for a in axes)
    if count_a != math.prod(shape_b[a] for a in axes):
        raise ExportError("a variance over a dynamic axis")
    return count_a


def _simple(onnx_op):
    def convert(g, n):
        axes, keep = _axes(n)
        return g.reduce(onnx_op, n.inputs[0], axes, keep)
    return convert


for _op, _onnx in {R.Sum: "ReduceSum", R.Mean: "ReduceMean", R.Prod: "ReduceProd"}.items():
    converter(_op, emits=_onnx)(_simple(_onnx))


@converter(R.Amax, emits="ReduceMax / ReduceMin")
def amax(g, n):
    axes, keep = _axes(n)
    op = "ReduceMax" if n.options.get("mode", "max") == "max" else "ReduceMin"
    return g.reduce(op, n.inputs[0], axes, keep)


@converter(R.MaxDim, emits="ReduceMax / ReduceMin", dynamic=("index",))
def max_dim(g, n):
    """``x.max(dim)`` / ``x.min(dim)`` values: the caller found the arg-max or arg-min, so
    which one it was is read from the traced values."""
    dim, keep = int(n.options["dim"]) % len(n.shapes[0]), bool(n.options.get("keepdim"))
    x, out = n.arrays[0], n.out_arrays[0]
    for op, fn in (("ReduceMax", np.max), ("ReduceMin", np.min)):
        if np.array_equal(fn(x, axis=dim, keepdims=keep), out, equal_nan=True):
            return g.reduce(op, n.inputs[0], [dim], keep)
    raise ExportError("values at indices that are neither the maximum nor the minimum")


def _variance(g, n):
    axes, keep = _axes(n)
    x, dtype = n.inputs[0], n.dtypes[0]
    denom = max(_count(n, axes) - n.options.get("correction", 1), 0)
    centred = g.add("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
    total = g.reduce("ReduceSum", g.add("Mul", [centred, centred]), axes, keep)
    return g.add("Div", [total, g.scalar(denom if denom else np.nan, dtype)])


@converter(R.Var, emits="ReduceMean, Sub, Mul, ReduceSum, Div")
def var(g, n):
    """Σ(x − x̄)²/(N − correction)."""
    return _variance(g, n)


@converter(R.Std, emits="ReduceMean, Sub, Mul, ReduceSum, Div, Sqrt")
def std(g, n):
    return g.add("Sqrt", [_variance(g, n)])


@converter(R.LogSumExp, emits="ReduceMax, Sub, Exp, ReduceSum, Log, Add")
def logsumexp(g, n):
    """m + log Σ e^{x − m}, m = max x (0 where the max is not finite), as deltaflow."""
    axes, keep = _axes(n)
    x, dtype = n.inputs[0], n.dtypes[0]
    m = g.reduce("ReduceMax", x, axes, True)
    m = g.add("Where", [g.add("IsInf", [m]), g.scalar(0, dtype), m])
    total = g.reduce("ReduceSum", g.add("Exp", [g.add("Sub", [x, m])]), axes, True)
    out = g.add("Add", [m, g.add("Log", [total])])
    if keep:
        return out
    return g.add("Squeeze", [out] + ([g.ints(axes)] if axes is not None else []))


@converter(R.Norm, emits="ReduceL1 / ReduceL2 / ReduceMax(Abs) / Pow, ReduceSum")
def norm(g, n):
    axes, keep = _axes(n)
    x, p = n.inputs[0], n.options.get("p", 2.0)
    if p == 2:
        return g.reduce("ReduceL2", x, axes, keep)
    if p == 1:
        return g.reduce("ReduceL1", x, axes, keep)
    if p == math.inf:
        return g.reduce("ReduceMax", g.add("Abs", [x]), axes, keep)
    dtype = n.dtypes[0]
    total = g.reduce("ReduceSum", g.add("Pow", [g.add("Abs", [x]), g.scalar(p, dtype)]),
                     axes, keep)
    return g.add("Pow", [total, g.scalar(1.0 / p, dtype)])
