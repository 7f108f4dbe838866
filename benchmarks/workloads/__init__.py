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
* ``VARIANTS`` (optional dict name → description): one module, several workloads named
  ``module:variant`` (each with its own row and ratio); ``make`` then takes ``variant=``.
  :func:`expand` turns a module's name into its variants' names.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from types import SimpleNamespace


def names() -> list[str]:
    """Workload names, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def expand(requested) -> list[str]:
    """Each name of a module with ``VARIANTS`` replaced by ``module:variant`` for each."""
    out = []
    for name in requested:
        variants = None if ":" in name or name not in names() else getattr(
            importlib.import_module(f"{__name__}.{name}"), "VARIANTS", None)
        out += [f"{name}:{v}" for v in variants] if variants else [name]
    return out


def load(name: str):
    """Import ``benchmarks.workloads.<name>`` and check it has the interface; for
    ``module:variant``, the module's attributes with ``make`` bound to the variant and the
    variant's description."""
    name, _, variant = name.partition(":")
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
    variants = getattr(mod, "VARIANTS", None)
    if variants is None and not variant:
        return mod
    if variant not in (variants or {}):
        raise SystemExit(f"benchmarks: workload {name!r} has variants "
                         f"{', '.join(variants or {}) or 'none'}; got {variant!r} (name one "
                         f"as {name}:VARIANT)")
    attrs = {k: v for k, v in vars(mod).items() if not k.startswith("__")}
    return SimpleNamespace(**{**attrs, "DESCRIPTION": variants[variant],
                              "make": functools.partial(mod.make, variant=variant)})
