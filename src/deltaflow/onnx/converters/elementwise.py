"""Elementwise ops and activations: mostly one ONNX operator each.

ONNX arithmetic wants both operands in one type where deltaflow promotes (an int64 tensor
plus a float32 one is float32): operands are cast to the op's output dtype first.
"""
from __future__ import annotations

import math

import numpy as np
from onnx import helper

from ...ops import activation as A
from ...ops import elementwise as E
from ...ops import index as I
from ...ops import parity as P
from ...ops import trig as T
from ..trace import COMPARISONS
from . import converter


def cast(g, x, have, want):
    """``x`` (of dtype ``have``) as dtype ``want``."""
    if np.dtype(have) == np.dtype(want):
        return x
    return g.add("Cast", [x], to=helper.np_dtype_to_tensor_dtype(np.dtype(want)))


def operands(g, n):
    """The inputs, each cast to the output dtype."""
    want = n.out_dtypes[0]
    return [cast(g, x, d, want) for x, d in zip(n.inputs, n.dtypes)]


def _unary(onnx_op):
    def convert(g, n):
        return g.add(onnx_op, operands(g, n))
    return convert


UNARY = {E.Neg: "Neg", E.Exp: "Exp", E.Log: "Log", E.Sqrt: "Sqrt", E.Abs: "Abs",
         E.Sign: "Sign", E.Reciprocal: "Reciprocal", E.Floor: "Floor", E.Ceil: "Ceil",
         E.Erf: "Erf", T.Sin: "Sin", T.Cos: "Cos", T.Tan: "Tan", T.Asin: "Asin",
         T.Acos: "Acos", T.Atan: "Atan", T.Sinh: "Sinh", T.Cosh: "Cosh", T.Asinh: "Asinh",
         T.Acosh: "Acosh", T.Atanh: "Atanh", A.ReLU: "Relu", A.Sigmoid: "Sigmoid",
         A.Tanh: "Tanh"}
BINARY = {E.Add: "Add", E.Sub: "Sub", E.Mul: "Mul", E.Div: "Div", E.Pow: "Pow",
          E.Maximum: "Max", E.Minimum: "Min"}
for _op, _onnx in {**UNARY, **BINARY}.items():
    converter(_op, emits=_onnx)(_unary(_onnx))


def _compare(g, n):
    """A recorded comparison or logical function (``x > 0``, ``a != b``, ``~m``, ``isnan``)."""
    op = n.op
    if op.onnx in ("Not", "And", "Or", "Xor"):
        inputs = [cast(g, x, d, np.bool_) for x, d in zip(n.inputs, n.dtypes)]
    else:
        common = np.result_type(*n.dtypes)
        inputs = [cast(g, x, d, common) for x, d in zip(n.inputs, n.dtypes)]
    out = g.add(op.onnx, inputs)
    return g.add("Not", [out]) if op.__name__ == "ne" else out


for _cmp in COMPARISONS.values():
    converter(_cmp, emits=_cmp.onnx + (", Not" if _cmp.__name__ == "ne" else ""))(_compare)


@converter(E.Log1p, emits="Add, Log")
def log1p(g, n):
    """log(1 + x)."""
    (x,) = operands(g, n)
    return g.add("Log", [g.add("Add", [x, g.scalar(1, n.out_dtypes[0])])])


@converter(E.Expm1, emits="Exp, Sub")
def expm1(g, n):
    """eˣ − 1."""
    (x,) = operands(g, n)
    return g.add("Sub", [g.add("Exp", [x]), g.scalar(1, n.out_dtypes[0])])


@converter(E.Log2, E.Log10, emits="Log, Div")
def log_base(g, n):
    """ln x / ln base."""
    (x,) = operands(g, n)
    base = 2.0 if n.op is E.Log2 else 10.0
    return g.add("Div", [g.add("Log", [x]), g.scalar(math.log(base), n.out_dtypes[0])])


