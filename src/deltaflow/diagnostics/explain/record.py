"""What :func:`~deltaflow.diagnostics.explain` produces: quantities, checks, layers, steps.

One data model feeds every renderer (the text and markdown of :mod:`.render`, the JSON of
:meth:`Explanation.to_dict`, the HTML page of ``deltaflow explain --html``):

* :class:`Quantity` -- one named tensor: its symbol (``δ⁽²⁾``), the equation that defines it
  (``δ⁽²⁾ = ∂L/∂a⁽²⁾ ⊙ σ′(z⁽²⁾)``), its value (the live array: autograd's, or deltaflow's
  forward output) and, where explain recomputed the equation, a :class:`Check`;
* :class:`Check` -- the equation recomputed with plain NumPy from the *printed* numbers of
  the other quantities, against the value: the largest absolute difference, the tolerance
  and ✓ (within it) or ✗ (beyond it: never ✓);
* :class:`Layer` -- a parameterised op with the parameter-free ops after it (activation,
  pooling, reshape ...), read from the recorded autograd graph, with its forward, backward
  and update quantities;
* :class:`Step` -- what a renderer walks in reading order: the forward pass layer by layer,
  the loss, the backward pass from the last layer to the first, the update
  (:meth:`Explanation.steps`).

``Explanation.to_dict()`` (format ``deltaflow-explain/1``, JSON-able, stable) is::

    {"format": "deltaflow-explain/1", "title", "loss_name", "loss", "loss_after_update",
     "lr", "max_values",
     "network": [{"index", "name", "modules": [str], "ops": [str]}],   # layer 0 = input
     "steps": [{"phase": "forward" | "loss" | "backward" | "update", "layer": int | None,
                "title", "modules": [str],
                "quantities": [{"symbol", "equation", "shape": [int], "note",
                                "values": nested list           # when size <= max_values
                                | "norm", "mean", "std", "min", "max",  # else statistics
                                  "crop": {"at": "[0, 0, 12:16, 12:16]", "values": ...}
                                       # images/sequences: the k×k window of the first map
                                       # with the largest Σ|value| (k² ≤ max_values)
                                "check": null | {"difference", "tolerance", "ok",
                                                 "mark": "✓" | "✗", "against"}}]}],
     "checks": {"count", "failed", "largest_difference"},
     "warnings": [str],          # one per ✗
     "not_shown": [str]}         # what explain could not show as a textbook equation
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

FORMAT = "deltaflow-explain/1"
PHASES = ("forward", "loss", "backward", "update")


def tolerance_for(value) -> float:
    """The tolerance of a float64 recomputation: 1e-10 + 1e-8 · max |value|."""
    v = np.asarray(value, dtype=np.float64)
    scale = float(np.max(np.abs(v))) if v.size else 0.0
    return 1e-10 + 1e-8 * (scale if math.isfinite(scale) else 0.0)


@dataclass
class Check:
    """The equation recomputed from the printed numbers, compared with the value shown."""

    recomputed: np.ndarray
    difference: float            # max |recomputed − value|
    tolerance: float
    against: str = "autograd"    # or "forward" (deltaflow's own forward output)

    @classmethod
    def of(cls, recomputed, value, against="autograd") -> Check:
        r = np.asarray(recomputed, dtype=np.float64)
        v = np.asarray(value, dtype=np.float64)
        if r.shape != v.shape:
            return cls(r, math.inf, tolerance_for(v), against)
        diff = float(np.max(np.abs(r - v))) if v.size else 0.0
        if math.isnan(diff):
            diff = 0.0 if np.array_equal(r, v, equal_nan=True) else math.inf
        return cls(r, diff, tolerance_for(v), against)

    @property
    def ok(self) -> bool:
        return self.difference <= self.tolerance

    @property
    def mark(self) -> str:
        return "✓" if self.ok else "✗"

    def to_dict(self) -> dict:
        return {"difference": self.difference, "tolerance": self.tolerance, "ok": self.ok,
                "mark": self.mark, "against": self.against}


@dataclass
class Quantity:
    """One named tensor of the explanation: its equation, shape and values."""

    symbol: str
    equation: str
    value: np.ndarray
    check: Check | None = None
    note: str = ""               # e.g. "autograd only: no textbook equation for op X"

    def to_dict(self, max_values, crops=None) -> dict:
        out = {"symbol": self.symbol, "equation": self.equation,
               "shape": list(np.shape(self.value)), "note": self.note}
        out.update(display(self.value, max_values, crops))
        out["check"] = None if self.check is None else self.check.to_dict()
        return out


@dataclass
class Layer:
    """Layer ``index``: a parameterised op and the parameter-free ops after it."""

    index: int
    modules: list                      # "model.0 Linear(3→4)" ...
    ops: list = field(default_factory=list)       # recorded Function names: "Linear", ...
    forward: list = field(default_factory=list)
    backward: list = field(default_factory=list)
    update: list = field(default_factory=list)


@dataclass
class Step:
    """One screen of the walk-through: a phase of one layer (None: the loss)."""

    phase: str
    layer: int | None
    title: str
    modules: list
    quantities: list

    def to_dict(self, max_values, crops=None) -> dict:
        return {"phase": self.phase, "layer": self.layer, "title": self.title,
                "modules": list(self.modules),
                "quantities": [q.to_dict(max_values, crops) for q in self.quantities]}


@dataclass
class Explanation:
    """The result of :func:`explain`; ``str()`` is the text form."""

    title: str
    loss_name: str
    loss: float
    loss_after: float
    lr: float
    inputs: Quantity
    target: Quantity | None
    output_grad: Quantity
    layers: list
    max_values: int = 24
    prelude: list = field(default_factory=list)      # modules run before layer 1 (Flatten)
    not_shown: list = field(default_factory=list)    # what explain cannot show, in words
    notes: list = field(default_factory=list)        # extra lines under the title

    # ------------------------------------------------------------------ the walk
    def steps(self) -> list:
        """The reading order: input, each layer forward, the loss, each layer backward
        (last first), each layer's update, the loss after the update."""
        out = [Step("forward", 0, "input", list(self.prelude), [self.inputs])]
        for l in self.layers:
            out.append(Step("forward", l.index, _layer_title(l), l.modules, l.forward))
        loss_q = [Quantity("L", _loss_equation(self.loss_name), np.asarray(self.loss))]
        out.append(Step("loss", None, "loss",
                        [], ([self.target] if self.target is not None else []) + loss_q))
        out.append(Step("backward", None, "gradient of the loss", [], [self.output_grad]))
        for l in reversed(self.layers):
            out.append(Step("backward", l.index, _layer_title(l), l.modules, l.backward))
        for l in self.layers:
            if l.update:
                out.append(Step("update", l.index, _layer_title(l), l.modules, l.update))
        change = self.loss_after - self.loss
        after = Quantity("L after", f"L after the update (change {change:+.3g})",
                         np.asarray(self.loss_after))
        out.append(Step("update", None, "loss after the update", [], [after]))
        return out

    def quantities(self):
        """Every quantity, in reading order."""
        for step in self.steps():
            yield from step.quantities

    def crops(self) -> dict:
        """One crop window per map size (H, W), so that a feature map, its pooling mask
        and its gradient are cut at the same place: the window where the first quantity of
        that size in reading order is largest (see :func:`crop_index`)."""
        out = {}
        for q in self.quantities():
            v = np.asarray(q.value)
            if v.ndim >= 3 and v.size > self.max_values and v.shape[-2:] not in out:
                out[v.shape[-2:]] = crop_index(v, self.max_values)[-2:]
        return out

    def checks(self) -> list:
        return [q for q in self.quantities() if q.check is not None]

    def failed(self) -> list:
        """The quantities whose recomputed equation differs from autograd beyond tolerance."""
        return [q for q in self.checks() if not q.check.ok]

    def warnings(self) -> list:
        return [f"{q.symbol}: the equation {q.equation!r} recomputed from the printed numbers "
                f"differs from {q.check.against} by {q.check.difference:.3g} (tolerance "
                f"{q.check.tolerance:.2g})" for q in self.failed()]

    # --------------------------------------------------------------- formats
    def to_dict(self) -> dict:
        mv = self.max_values
        checks = self.checks()
        return {
            "format": FORMAT, "title": self.title, "loss_name": self.loss_name,
            "loss": self.loss, "loss_after_update": self.loss_after, "lr": self.lr,
            "max_values": mv,
            "network": [{"index": 0, "name": "input", "modules": list(self.prelude),
                         "ops": []}] +
                       [{"index": l.index, "name": f"layer {l.index}", "modules": l.modules,
                         "ops": l.ops} for l in self.layers],
            "steps": [s.to_dict(mv, self.crops()) for s in self.steps()],
            "checks": {"count": len(checks), "failed": len(self.failed()),
                       "largest_difference": max((q.check.difference for q in checks),
                                                 default=None)},
            "warnings": self.warnings(),
            "not_shown": list(self.not_shown),
        }

    def to_json(self) -> str:
        import json
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        from .render import text
        return text(self)

    def to_markdown(self) -> str:
        from .render import markdown
        return markdown(self)

    def format(self, fmt="text") -> str:
        if fmt not in ("text", "markdown", "json"):
            raise ValueError(f"explain: format must be text, markdown or json, got {fmt!r}")
        return {"text": self.to_text, "markdown": self.to_markdown, "json": self.to_json}[fmt]()

    __str__ = to_text

    def find(self, layer: int, symbol_prefix: str) -> np.ndarray:
        """The value of the first quantity of ``layer`` whose symbol starts with the prefix
        (e.g. ``find(1, "δ")``, ``find(2, "∇W")``)."""
        return self.quantity(layer, symbol_prefix).value

    def quantity(self, layer: int, symbol_prefix: str) -> Quantity:
        for l in self.layers:
            if l.index == layer:
                for q in l.forward + l.backward + l.update:
                    if q.symbol.startswith(symbol_prefix):
                        return q
        raise KeyError(f"explain: no quantity {symbol_prefix!r} in layer {layer}")


