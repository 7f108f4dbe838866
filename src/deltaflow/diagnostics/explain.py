"""``explain``: one forward and one backward pass, layer by layer, with the live numbers.

For a network of modules (an MLP, or any model whose parameterised modules are followed by
activation modules) it records, for every layer ``l``

    z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾      the layer's output (nn.Linear stores W as (out, in))
    a⁽ˡ⁾ = f(z⁽ˡ⁾)                  after the activation modules that follow it
    δ⁽ˡ⁾ = ∂L/∂z⁽ˡ⁾                 the error signal, from autograd
    ∇W⁽ˡ⁾ = δ⁽ˡ⁾ᵀ a⁽ˡ⁻¹⁾, ∇b⁽ˡ⁾ = Σₙ δ⁽ˡ⁾
    W⁽ˡ⁾ ← W⁽ˡ⁾ − η ∇W⁽ˡ⁾           one SGD step

and, where the layer is a Linear followed by a known activation (sigmoid, tanh, ReLU or
none), recomputes δ⁽ˡ⁾ = (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾) ⊙ f′(z⁽ˡ⁾) and the gradients from those
equations and prints how far they are from autograd's (zero up to rounding): the textbook
equations, checked live. Everything runs on a float64 copy of the model; small tensors are
shown in full, large ones by norm, mean, std, min and max.

Without arguments it explains the textbook example: the 3→4→2 sigmoid network of
``examples/two_layer_network.py`` with the same inputs, targets, weights and loss.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np

from ..autograd.grad_mode import no_grad
from ..random import get_rng_state, set_rng_state

#: the textbook example (``examples/two_layer_network.py``): one sample per row
TEXTBOOK_X = np.array([[0.5, 0.1, 0.2], [0.3, 0.4, 0.6]])
TEXTBOOK_Y = np.array([[1.0, 0.0], [0.0, 1.0]])
TEXTBOOK_LR = 0.1

_DERIVATIVES = {  # f′ written with z and a = f(z)
    "Sigmoid": ("σ′(z) = a(1 − a)", lambda z, a: a * (1 - a)),
    "Tanh": ("tanh′(z) = 1 − a²", lambda z, a: 1 - a * a),
    "ReLU": ("relu′(z) = [z > 0]", lambda z, a: (z > 0).astype(z.dtype)),
}
_SYMBOL = {"Sigmoid": "σ", "Tanh": "tanh", "ReLU": "relu"}


def half_sse(output, target):
    """L = ½ Σ (a − y)², summed over samples and outputs (the textbook loss)."""
    return 0.5 * ((output - target) ** 2).sum()


def textbook_model(sizes=(3, 4, 2), seed=0):
    """The example's sigmoid network as ``nn.Sequential`` (float64), with its weights:
    W⁽ˡ⁾ ~ N(0, 1) drawn as (in, out) by ``numpy.random.default_rng(seed)``, b = 0."""
    from .. import nn
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(n_in, n_out).double()
        linear.weight.data = rng.standard_normal((n_in, n_out)).T.copy()
        linear.bias.data = np.zeros(n_out)
        layers += [linear, nn.Sigmoid()]
    return nn.Sequential(*layers)


def mlp_from_spec(spec, activation="relu", output_activation=None):
    """``"4,8,3"`` → Linear(4,8) → activation → Linear(8,3) [→ output_activation]."""
    from .. import nn
    sizes = parse_sizes(spec)
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU,
            "none": None, None: None}
    for name in (activation, output_activation):
        if name not in acts:
            raise ValueError(f"unknown activation {name!r}; expected one of "
                             "relu, sigmoid, tanh, gelu, none")
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        act = acts[activation] if k < len(sizes) - 2 else acts[output_activation]
        if act is not None:
            layers.append(act())
    return nn.Sequential(*layers)


def parse_sizes(spec) -> tuple:
    try:
        sizes = tuple(int(s) for s in str(spec).split(","))
    except ValueError:
        raise ValueError(f"MLP spec must be comma-separated layer widths like 4,8,3; "
                         f"got {spec!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"MLP spec needs at least two positive widths (input,output); "
                         f"got {spec!r}")
    return sizes


# ------------------------------------------------------------------------- records
@dataclass
class Quantity:
    """One named tensor of the explanation: its equation, shape and values."""

    symbol: str
    equation: str
    value: np.ndarray
    check: float | None = None   # max |equation − autograd| when the equation was recomputed

    def as_dict(self, max_values) -> dict:
        out = {"symbol": self.symbol, "equation": self.equation,
               "shape": list(self.value.shape)}
        out.update(_summary(self.value, max_values))
        if self.check is not None:
            out["check_max_abs_diff"] = self.check
        return out


@dataclass
class Layer:
    index: int
    modules: list                      # "model.0 Linear(3→4)" ...
    forward: list = field(default_factory=list)
    backward: list = field(default_factory=list)
    update: list = field(default_factory=list)


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

    # --------------------------------------------------------------- formats
    def to_dict(self) -> dict:
        mv = self.max_values
        return {
            "title": self.title, "loss_name": self.loss_name, "loss": self.loss,
            "loss_after_update": self.loss_after, "lr": self.lr,
            "input": self.inputs.as_dict(mv),
            "target": None if self.target is None else self.target.as_dict(mv),
            "output_grad": self.output_grad.as_dict(mv),
            "layers": [{"index": l.index, "modules": l.modules,
                        "forward": [q.as_dict(mv) for q in l.forward],
                        "backward": [q.as_dict(mv) for q in l.backward],
                        "update": [q.as_dict(mv) for q in l.update]} for l in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        w, mv = max(len(q.equation) for q in self._all()) + 2, self.max_values
        lines = [self.title, f"loss {self.loss_name}, learning rate η = {self.lr:g}; "
                 "W⁽ˡ⁾ is nn.Linear's weight, shape (out, in)", ""]
        lines.append("FORWARD  (keep every z and a: backward needs them)")
        lines += _text_row(self.inputs, w, mv)
        for l in self.layers:
            lines.append(f"layer {l.index}: {' → '.join(l.modules)}")
            lines += [r for q in l.forward for r in _text_row(q, w, mv)]
        if self.target is not None:
            lines += _text_row(self.target, w, mv)
        lines.append(f"loss L = {self.loss:.10g}")
        lines += ["", "BACKWARD  (δ flows from the last layer to the first)"]
        lines += _text_row(self.output_grad, w, mv)
        for l in reversed(self.layers):
            lines.append(f"layer {l.index}:")
            lines += [r for q in l.backward for r in _text_row(q, w, mv)]
        lines += ["", f"UPDATE  (SGD, η = {self.lr:g})"]
        for l in self.layers:
            if l.update:
                lines.append(f"layer {l.index}:")
                lines += [r for q in l.update for r in _text_row(q, w, mv)]
        lines.append(f"loss after the update: {self.loss_after:.10g} "
                     f"(change {self.loss_after - self.loss:+.3g})")
        checks = [q.check for q in self._all() if q.check is not None]
        if checks:
            lines.append(f"✓ = the textbook equation recomputed from the numbers above; "
                         f"largest difference from autograd: {max(checks):.2g}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", "",
                 f"Loss {self.loss_name}, learning rate η = {self.lr:g}; W⁽ˡ⁾ is nn.Linear's "
                 "weight, shape (out, in).", ""]

        def table(rows):
            out = ["| quantity | equation | shape | value |", "|---|---|---|---|"]
            for q in rows:
                mark = f" ✓ ({q.check:.1g})" if q.check is not None else ""
                out.append(f"| `{q.symbol}` | {q.equation}{mark} | {tuple(q.value.shape)} | "
                           f"{_md_value(q.value, self.max_values)} |")
            return out + [""]

        lines += ["**Forward**", ""] + table([self.inputs])
        for l in self.layers:
            lines += [f"Layer {l.index}: {' → '.join(l.modules)}", ""] + table(l.forward)
        lines += [f"Loss L = {self.loss:.10g}", "", "**Backward**", ""]
        lines += table([self.output_grad])
        for l in reversed(self.layers):
            lines += [f"Layer {l.index}", ""] + table(l.backward)
        lines += [f"**Update** (SGD, η = {self.lr:g})", ""]
        lines += table([q for l in self.layers for q in l.update])
        lines.append(f"Loss after the update: {self.loss_after:.10g} "
                     f"(change {self.loss_after - self.loss:+.3g}).")
        return "\n".join(lines)

    def format(self, fmt="text") -> str:
        if fmt not in ("text", "markdown", "json"):
            raise ValueError(f"explain: format must be text, markdown or json, got {fmt!r}")
        return {"text": self.to_text, "markdown": self.to_markdown, "json": self.to_json}[fmt]()

    __str__ = to_text

    def _all(self):
        yield self.inputs
        if self.target is not None:
            yield self.target
        yield self.output_grad
        for l in self.layers:
            yield from l.forward
            yield from l.backward
            yield from l.update

    def find(self, layer: int, symbol_prefix: str) -> np.ndarray:
        """The value of the first quantity of ``layer`` whose symbol starts with the prefix
        (e.g. ``find(1, "δ")``, ``find(2, "∇W")``)."""
        for l in self.layers:
            if l.index == layer:
                for q in l.forward + l.backward + l.update:
                    if q.symbol.startswith(symbol_prefix):
                        return q.value
        raise KeyError(f"explain: no quantity {symbol_prefix!r} in layer {layer}")


def _summary(a, max_values) -> dict:
    if a.size <= max_values:
        return {"values": a.tolist()}
    a64 = a.astype(np.float64)
    return {"norm": float(np.linalg.norm(a64)), "mean": float(a64.mean()),
            "std": float(a64.std()), "min": float(a64.min()), "max": float(a64.max())}


def _text_row(q, width, max_values):
    head = f"  {q.equation:<{width}} {str(tuple(q.value.shape)):<9} "
    body = _text_value(q.value, max_values, len(head))
    if q.check is not None:
        body += f"   ✓ {q.check:.1g}"
    return [head + body]


def _text_value(a, max_values, indent):
    if a.size > max_values:
        s = _summary(a, max_values)
        return (f"‖·‖ {s['norm']:.6g}  mean {s['mean']:.4g}  std {s['std']:.4g}  "
                f"min {s['min']:.4g}  max {s['max']:.4g}")
    text = np.array2string(a, precision=6, separator=", ", max_line_width=200,
                           floatmode="maxprec_equal", suppress_small=False)
    return text.replace("\n", "\n" + " " * indent)


def _md_value(a, max_values):
    if a.size > max_values:
        s = _summary(a, max_values)
        return (f"‖·‖ = {s['norm']:.6g}, mean {s['mean']:.4g}, min {s['min']:.4g}, "
                f"max {s['max']:.4g}")
    return "`" + np.array2string(a, precision=6, separator=", ", max_line_width=10_000,
                                 floatmode="maxprec_equal").replace("\n", "") + "`"


# --------------------------------------------------------------------------- explain
def _describe(name, module):
    name = f"model.{name}" if name else "model"
    kind = type(module).__name__
    if kind == "Linear":
        return f"{name} Linear({module.in_features}→{module.out_features})"
    return f"{name} {kind}"


def explain(model=None, x=None, y=None, loss_fn=None, *, lr=TEXTBOOK_LR, loss_name=None,
            title=None, max_values=24) -> Explanation:
    """One forward + backward pass of ``loss_fn(model(x), y)`` and one SGD step, recorded
    layer by layer (on a float64 CPU copy: ``model`` is not changed).

    With no ``model`` it explains the textbook 3→4→2 sigmoid example with L = ½Σ(a−y)².
    A layer is a module with parameters plus the parameter-free modules run after it.
    """
    from ..tensor import Tensor
    if model is None:
        model, x, y = textbook_model(), TEXTBOOK_X, TEXTBOOK_Y
        loss_fn = loss_fn or half_sse
        loss_name = loss_name or "L = ½ Σ (a − y)²"
        title = title or "explain: the textbook 3→4→2 sigmoid network (2 samples)"
    if x is None or loss_fn is None:
        raise ValueError("explain: give model, x, y and loss_fn (or nothing for the textbook "
                         "example)")
    model = copy.deepcopy(model).to(device="cpu", dtype=np.float64)
    x = Tensor(np.asarray(_cpu(x), dtype=np.float64))
    y_arr = None if y is None else np.asarray(_cpu(y))
    y_t = None if y_arr is None else Tensor(
        y_arr.astype(np.float64) if y_arr.dtype.kind == "f" else y_arr)

    calls = []  # (name, module, output tensor) of every leaf module, in run order
    grads = {}  # id(output tensor) → ∂L/∂output

    def hook_for(name):
        def hook(module, args, output):
            if isinstance(output, Tensor):
                calls.append((name, module, output))
                if output.requires_grad:
                    output.register_hook(lambda g, key=id(output): grads.__setitem__(key, g.data))
        return hook

    handles = [m.register_forward_hook(hook_for(n))
               for n, m in model.named_modules() if not any(True for _ in m.children())]
    rng_state = get_rng_state()  # dropout: the same masks again for the loss after the update
    try:
        out = model(x)
        out.retain_grad()
        loss = loss_fn(out, y_t) if y_t is not None else loss_fn(out)
        loss.backward()
    finally:
        for h in handles:
            h.remove()

    prelude, groups = _group(calls)
    a0 = prelude[-1][2].data if prelude else x.data
    layers = [_forward_layer(k, group) for k, group in enumerate(groups, 1)]
    for k in reversed(range(len(layers))):
        layer, group = layers[k], groups[k]
        prev_a = a0 if k == 0 else groups[k - 1][-1][2].data
        nxt = groups[k + 1] if k + 1 < len(groups) else None
        nxt_delta = layers[k + 1].backward[0].value if nxt is not None else None
        _backward_layer(layer, group, grads, prev_a, nxt, nxt_delta, out)
        _update_layer(layer, group, lr)

    with_update = copy.deepcopy(model)
    for p, q in zip(model.parameters(), with_update.parameters()):
        if p.grad is not None:
            q.data = p.data - lr * p.grad.data
    set_rng_state(rng_state)
    with no_grad():
        out2 = with_update(x)
        loss_after = float((loss_fn(out2, y_t) if y_t is not None else loss_fn(out2)).item())

    steps = " → ".join(_describe(n, m) for n, m, _ in prelude)
    inputs = Quantity("a⁽⁰⁾", f"a⁽⁰⁾ = x  (after {steps})" if prelude else "a⁽⁰⁾ = x", a0)
    target = None if y_t is None else Quantity("y", "y (target)", y_t.data)
    L = len(layers)
    out_grad = Quantity(f"∂L/∂a⁽{_sup(L)}⁾", f"∂L/∂a⁽{_sup(L)}⁾ (from the loss)",
                        out.grad.data)
    return Explanation(title or f"explain: {len(layers)}-layer network, batch of "
                       f"{x.shape[0]}", loss_name or getattr(loss_fn, "__name__",
                                                            type(loss_fn).__name__),
                       float(loss.item()), loss_after, lr, inputs, target, out_grad, layers,
                       max_values)


def _cpu(value):
    """A Tensor's or array's values as a NumPy array (copied from the GPU if needed)."""
    from ..tensor import Tensor
    return value.numpy() if isinstance(value, Tensor) else value


def _has_params(module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _group(calls):
    """Split the leaf-module calls into (prelude, layers): a module with parameters starts a
    layer; parameter-free modules before the first one (Flatten) prepare the input a⁽⁰⁾."""
    start = next((k for k, c in enumerate(calls) if _has_params(c[1])), 0)
    groups = []
    for call in calls[start:]:
        if _has_params(call[1]) or not groups:
            groups.append([call])
        else:
            groups[-1].append(call)
    return calls[:start], groups


def _sup(n) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _forward_layer(k, group):
    s = _sup(k)
    s_prev = _sup(k - 1)
    _, module, z = group[0]
    layer = Layer(k, [_describe(n, m) for n, m, _ in group])
    if type(module).__name__ == "Linear":
        eq = f"z⁽{s}⁾ = a⁽{s_prev}⁾ W⁽{s}⁾ᵀ" + (f" + b⁽{s}⁾" if module.bias is not None else "")
    else:
        eq = f"z⁽{s}⁾ = {type(module).__name__}(a⁽{s_prev}⁾)"
    layer.forward.append(Quantity(f"z⁽{s}⁾", eq, z.data))
    for j, (_, m, t) in enumerate(group[1:], 1):
        f = _SYMBOL.get(type(m).__name__, type(m).__name__)
        arg = f"z⁽{s}⁾" if j == 1 else "·"
        sym = f"a⁽{s}⁾" if j == len(group) - 1 else f"h⁽{s}⁾"
        layer.forward.append(Quantity(sym, f"{sym} = {f}({arg})", t.data))
    if len(group) == 1:
        layer.forward.append(Quantity(f"a⁽{s}⁾", f"a⁽{s}⁾ = z⁽{s}⁾ (no activation)", z.data))
    return layer


def _activation_derivative(group):
    """f′(z) for a Linear followed by at most one known activation, else None."""
    z = group[0][2].data
    if len(group) == 1:
        return "1", np.ones_like(z)
    if len(group) == 2 and type(group[1][1]).__name__ in _DERIVATIVES:
        text, fn = _DERIVATIVES[type(group[1][1]).__name__]
        return text, fn(z, group[1][2].data)
    return None


def _backward_layer(layer, group, grads, prev_a, nxt, nxt_delta, out):
    k = layer.index
    s, s1 = _sup(k), _sup(k + 1)
    _, module, z = group[0]
    delta = grads.get(id(z))
    if delta is None:
        delta = np.zeros_like(z.data)
    deriv = _activation_derivative(group)
    fsym = deriv[0].split("=")[0].strip() if deriv else "f′(z)"
    fsym = fsym.replace("(z)", f"(z⁽{s}⁾)")
    check = None
    if nxt is None:
        eq = f"δ⁽{s}⁾ = ∂L/∂a⁽{s}⁾ ⊙ {fsym}"
        if deriv is not None:
            check = _diff(out.grad.data * deriv[1], delta)
    else:
        nxt_module = nxt[0][1]
        eq = f"δ⁽{s}⁾ = (δ⁽{s1}⁾ W⁽{s1}⁾) ⊙ {fsym}"
        if deriv is not None and type(nxt_module).__name__ == "Linear":
            check = _diff((nxt_delta @ nxt_module.weight.data) * deriv[1], delta)
    layer.backward.append(Quantity(f"δ⁽{s}⁾", eq, delta, check))
    if type(module).__name__ == "Linear":
        d2 = delta.reshape(-1, delta.shape[-1])
        a2 = prev_a.reshape(-1, prev_a.shape[-1])
        gw = module.weight.grad.data
        layer.backward.append(Quantity(f"∇W⁽{s}⁾", f"∇W⁽{s}⁾ = δ⁽{s}⁾ᵀ a⁽{_sup(k - 1)}⁾", gw,
                                       _diff(d2.T @ a2, gw)))
        if module.bias is not None:
            gb = module.bias.grad.data
            layer.backward.append(Quantity(f"∇b⁽{s}⁾", f"∇b⁽{s}⁾ = Σₙ δ⁽{s}⁾", gb,
                                           _diff(d2.sum(axis=0), gb)))
    else:
        for pname, p in module.named_parameters(recurse=False):
            if p.grad is not None:
                layer.backward.append(Quantity(f"∇{pname}⁽{s}⁾", f"∇{pname}⁽{s}⁾ = ∂L/∂{pname}",
                                               p.grad.data))


def _update_layer(layer, group, lr):
    s = _sup(layer.index)
    module = group[0][1]
    for pname, p in module.named_parameters(recurse=False):
        if p.grad is None:
            continue
        linear = type(module).__name__ == "Linear"
        sym = {"weight": "W", "bias": "b"}.get(pname, pname) if linear else pname
        step = -lr * p.grad.data
        norm_p = float(np.linalg.norm(p.data))
        ratio = (f"‖Δ‖/‖{sym}‖ = {float(np.linalg.norm(step)) / norm_p:.2g}" if norm_p
                 else f"‖{sym}‖ = 0")
        layer.update.append(Quantity(f"Δ{sym}⁽{s}⁾", f"Δ{sym}⁽{s}⁾ = −η ∇{sym}⁽{s}⁾  ({ratio})",
                                     step))
        layer.update.append(Quantity(f"{sym}⁽{s}⁾ new", f"{sym}⁽{s}⁾ ← {sym}⁽{s}⁾ + Δ{sym}⁽{s}⁾",
                                     p.data + step))


def _diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if np.size(b) else 0.0


__all__ = ["Explanation", "Quantity", "explain", "half_sse", "mlp_from_spec", "parse_sizes",
           "textbook_model", "TEXTBOOK_X", "TEXTBOOK_Y"]
