"""``GradientMonitor``: watch gradients flow through a model while it trains.

    monitor = dl.diagnostics.GradientMonitor(model)
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(); loss.backward()
        monitor.step()                      # after backward: record this step
        optimizer.step()
    print(monitor.report())
    monitor.plot_grad_norms("grad_norms.png"); monitor.plot_gradient_flow("flow.png")

The monitor attaches forward hooks to the model's modules (nothing else changes) and, per
layer and per step, records

* ``grad_norm``     ‖∇θL‖ over the layer's own parameters,
* ``weight_norm``   ‖θ‖,
* ``update_ratio``  ‖θₜ − θₜ₋₁‖ / ‖θₜ₋₁‖, the size of the last update relative to the
  weights (about 1e-3 is the usual healthy range; the monitor keeps one copy of the weights
  to measure it),
* ``grad_mean_abs`` / ``grad_max_abs``: mean and largest |∂L/∂w| (the gradient-flow chart),
* ``act_mean`` / ``act_std`` of the layer's output in the last training forward,
* ``dead_fraction`` (ReLU modules): units that are zero for every sample of the batch,
* ``saturated_fraction`` (Sigmoid/Tanh modules): outputs where f′ < 0.04 (σ outside
  [0.01, 0.99] / tanh outside [−0.98, 0.98]), which pass almost no gradient back.

It warns through :mod:`warnings` (category :class:`GradientFlowWarning`) -- once per
problem -- with the layer's name, the evidence and the usual remedies:

* **vanishing**: the first layer's gradient norm stays below ``vanish_ratio`` × the last
  layer's for ``patience`` consecutive steps; or more than ``dead_limit`` of a ReLU
  layer's units stay dead for ``patience`` steps (whichever is seen first: one warning);
* **exploding**: a gradient is NaN/Inf; or a layer's gradient norm exceeds
  ``explode_norm``, or ``explode_growth`` × its median over the first ``patience`` steps,
  for ``explode_patience`` consecutive steps.
"""
from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import numpy as np

from ..autograd.grad_mode import state

#: activation modules whose outputs get dead/saturated statistics: name → kind
_ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}

REMEDIES_VANISHING = (
    "use ReLU/GELU instead of sigmoid/tanh in hidden layers, with He (kaiming) "
    "initialisation (dl.nn.init.kaiming_normal_); add normalisation (BatchNorm/LayerNorm) "
    "between layers; use residual connections; make the network shallower; check the "
    "saturated and dead fractions in monitor.report()")
REMEDIES_EXPLODING = (
    "clip gradients (dl.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)); lower "
    "the learning rate; initialise with a smaller scale (xavier/kaiming); normalise the "
    "inputs and add normalisation layers; run under dl.autograd.detect_anomaly() to find the "
    "op that produced a NaN/Inf")

REMEDIES_DEAD = ("lower the learning rate; LeakyReLU/GELU; He initialisation; look for a large "
                 "negative bias")


class GradientFlowWarning(UserWarning):
    """Vanishing or exploding gradients seen by :class:`GradientMonitor`."""


class _Layer:
    """What the monitor tracks for one module."""

    __slots__ = ("name", "module", "kind", "params", "prev", "act", "history")

    def __init__(self, name, module, kind):
        self.name, self.module, self.kind = name, module, kind
        self.params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        self.prev = None
        self.act = None
        self.history = {k: [] for k in ("grad_norm", "weight_norm", "update_ratio",
                                        "grad_mean_abs", "grad_max_abs", "act_mean", "act_std",
                                        "dead_fraction", "saturated_fraction")}

    @property
    def label(self) -> str:
        return f"{self.name} ({type(self.module).__name__})"