def _loss_equation(name) -> str:
    """The loss step's equation: ``L = name``, or ``name`` when it already is one
    (``"L = ½ Σ (a − y)²"``)."""
    return name if re.match(r"L\s*=", name) else f"L = {name}"


def _layer_title(layer) -> str:
    return f"layer {layer.index}: {' → '.join(layer.modules)}"


# ------------------------------------------------------------------ how values are shown
def display(a, max_values, crops=None) -> dict:
    """How a value is shown: all of it when it has at most ``max_values`` elements, else
    statistics, plus a crop for images and sequences (3 or more axes): the window that
    ``crops`` (map size → (rows, cols)) gives for its size, else :func:`crop_index`'s."""
    a = np.asarray(a)
    if a.size <= max_values:
        return {"values": a.tolist()}
    a64 = a.astype(np.float64)
    out = {"norm": float(np.linalg.norm(a64)), "mean": float(a64.mean()),
           "std": float(a64.std()), "min": float(a64.min()), "max": float(a64.max())}
    index = crop_index(a, max_values)
    if index is not None and crops and a.shape[-2:] in crops:
        index = index[:-2] + tuple(crops[a.shape[-2:]])
    if index is not None:
        out["crop"] = {"at": crop_text(index), "values": a[index].tolist()}
    return out


