"""Optional Numba compilation of a few fused loops (``pip install "deltaflow[fast]"``).

A module with a hot elementwise op writes it as a :class:`Kernels` set: the same methods
implemented twice, once as NumPy/CuPy passes (a :class:`Passes`) and once over plain-Python
loops that Numba compiles (a :class:`Compiled`), and one gate, ``pick(array, ...)``, that
returns the compiled implementation when it applies to ``array`` — Numba installed, the
kernels enabled (:func:`set_enabled`; ``DELTAFLOW_NUMBA=0`` in the environment turns them
off by default), a NumPy float32/float64 array, and the module's own size and layout
condition — and the passes otherwise. The op then calls the methods of what it got, one
algorithm either way. Numba is imported, and the loops compiled or loaded from Numba's
on-disk cache, on first use, never by ``import deltaflow``. Each loop does the operations
of the passes in the same order (no fast-math), so both give the same numbers; where a
loop sums in another order than the passes (LayerNorm's row sums, the scatter of rows), its
module says so and its tests state the bound. Loops are
compiled with ``error_model="numpy"``: a float division by zero gives ±inf/NaN as in NumPy
instead of raising, which also lets LLVM vectorise loops that divide (Adam's update:
0.9 → 0.1 ms on a 262 144-element parameter).
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

_enabled = os.environ.get("DELTAFLOW_NUMBA", "1") != "0"
MIN_SIZE = 1 << 15          # smaller arrays keep the NumPy path: small models never load Numba


def set_enabled(flag: bool) -> None:
    """Let ``pick`` return the compiled kernels (True, the default unless
    ``DELTAFLOW_NUMBA=0``) or always the NumPy/CuPy passes (False); both give the same
    numbers (LayerNorm's and the row scatter's: the same to rounding)."""
    global _enabled
    _enabled = bool(flag)


def enabled() -> bool:
    """Whether the compiled kernels may be picked (see :func:`set_enabled`)."""
    return _enabled


def shared_layout(first, *others):
    """"C" or "F" when ``first`` and ``others`` have one shape and dtype and are all
    contiguous in that one order, "K" when they are all one dense array with its axes
    permuted, by the same strides (a convolution's batch-last output seen as NCHW) — a loop
    can then walk each flat, in memory order (``ravel(order="K")`` is a view) — else None."""
    arrays = (first, *others)
    if any(a.shape != first.shape or a.dtype != first.dtype for a in others):
        return None
    if all(a.flags.c_contiguous for a in arrays):
        return "C"
    if all(a.flags.f_contiguous for a in arrays):
        return "F"
    if all(a.strides == first.strides for a in others) and _dense(first):
        return "K"
    return None


def _dense(a):
    """Whether ``a`` fills its memory without gaps, in some order of its axes."""
    step = a.itemsize
    for stride, n in sorted((s, n) for s, n in zip(a.strides, a.shape) if n > 1):
        if stride != step:
            return False
        step *= n
    return True


class Passes:
    """Base of a kernel set's NumPy/CuPy implementation: any array module, dtype, layout."""

    compiled = False


class Compiled:
    """Base of a kernel set's implementation over its Numba-compiled loops (``self.loops``,
    one attribute per loop)."""

    compiled = True

    def __init__(self, loops):
        self.loops = loops


class Kernels:
    """A kernel set: ``passes`` (a :class:`Passes` instance), the :class:`Compiled`
    subclass ``compiled``, built over the plain-Python ``loops`` on first use, and
    ``applies(array, *others)``, the module's own condition (size, layout) for the loops,
    if it has one."""

    def __init__(self, passes, compiled, applies=None, **loops):
        self.passes = passes
        self._compiled_class, self._applies, self._loops = compiled, applies, loops
        self._compiled = None

    def pick(self, array, *others):
        """The compiled implementation if it applies to ``array`` and ``others``, else
        the passes."""
        if not (_enabled and isinstance(array, np.ndarray)
                and array.dtype in (np.float32, np.float64)
                and (self._applies is None or self._applies(array, *others))):
            return self.passes
        if self._compiled is None:
            try:
                from numba import njit
            except ImportError:  # Numba is optional
                self._compiled = False
            else:
                jit = njit(cache=True, boundscheck=False, error_model="numpy")
                self._compiled = self._compiled_class(SimpleNamespace(
                    **{name: jit(f) for name, f in self._loops.items()}))
        return self._compiled or self.passes
