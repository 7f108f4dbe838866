"""Anomaly detection on both passes: find the op where a NaN or Inf is *born*.

Inside ``with dl.autograd.detect_anomaly():`` the core calls two hooks for every op:

* ``on_forward(fn, inputs, output)`` right after ``fn.forward``: it records where the op was
  called from (a few stack frames, the user's line first) and the module whose forward was
  running, then checks the output;
* ``on_backward(fn, grad_outputs, grad_inputs)`` right after ``fn.backward``: it checks the
  gradients the op handed to its inputs.

An op is *the culprit* only when it creates the problem: its output has a NaN although no
input had one, or an ±Inf although every input was finite (forward); it returns a
non-finite gradient although the gradient it received was finite (backward). An op that
merely passes a NaN on is never blamed, so the error points at the cause -- PyTorch's
anomaly mode checks only the backward pass and can point past it. A NaN that reaches an op
from outside (your data, a parameter, a tensor computed before anomaly mode was switched on)
is reported at the first op that uses it; an ±Inf from outside is not (additive attention
masks hold -inf on purpose).

The raised :class:`AnomalyError` (a ``RuntimeError``) names the pass, the op, the module
path (``model.3.attn``), statistics of every input (shape, dtype, min/max, non-finite
counts), the line of your code that created the tensor, and a hint for the usual causes.
When anomaly mode is off none of this runs: ``Function.apply`` tests one flag. While it is
on, NumPy's floating-point RuntimeWarnings (overflow, divide by zero, invalid value) are
silenced: the anomaly report replaces them.
"""
from __future__ import annotations

import functools
import linecache
import os
import sys
import weakref

import numpy as np

from .grad_mode import state

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_PLUMBING = (os.path.join(_PACKAGE_DIR, "autograd") + os.sep,
             os.path.join(_PACKAGE_DIR, "functional") + os.sep,
             os.path.join(_PACKAGE_DIR, "tensor.py"))
_FRAMES = 6

#: ops that turn finite inputs into ±Inf on purpose (``masked_fill(mask, -inf)``, ``pad``
#: with an infinite value): their Inf is not an anomaly, a NaN still is
INF_BY_DESIGN = frozenset({"masked_fill", "pad", "where"})

#: what usually goes wrong in each op, added to the error message
HINTS = {
    "log": "log(x) is -inf at x = 0 and NaN for x < 0: clamp the input (x.clamp_min(1e-12)) "
           "or use a fused log-space op (log_softmax, cross_entropy, BCEWithLogitsLoss)",
    "log1p": "log1p(x) is -inf at x = -1 and NaN below: keep x > -1",
    "div": "division by zero gives ±Inf (and 0/0 NaN): add an epsilon to the denominator",
    "sqrt": "sqrt'(x) = 1/(2·sqrt(x)) is Inf at x = 0 (a norm of a zero vector): "
            "add an epsilon inside the root",
    "rsqrt": "rsqrt(x) is Inf at x = 0: add an epsilon (as normalisation layers do)",
    "exp": "exp overflows above ~88 in float32 / ~709 in float64: subtract the max first "
           "(logsumexp, softmax) or clamp the input",
    "pow": "negative base with a fractional exponent gives NaN; 0 to a negative power is Inf",
    "powscalar": "negative base with a fractional exponent gives NaN; 0 to a negative power is Inf",
    "matmul": "very large activations or weights overflow: check the initialisation scale "
              "and the learning rate, clip gradients",
    "linear": "very large activations or weights overflow: check the initialisation scale "
              "and the learning rate, clip gradients",
    "std": "the gradient of std is Inf where all values are equal (std = 0): add an epsilon",
    "norm": "the gradient of a norm is undefined at the zero vector: add an epsilon",
}


class AnomalyError(RuntimeError):
    """The first op whose forward output or backward gradient is NaN/Inf.

    Attributes: ``phase`` (``"forward"`` or ``"backward"``), ``op`` (the op's name),
    ``module_path`` (dotted path of the module running it, or None), ``source``
    (``"file:line"`` of the user code that created the tensor, or None).
    """

    def __init__(self, message, phase, op, module_path, source):
        super().__init__(message)
        self.phase, self.op, self.module_path, self.source = phase, op, module_path, source


