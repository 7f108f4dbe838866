"""Elementwise operators: arithmetic (NumPy broadcasting, ONNX's since opset 7), comparisons,
logic, unary math, Where, Clip. Floating inputs go through deltaflow's differentiable
functions; integer arithmetic with ONNX's own integer rules (Div truncates) on the arrays."""
from __future__ import annotations

import functools

import numpy as np

from ... import creation
from ... import functional as Fn
from ...backend import xp_of
from .registry import importer
from .values import is_float, on_arrays, scalar

#: the opset that introduced each operator registered below from a table (the rest: ≤ 7)
_INTRODUCED = {"Acosh": 9, "Asinh": 9, "Atanh": 9, "Cosh": 9, "Sinh": 9, "Erf": 9,
               "IsNaN": 9, "Sign": 9, "Round": 11, "GreaterOrEqual": 12, "LessOrEqual": 12,
               "BitwiseAnd": 18, "BitwiseNot": 18, "BitwiseOr": 18, "BitwiseXor": 18}


def _binary(op_type, fn, int_fn=None):
    def run(a, b):
        if int_fn is not None and not is_float(a):
            return on_arrays(int_fn, a, b)
        return fn(a, b)
    run.__name__ = op_type.lower()
    run.__doc__ = f"ONNX {op_type}: elementwise, with broadcasting."
    importer(op_type, _INTRODUCED.get(op_type, 1))(run)


def _int_div(x, y):
    """Integer division truncating toward zero (ONNX's, C's)."""
    xp = xp_of(x)
    q = xp.floor_divide(x, y)
    return (q + ((xp.remainder(x, y) != 0) & ((x < 0) ^ (y < 0)))).astype(x.dtype)


_binary("Add", Fn.add)
_binary("Sub", Fn.sub)
_binary("Mul", Fn.mul)
_binary("Div", Fn.div, _int_div)
_binary("Equal", Fn.eq)
_binary("Less", Fn.lt)
_binary("Greater", Fn.gt)
_binary("LessOrEqual", Fn.le)
_binary("GreaterOrEqual", Fn.ge)
_binary("And", Fn.logical_and)
_binary("Or", Fn.logical_or)
_binary("Xor", Fn.logical_xor)
_binary("BitwiseAnd", Fn.bitwise_and)
_binary("BitwiseOr", Fn.bitwise_or)
_binary("BitwiseXor", Fn.bitwise_xor)


@importer("Pow")
def pow_(x, y):
    """ONNX Pow: x ** y in x's dtype (y may have another type)."""
    if not is_float(x):
        return on_arrays(lambda a, b: (a ** b).astype(a.dtype), x, y)
    return Fn.pow(x, y if y.dtype == x.dtype else y.to(x.dtype))


@importer("Mod", 10)
def mod(a, b, *, fmod=0):
    """ONNX Mod: the remainder with the divisor's sign (``fmod=1``: the dividend's)."""
    return (Fn.fmod if fmod else Fn.remainder)(a, b)


def _variadic(op_type, fn):
    def run(*xs):
        return functools.reduce(fn, xs)
    run.__name__ = op_type.lower()
    run.__doc__ = f"ONNX {op_type}: elementwise over any number of inputs, with broadcasting."
    importer(op_type)(run)


_variadic("Max", Fn.maximum)
_variadic("Min", Fn.minimum)
_variadic("Sum", Fn.add)


@importer("Mean")
def mean(*xs):
    """ONNX Mean: (x₁ + … + xₙ) / n, with broadcasting."""
    return functools.reduce(Fn.add, xs) / len(xs)


def _unary(op_type, fn):
    def run(x):
        return fn(x)
    run.__name__ = op_type.lower()
    run.__doc__ = f"ONNX {op_type}: elementwise."
    importer(op_type, _INTRODUCED.get(op_type, 1))(run)


for _name, _fn in {"Abs": Fn.abs, "Neg": Fn.neg, "Exp": Fn.exp, "Log": Fn.log,
                   "Sqrt": Fn.sqrt, "Reciprocal": Fn.reciprocal, "Floor": Fn.floor,
                   "Ceil": Fn.ceil, "Round": Fn.round, "Sign": Fn.sign, "Sin": Fn.sin,
                   "Cos": Fn.cos, "Tan": Fn.tan, "Asin": Fn.asin, "Acos": Fn.acos,
                   "Atan": Fn.atan, "Sinh": Fn.sinh, "Cosh": Fn.cosh, "Asinh": Fn.asinh,
                   "Acosh": Fn.acosh, "Atanh": Fn.atanh, "Erf": Fn.erf, "Not": Fn.logical_not,
                   "BitwiseNot": Fn.bitwise_not, "IsNaN": Fn.isnan}.items():
    _unary(_name, _fn)


@importer("IsInf", 10)
def isinf(x, *, detect_negative=1, detect_positive=1):
    """ONNX IsInf: x = +∞ (detect_positive) or x = −∞ (detect_negative)."""
    if detect_negative and detect_positive:
        return Fn.isinf(x)
    if detect_positive:
        return Fn.isposinf(x)
    if detect_negative:
        return Fn.isneginf(x)
    return creation.zeros_like(x, dtype=np.bool_)


@importer("Identity")
def identity(x):
    """ONNX Identity: y = x."""
    return x


@importer("Where", 9)
def where(condition, x, y):
    """ONNX Where: x where condition else y, with broadcasting."""
    return Fn.where(condition, x, y)


@importer("Clip", 6)
def clip_v6(x, *, min=-3.4028234663852886e38, max=3.4028234663852886e38):  # noqa: A002
    """ONNX Clip (opset 6): min(max(x, min), max), bounds as attributes."""
    return Fn.clamp(x, min, max)


@importer("Clip", 11)
def clip_v11(x, min=None, max=None):  # noqa: A002
    """ONNX Clip (opset 11): min(max(x, min), max), bounds as optional scalar inputs."""
    lo = None if min is None else scalar(min)
    hi = None if max is None else scalar(max)
    if lo is None and hi is None:
        return x
    if lo is not None and hi is not None and lo > hi:   # ONNX (NumPy's clip): all become max
        return creation.full_like(x, hi)
    return Fn.clamp(x, lo, hi)