class GradientMonitor:
    """Per-layer gradient statistics over training, with vanishing/exploding warnings.

    Tracks every module that owns parameters and every ReLU/Sigmoid/Tanh module. Call
    :meth:`step` once per training step, after ``loss.backward()`` (and after any gradient
    clipping, to see what the optimizer sees). ``remove()`` (or leaving a ``with`` block)
    detaches the hooks.
    """

    def __init__(self, model, *, vanish_ratio=1e-4, explode_norm=1e4, explode_growth=1e3,
                 dead_limit=0.9, patience=5, explode_patience=2, warn=True, name="model"):
        self.model = model
        self.vanish_ratio, self.explode_norm = vanish_ratio, explode_norm
        self.explode_growth, self.dead_limit = explode_growth, dead_limit
        self.patience, self.explode_patience = patience, explode_patience
        self.warn, self.name = warn, name
        self.steps = 0
        self.problems: list[str] = []        # every warning issued, in order
        self._warned: set = set()
        self._streak: dict = {}
        self.layers: OrderedDict[str, _Layer] = OrderedDict()
        self._forward_order: list[str] = []
        self._handles = []
        for mod_name, module in model.named_modules():
            kind = _ACTIVATIONS.get(type(module).__name__)
            has_params = any(True for _ in module.parameters(recurse=False))
            if kind is None and not has_params:
                continue
            label = f"{name}.{mod_name}" if mod_name else name
            layer = _Layer(label, module, kind or "params")
            self.layers[label] = layer
            self._handles.append(module.register_forward_hook(self._make_hook(layer)))

    # ------------------------------------------------------------------ hooks
    def _make_hook(self, layer):
        def hook(module, args, output):
            if not state.grad_enabled or not getattr(module, "training", True):
                return None
            out = output[0] if isinstance(output, tuple) else output
            data = getattr(out, "data", None)
            if data is None or data.dtype.kind != "f" or data.size == 0:
                return None
            if layer.name not in self._forward_order:
                self._forward_order.append(layer.name)
            act = {"act_mean": float(data.mean()), "act_std": float(data.std())}
            if layer.kind == "relu":
                units = data.reshape(data.shape[0], -1) if data.ndim > 1 else data[:, None]
                act["dead_fraction"] = float((units <= 0).all(axis=0).mean())
            elif layer.kind == "sigmoid":
                act["saturated_fraction"] = float((np.abs(data - 0.5) > 0.49).mean())
            elif layer.kind == "tanh":
                act["saturated_fraction"] = float((np.abs(data) > 0.98).mean())
            layer.act = act
            return None
        return hook

    def remove(self) -> None:
        """Detach the monitor's hooks from the model."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    # ------------------------------------------------------------------- steps
    def step(self) -> None:
        """Record this step's statistics (call after ``backward()``) and check for problems."""
        for layer in self.layers.values():
            h = layer.history
            stats = self._param_stats(layer)
            for key in ("grad_norm", "weight_norm", "update_ratio", "grad_mean_abs",
                        "grad_max_abs"):
                h[key].append(stats.get(key, math.nan))
            act = layer.act or {}
            for key in ("act_mean", "act_std", "dead_fraction", "saturated_fraction"):
                h[key].append(act.get(key, math.nan))
        self.steps += 1
        self._check()

    def _param_stats(self, layer) -> dict:
        if not layer.params:
            return {}
        weights = [p.data for p in layer.params]
        sq_w = sum(float((w.astype(np.float64) ** 2).sum()) for w in weights)
        stats = {"weight_norm": math.sqrt(sq_w)}
        grads = [p.grad.data for p in layer.params if p.grad is not None]
        if grads:
            sq = sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)
            n = sum(g.size for g in grads)
            stats["grad_norm"] = math.sqrt(sq) if math.isfinite(sq) else math.inf
            stats["grad_mean_abs"] = sum(float(np.abs(g).sum()) for g in grads) / max(n, 1)
            stats["grad_max_abs"] = max(float(np.abs(g).max()) for g in grads)
        if layer.prev is not None:
            sq_d = sum(float(((w - p) ** 2).sum()) for w, p in zip(weights, layer.prev))
            prev_norm = math.sqrt(sum(float((p ** 2).sum()) for p in layer.prev))
            stats["update_ratio"] = math.sqrt(sq_d) / prev_norm if prev_norm > 0 else math.nan
        layer.prev = [w.copy() for w in weights]
        return stats

    # ------------------------------------------------------------------ checks
    def _param_layers(self):
        """Layers that got a parameter gradient this step, in the order forward ran them
        (a non-finite gradient counts, with norm inf)."""
        return [l for l in self.ordered_layers()
                if l.history["grad_norm"] and not math.isnan(l.history["grad_norm"][-1])]

    def _sustained(self, key, condition, patience) -> bool:
        self._streak[key] = self._streak.get(key, 0) + 1 if condition else 0
        return self._streak[key] >= patience

    def _emit(self, key, message) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        self.problems.append(message)
        if self.warn:
            warnings.warn(message, GradientFlowWarning, stacklevel=3)

    def _check(self) -> None:
        layers = self._param_layers()
        norms = {l.name: l.history["grad_norm"][-1] for l in layers}
        per_layer = ", ".join(f"{name} {_fmt(g)}" for name, g in norms.items())
        bad = [l for l in layers if not math.isfinite(norms[l.name])]
        if bad:
            self._emit("exploding",
                       f"exploding gradients: layer '{bad[0].label}' has a non-finite gradient "
                       f"at step {self.steps} (layers with NaN/Inf gradients: "
                       f"{', '.join(l.name for l in bad)}; per-layer gradient norms: "
                       f"{per_layer}). Remedies: {REMEDIES_EXPLODING}")
        big = []
        for l in layers:
            early = [g for g in l.history["grad_norm"][:self.patience] if math.isfinite(g)]
            ref = float(np.median(early)) if early else math.inf
            g = norms[l.name]
            if math.isfinite(g) and (g > self.explode_norm or g > self.explode_growth * ref):
                big.append((l, g, ref))
        if self._sustained("exploding", bool(big), self.explode_patience) and big:
            l, g, ref = max(big, key=lambda item: item[1])
            limit = (f"above {self.explode_norm:g}" if g > self.explode_norm else
                     f"{g / ref:.3g}× its median over the first steps, {_fmt(ref)}")
            trend = ", ".join(_fmt(x) for x in l.history["grad_norm"][-self.explode_patience - 2:])
            self._emit("exploding",
                       f"exploding gradients: gradient norm of layer '{l.label}' is {_fmt(g)} "
                       f"({limit}) at step {self.steps} (its last steps: {trend}; weight norm "
                       f"{_fmt(l.history['weight_norm'][-1])}, update/weight ratio "
                       f"{_fmt(l.history['update_ratio'][-1])}; per-layer gradient norms: "
                       f"{per_layer}). Remedies: {REMEDIES_EXPLODING}")
        finite = [l for l in layers if math.isfinite(norms[l.name])]
        if len(finite) >= 2:
            first, last = finite[0], finite[-1]
            g0, gl = norms[first.name], norms[last.name]
            ratio = g0 / gl if gl > 0 else math.inf
            if self._sustained("vanishing", ratio < self.vanish_ratio, self.patience):
                evidence = self._activation_evidence()
                self._emit("vanishing",
                           f"vanishing gradients: layer '{first.label}' gets a gradient norm "
                           f"of {_fmt(g0)} while the last layer '{last.label}' gets "
                           f"{_fmt(gl)} (ratio {ratio:.2g} < {self.vanish_ratio:g}) for "
                           f"{self.patience} consecutive steps; per-layer gradient norms: "
                           f"{per_layer}{evidence}. Remedies: {REMEDIES_VANISHING}"
                           + (f"; for dead ReLUs: {REMEDIES_DEAD}" if "dead" in evidence
                              else ""))
        dead = [(l, l.history["dead_fraction"][-1]) for l in self.layers.values()
                if l.kind == "relu" and l.history["dead_fraction"]
                and l.history["dead_fraction"][-1] > self.dead_limit]
        if self._sustained("dead", bool(dead), self.patience) and dead:
            l, frac = dead[0]
            others = ", ".join(f"{m.name} {f:.0%}" for m, f in dead)
            self._emit("vanishing",
                       f"vanishing gradients: {frac:.0%} of the units of '{l.label}' output 0 "
                       f"for every sample (dead ReLUs pass no gradient back) for "
                       f"{self.patience} consecutive steps (dead fractions: {others}). "
                       f"Remedies: {REMEDIES_DEAD}")

    def _activation_evidence(self) -> str:
        text = ""
        for key, what, limit in (("saturated_fraction", "saturated units", 0.05),
                                 ("dead_fraction", "dead ReLU units", 0.5)):
            parts = [f"{l.name} {l.history[key][-1]:.0%}" for l in self.layers.values()
                     if l.history[key] and l.history[key][-1] > limit]
            if parts:
                text += f"; {what}: " + ", ".join(parts)
        return text

    # ----------------------------------------------------------------- reports
    def last(self) -> dict:
        """The latest step's statistics: layer name → {statistic: value}."""
        return {name: {k: v[-1] for k, v in layer.history.items() if v}
                for name, layer in self.layers.items()}

    def report(self) -> str:
        """A readable summary: per-layer statistics at the last step, and every problem."""
        if not self.steps:
            return "GradientMonitor: no steps recorded yet (call monitor.step() after backward)"
        head = (f"{'layer':<26} {'grad norm':>10} {'weight norm':>11} {'update/w':>9} "
                f"{'act mean':>9} {'act std':>8} {'dead':>6} {'saturated':>9}")
        lines = [f"GradientMonitor: {self.steps} steps, statistics at the last step", head,
                 "-" * len(head)]
        order = list(self._forward_order) + [n for n in self.layers if n not in
                                             self._forward_order]
        for name in order:
            h = self.layers[name].history
            label = self.layers[name].label
            lines.append(f"{label[:26]:<26} {_fmt(h['grad_norm'][-1]):>10} "
                         f"{_fmt(h['weight_norm'][-1]):>11} {_fmt(h['update_ratio'][-1]):>9} "
                         f"{_fmt(h['act_mean'][-1]):>9} {_fmt(h['act_std'][-1]):>8} "
                         f"{_pct(h['dead_fraction'][-1]):>6} "
                         f"{_pct(h['saturated_fraction'][-1]):>9}")
        if self.problems:
            lines.append(f"problems ({len(self.problems)}):")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("no vanishing or exploding gradients detected")
        return "\n".join(lines)

    def plot_grad_norms(self, path=None, ax=None, title=None):
        """Per-layer gradient norm over the recorded steps (log scale); returns the figure."""
        from .plots import plot_grad_norms
        return plot_grad_norms(self, path=path, ax=ax, title=title)

    def plot_gradient_flow(self, path=None, ax=None, step=None, title=None):
        """The classic bar chart: mean and max |∂L/∂w| per layer (at ``step``, default last)."""
        from .plots import plot_gradient_flow
        return plot_gradient_flow(self, path=path, ax=ax, step=step, title=title)

    def ordered_layers(self, with_params=True) -> list:
        """Tracked layers in forward order (only those with parameters by default)."""
        order = list(self._forward_order) + [n for n in self.layers if n not in
                                             self._forward_order]
        return [self.layers[n] for n in order if self.layers[n].params or not with_params]


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def _pct(x) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.0%}"


__all__ = ["GradientFlowWarning", "GradientMonitor"]
