"""Benchmark workloads: one module per workload, discovered by file name.

The interface every workload module follows (documented in ``benchmarks/README.md``):

* ``DESCRIPTION`` (str): what one call does, in a line.
* ``TARGET`` (float or None): the largest allowed ratio deltaflow / reference.
* ``REFERENCE`` (``"torch"`` or ``"numpy"``): the implementation the ratio is taken against.
* ``UNIT`` (optional str, default ``"call"``): what one call of the timed function is.
* ``make(impl)`` with impl in ``"deltaflow"``, ``"torch"``, ``"numpy"``: a zero-argument
  callable running one unit of work, or ``None`` when that implementation does not apply
  or its library is not installed. ``make`` may accept ``quick=True`` (``--quick``: a
  smaller problem for smoke runs). Import the implementation's library inside ``make``:
  each implementation runs in its own process, so that its peak memory is its own.
"""
from __future__ import annotations

import importlib
import pkgutil


def names() -> list[str]:
    """Workload names, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str):
    """Import ``benchmarks.workloads.<name>`` and check it has the interface."""
    if name not in names():
        raise SystemExit(f"benchmarks: unknown workload {name!r}; available: "
                         f"{', '.join(names())}")
    mod = importlib.import_module(f"{__name__}.{name}")
    for attr in ("DESCRIPTION", "TARGET", "REFERENCE", "make"):
        if not hasattr(mod, attr):
            raise SystemExit(f"benchmarks: workload {name!r} lacks {attr} (see "
                             "benchmarks/README.md for the interface)")
    if mod.REFERENCE not in ("torch", "numpy"):
        raise SystemExit(f"benchmarks: workload {name!r} has REFERENCE={mod.REFERENCE!r}; "
                         "expected 'torch' or 'numpy'")
    return mod