def crop_index(a, max_values):
    """The k×k window (k² ≤ max_values) of the first map of an array with 3 or more axes
    where |a| sums largest (where the digit, or the gradient, is), starting on even rows and
    columns (so 2×2 pooling windows are not cut): ``(0, 0, rows, cols)``;
    None for vectors and matrices."""
    if a.ndim < 3:
        return None
    k = max(2, math.isqrt(max(max_values, 4)))
    first = np.abs(np.nan_to_num(np.asarray(a[(0,) * (a.ndim - 2)], dtype=np.float64)))
    kh, kw = min(k, first.shape[0]), min(k, first.shape[1])
    c = np.pad(first.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = c[kh:, kw:] - c[:-kh, kw:] - c[kh:, :-kw] + c[:-kh, :-kw]
    i, j = (int(v) - int(v) % 2 for v in np.unravel_index(int(np.argmax(sums)), sums.shape))
    return (0,) * (a.ndim - 2) + (slice(int(i), int(i) + kh), slice(int(j), int(j) + kw))


def crop_text(index) -> str:
    parts = [f"{i.start}:{i.stop}" if isinstance(i, slice) else str(i) for i in index]
    return "[" + ", ".join(parts) + "]"


__all__ = ["FORMAT", "PHASES", "Check", "Explanation", "Layer", "Quantity", "Step",
           "crop_index", "display", "tolerance_for"]