class detect_anomaly:
    """Context manager (and decorator): raise at the op where a NaN or Inf first appears.

    ``check_nan=False`` keeps the source tracking (for other error messages) but turns the
    checks off, as in PyTorch.
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev = (state.anomaly_enabled, _settings.check_nan)
        self._np_err = _quiet_numpy(self.check_nan)
        state.anomaly_enabled = True
        _settings.check_nan = self.check_nan
        return self

    def __exit__(self, *exc):
        state.anomaly_enabled, _settings.check_nan = self._prev
        np.seterr(**self._np_err)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly(detect_anomaly):
    """``set_detect_anomaly(True)`` switches anomaly mode on for good; as a context manager
    it restores the previous mode on exit."""

    def __init__(self, mode: bool, check_nan: bool = True):
        super().__init__(check_nan)
        self._prev = (state.anomaly_enabled, _settings.check_nan)
        self._np_err = _quiet_numpy(bool(mode) and self.check_nan)
        state.anomaly_enabled = bool(mode)
        _settings.check_nan = self.check_nan

    def __enter__(self):
        return self


def _quiet_numpy(quiet: bool) -> dict:
    """While the checks run, NumPy's overflow/divide/invalid RuntimeWarnings are redundant:
    silence them (the anomaly report says more). Returns the previous settings."""
    return np.seterr(over="ignore", divide="ignore", invalid="ignore") if quiet else np.geterr()


def is_anomaly_enabled() -> bool:
    return state.anomaly_enabled


class _Settings:
    check_nan = True


_settings = _Settings()
# non-finite arrays that a checked op produced (passed on, or Inf by design), by id
_checked_nonfinite: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _was_checked(a) -> bool:
    return _checked_nonfinite.get(id(a)) is a


# ------------------------------------------------------------------------------ stats
def _counts(a):
    """(nan, +inf, -inf) counts of a floating array; None for other dtypes."""
    if a is None or a.dtype.kind not in "fc":
        return None
    xp = _xp(a)
    if bool(xp.isfinite(a).all()):
        return (0, 0, 0)
    return (int(xp.isnan(a).sum()), int(xp.isposinf(a).sum()), int(xp.isneginf(a).sum()))


def _has(counts, kind="any"):
    if counts is None:
        return False
    return counts[0] > 0 if kind == "nan" else any(counts)


def _xp(a):
    from ..backend import xp_of
    return xp_of(a)


def describe(a) -> str:
    """``shape (2, 3), float64, min -0.5, max 2, non-finite 1 (nan 1)`` for an array."""
    if a is None:
        return "None"
    text = f"shape {tuple(a.shape)}, {a.dtype}"
    counts = _counts(a)
    if a.size and a.dtype.kind in "fciub":
        xp = _xp(a)
        finite = a[xp.isfinite(a)] if counts is not None and any(counts) else a
        if finite.size:
            text += f", min {float(finite.min()):.6g}, max {float(finite.max()):.6g}"
            if counts is not None and any(counts):
                text += " (finite values)"
    if counts is not None:
        n = sum(counts)
        text += f", non-finite {n}"
        if n:
            parts = [f"{k} {c}" for k, c in zip(("nan", "+inf", "-inf"), counts) if c]
            text += f" ({', '.join(parts)}) of {a.size}"
    return text


# ------------------------------------------------------------------------- provenance
def _record(fn) -> None:
    """Store where ``fn`` was called from and the module path on ``fn`` (anomaly mode only)."""
    frames = []
    f = sys._getframe(2)
    while f is not None and len(frames) < _FRAMES:
        name = f.f_code.co_filename
        if not name.startswith(_PLUMBING):
            frames.append((name, f.f_lineno, f.f_code.co_name))
        f = f.f_back
    fn.trace = frames
    mod = sys.modules.get("deltaflow.nn.modules.module")
    getter = getattr(mod, "current_module_path", None)
    fn.module_path = getter() if getter is not None else None


def _user_frame(fn):
    """The innermost recorded frame outside the deltaflow package (the user's line)."""
    frames = getattr(fn, "trace", None) or []
    for frame in frames:
        if not frame[0].startswith(_PACKAGE_DIR):
            return frame
    return frames[0] if frames else None


def _format_trace(fn) -> list[str]:
    lines = []
    user = _user_frame(fn)
    for name, lineno, func in getattr(fn, "trace", None) or []:
        code = linecache.getline(name, lineno).strip()
        mark = "-> " if (name, lineno, func) == user else "   "
        lines.append(f"    {mark}{_short(name)}:{lineno} in {func}: {code}")
    return lines


def _short(path):
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return path
    return path if rel.startswith("..") else rel


def source_of(fn) -> str | None:
    """``file:line`` of the user code that created ``fn``'s output (None when unknown)."""
    frame = _user_frame(fn)
    return None if frame is None else f"{_short(frame[0])}:{frame[1]}"


# ---------------------------------------------------------------------------- checks
def _raise(phase, fn, what, labelled):
    """Raise :class:`AnomalyError`; ``labelled`` is a list of (label, array) to describe."""
    op = fn.op_name()
    path = getattr(fn, "module_path", None)
    lines = [f"detect_anomaly: {phase} of op '{op}' {what}"]
    lines.append(f"  module: {path if path else '(not inside an nn.Module)'}")
    src = source_of(fn)
    if src:
        lines.append(f"  created at {src} (innermost call first, -> marks your code):")
        lines.extend(_format_trace(fn))
    for label, a in labelled:
        lines.append(f"  {label}: {describe(a)}")
    hint = HINTS.get(op) or HINTS.get(type(fn).__name__.lower())
    if hint:
        lines.append(f"  hint: {hint}")
    raise AnomalyError("\n".join(lines), phase, op, path, src)


def _arrays(xs):
    return [x for x in xs if x is not None and hasattr(x, "dtype")]


def _label(prefix, arrays):
    if len(arrays) == 1:
        return [(prefix, arrays[0])]
    return [(f"{prefix} {k}", a) for k, a in enumerate(arrays)]


def on_forward(fn, inputs, output) -> None:
    """Record provenance; raise if ``fn`` turned finite inputs into NaN/Inf."""
    _record(fn)
    if not _settings.check_nan:
        return
    outs = output if type(output) is tuple else (output,)
    out_counts = [_counts(o) for o in outs]
    if not any(_has(c) for c in out_counts):
        return
    in_arrays = [t.data for t in inputs]
    in_counts = [_counts(a) for a in in_arrays]
    for t, c in zip(inputs, in_counts):
        if _has(c, "nan") and t._ctx is None and not _was_checked(t.data):
            _raise("forward", fn, "received a NaN input that no checked op produced "
                   "(your data, a parameter, or a tensor computed before anomaly mode)",
                   _label("input", in_arrays) + _label("output", outs))
    in_nan = any(_has(c, "nan") for c in in_counts)
    in_bad = any(_has(c) for c in in_counts)
    new_nan = any(_has(c, "nan") for c in out_counts) and not in_nan
    new_inf = (any(_has(c) for c in out_counts) and not in_bad
               and fn.op_name() not in INF_BY_DESIGN)
    if new_nan or new_inf:
        kind = "NaN" if new_nan else "Inf"
        source = "non-NaN" if new_nan and in_bad else "finite"
        _raise("forward", fn, f"produced {kind} from {source} inputs",
               _label("input", in_arrays) + _label("output", outs))
    for o in outs:
        if isinstance(o, np.ndarray) or hasattr(o, "__cuda_array_interface__"):
            _checked_nonfinite[id(o)] = o


def on_backward(fn, grad_outputs, grad_inputs) -> None:
    """Raise if ``fn``'s backward turned a finite incoming gradient into NaN/Inf."""
    if not _settings.check_nan:
        return
    got = _arrays(grad_inputs)
    if not any(_has(_counts(g)) for g in got):
        return
    if any(_has(_counts(g)) for g in _arrays(grad_outputs)):
        return  # passed on: the op (or root gradient) upstream is the cause
    forward_inputs = [t.data for t in getattr(fn, "parents", ())]
    _raise("backward", fn, "produced a non-finite gradient from a finite incoming gradient",
           _label("forward input", forward_inputs) + _label("incoming gradient", list(grad_outputs))
           + [(f"gradient for input {k}", g) for k, g in enumerate(grad_inputs) if g is not None])


__all__ = ["AnomalyError", "describe", "detect_anomaly", "is_anomaly_enabled",
           "set_detect_anomaly", "source_of"]