@converter(E.Rsqrt, emits="Sqrt, Reciprocal")
def rsqrt(g, n):
    """1/√x."""
    return g.add("Reciprocal", [g.add("Sqrt", operands(g, n))])


@converter(E.PowScalar, emits="Pow")
def pow_scalar(g, n):
    """xᵖ for a number p."""
    (x,) = operands(g, n)
    return g.add("Pow", [x, g.scalar(n.options["p"], n.out_dtypes[0])])


@converter(E.Clamp, emits="Clip")
def clamp(g, n):
    """min(max(x, lo), hi); either bound may be absent."""
    (x,) = operands(g, n)
    dtype = n.out_dtypes[0]
    lo, hi = n.options.get("min"), n.options.get("max")
    return g.add("Clip", [x, "" if lo is None else g.scalar(lo, dtype),
                          "" if hi is None else g.scalar(hi, dtype)])


@converter(E.Round, emits="Round (Mul, Div for decimals)")
def round_(g, n):
    """Round half to even (NumPy's and ONNX's rule), at ``decimals`` places."""
    (x,) = operands(g, n)
    decimals = n.options.get("decimals", 0)
    if not decimals:
        return g.add("Round", [x])
    scale = g.scalar(10.0 ** decimals, n.out_dtypes[0])
    return g.add("Div", [g.add("Round", [g.add("Mul", [x, scale])]), scale])


@converter(E.Trunc, emits="Abs, Floor, Sign, Mul")
def trunc(g, n):
    """sign(x)·⌊|x|⌋."""
    (x,) = operands(g, n)
    return g.add("Mul", [g.add("Sign", [x]), g.add("Floor", [g.add("Abs", [x])])])


@converter(E.Where, emits="Where")
def where(g, n):
    """cond ? a : b."""
    cond, a, b = n.inputs
    want = n.out_dtypes[0]
    return g.add("Where", [cast(g, cond, n.dtypes[0], np.bool_), cast(g, a, n.dtypes[1], want),
                           cast(g, b, n.dtypes[2], want)])


@converter(I.MaskedFill, emits="Where")
def masked_fill(g, n):
    """value where mask else x."""
    x = n.inputs[0]
    mask = n.inputs[1] if len(n.inputs) > 1 else n.value(n.options["mask"],
                                                         n.options_b["mask"])
    return g.add("Where", [mask, g.scalar(n.options["value"], n.out_dtypes[0]), x])


@converter(E.Cast, emits="Cast")
def cast_op(g, n):
    """x as another dtype (a device move is the identity)."""
    return cast(g, n.inputs[0], n.dtypes[0], n.out_dtypes[0])


@converter(E.Lerp, emits="Sub, Mul, Add")
def lerp(g, n):
    """a + w·(b − a)."""
    a, b, w = operands(g, n)
    return g.add("Add", [a, g.add("Mul", [w, g.add("Sub", [b, a])])])


@converter(P.Logit, emits="Clip, Sub, Div, Log")
def logit(g, n):
    """log(p / (1 − p)), p clamped to [ε, 1 − ε] when ``eps`` is given."""
    (p,) = operands(g, n)
    dtype, eps = n.out_dtypes[0], n.options.get("eps")
    if eps is not None:
        p = g.add("Clip", [p, g.scalar(eps, dtype), g.scalar(1 - eps, dtype)])
    return g.add("Log", [g.add("Div", [p, g.add("Sub", [g.scalar(1, dtype), p])])])


# ------------------------------------------------------------------------ activations
@converter(A.LeakyReLU, emits="LeakyRelu")
def leaky_relu(g, n):
    return g.add("LeakyRelu", n.inputs, alpha=float(n.options.get("negative_slope", 0.01)))


@converter(A.ELU, emits="Elu or Selu")
def elu(g, n):
    """scale·(x if x > 0 else α(eˣ − 1)): Elu, or Selu (γ = scale) when scaled."""
    alpha, scale = float(n.options.get("alpha", 1.0)), float(n.options.get("scale", 1.0))
    if scale == 1.0:
        return g.add("Elu", n.inputs, alpha=alpha)
    return g.add("Selu", n.inputs, alpha=alpha, gamma=scale)


