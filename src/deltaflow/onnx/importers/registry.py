"""The import table: ONNX operator name → the functions that build it from deltaflow ops,
one per opset where the operator's meaning changed.

An importer is a plain function of the node's inputs (deltaflow Tensors, ``None`` for an
omitted optional input) and, as keyword-only parameters with the ONNX defaults, its
attributes; it returns one Tensor or a tuple (the node's outputs, in order). A parameter
named ``n_outputs`` receives how many outputs the node names (``Split``). Its signature is
the claim: an attribute it does not list is refused when the model is loaded.
"""
from __future__ import annotations

import inspect

#: the opsets of the default domain ("" / "ai.onnx") that the importer reads
MIN_OPSET, MAX_OPSET = 7, 28

#: op_type → [(since_version, function), ...] sorted by version
IMPORTERS: dict[str, list[tuple[int, object]]] = {}


class OnnxImportError(ValueError):
    """An ONNX file deltaflow cannot read: unreadable, malformed, or using what is not
    supported (:class:`Unsupported`)."""


class Unsupported(OnnxImportError):
    """A well-formed model using an operator, attribute value, or dtype that the importer
    does not implement; the message names it (and the node, added by the loader)."""


def importer(op_type: str, since: int = 1):
    """Register ``fn`` as the importer of ``op_type`` from opset ``since`` on (until the
    next registered version)."""
    def register(fn):
        versions = IMPORTERS.setdefault(op_type, [])
        versions.append((since, fn))
        versions.sort(key=lambda v: v[0])
        return fn
    return register


def lookup(op_type: str, opset: int):
    """The importer of ``op_type`` at ``opset`` (the newest version ≤ opset), else None."""
    found = None
    for since, fn in IMPORTERS.get(op_type, ()):
        if since <= opset:
            found = fn
    return found


def attribute_names(fn) -> set[str]:
    """The ONNX attributes ``fn`` implements (its keyword-only parameters)."""
    return {p.name for p in inspect.signature(fn).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name != "n_outputs"}


def max_inputs(fn) -> int | None:
    """How many inputs ``fn`` takes (None: any number, a variadic operator)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)


def supported_operators() -> dict[str, list[int]]:
    """``{op_type: [since_version, ...]}`` of every operator the importer reads."""
    return {op: [max(since, MIN_OPSET) for since, _ in v] for op, v in sorted(IMPORTERS.items())}