def _gelu_formula(g, x, approximate, dtype):
    """0.5·x·(1 + erf(x/√2)), or with tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    half, one = g.scalar(0.5, dtype), g.scalar(1.0, dtype)
    if approximate == "tanh":
        cube = g.add("Mul", [g.add("Mul", [x, x]), x])
        inner = g.add("Add", [x, g.add("Mul", [cube, g.scalar(0.044715, dtype)])])
        t = g.add("Tanh", [g.add("Mul", [inner, g.scalar(math.sqrt(2 / math.pi), dtype)])])
    else:
        t = g.add("Erf", [g.add("Div", [x, g.scalar(math.sqrt(2.0), dtype)])])
    return g.add("Mul", [g.add("Mul", [x, half]), g.add("Add", [t, one])])


@converter(A.GELU, emits="Erf, Mul, Add (tanh form: Tanh)")
def gelu(g, n):
    return _gelu_formula(g, n.inputs[0], n.options.get("approximate", "none"), n.dtypes[0])


@converter(A.GELU, since=20, emits="Gelu")
def gelu_20(g, n):
    return g.add("Gelu", n.inputs, approximate=n.options.get("approximate", "none"))


@converter(A.SiLU, emits="Sigmoid, Mul")
def silu(g, n):
    """x·σ(x)."""
    (x,) = n.inputs
    return g.add("Mul", [x, g.add("Sigmoid", [x])])


def _softplus(g, x, beta, threshold, dtype):
    """log(1 + e^{βx})/β, and x where βx > threshold (PyTorch's linear tail)."""
    bx = x if beta == 1 else g.add("Mul", [x, g.scalar(beta, dtype)])
    soft = g.add("Softplus", [bx])
    if beta != 1:
        soft = g.add("Div", [soft, g.scalar(beta, dtype)])
    tail = g.add("Greater", [bx, g.scalar(threshold, dtype)])
    return g.add("Where", [tail, x, soft])


@converter(A.Softplus, emits="Softplus, Greater, Where")
def softplus(g, n):
    return _softplus(g, n.inputs[0], float(n.options.get("beta", 1.0)),
                     float(n.options.get("threshold", 20.0)), n.dtypes[0])


@converter(A.Mish, emits="Softplus, Tanh, Mul")
def mish(g, n):
    """x·tanh(softplus(x))."""
    (x,) = n.inputs
    return g.add("Mul", [x, g.add("Tanh", [_softplus(g, x, 1.0, 20.0, n.dtypes[0])])])


@converter(A.Mish, since=18, emits="Mish")
def mish_18(g, n):
    return g.add("Mish", n.inputs)


@converter(A.Hardtanh, emits="Clip")
def hardtanh(g, n):
    dtype = n.dtypes[0]
    return g.add("Clip", [n.inputs[0], g.scalar(n.options.get("min_val", -1.0), dtype),
                          g.scalar(n.options.get("max_val", 1.0), dtype)])


@converter(A.Softmax, emits="Softmax")
def softmax(g, n):
    return g.add("Softmax", n.inputs, axis=int(n.options.get("dim", -1)))


@converter(A.LogSoftmax, emits="LogSoftmax")
def log_softmax(g, n):
    return g.add("LogSoftmax", n.inputs, axis=int(n.options.get("dim", -1)))


@converter(A.Hardsigmoid, emits="HardSigmoid")
def hardsigmoid(g, n):
    """relu6(x + 3)/6 = clip(x/6 + 1/2, 0, 1)."""
    return g.add("HardSigmoid", n.inputs, alpha=1 / 6, beta=0.5)


@converter(A.Hardswish, since=14, emits="HardSwish")
def hardswish(g, n):
    return g.add("HardSwish", n.inputs)


@converter(A.Hardswish, emits="HardSigmoid, Mul")
def hardswish_13(g, n):
    (x,) = n.inputs
    return g.add("Mul", [x, g.add("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])
