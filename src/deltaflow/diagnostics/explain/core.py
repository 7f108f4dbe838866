"""``explain``: one forward and one backward pass, layer by layer, with the live numbers.

The layers are read from the recorded autograd graph (:mod:`.graph`), not from module
types: a layer is an op with parameters (Linear, convolution, BatchNorm, a recurrent layer,
an embedding) and the parameter-free ops after it (activations, pooling, reshapes, dropout),
whether they ran as modules or as ``F.relu`` calls inside ``forward``. For every layer ``l``
it shows the forward equations (z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾, a⁽ˡ⁾ = f(z⁽ˡ⁾), W ⋆ a + b,
pooling ...), the backward ones as a textbook writes them (δ⁽ˡ⁾ = (δ⁽ˡ⁺¹⁾ W⁽ˡ⁺¹⁾) ⊙ f′(z⁽ˡ⁾),
the full convolution with the rotated kernel, BPTT ...) and one SGD step. Each equation is
recomputed with plain NumPy from the printed numbers and compared with deltaflow's value
(autograd's, for gradients): ✓ within the tolerance, ✗ and a warning beyond it. Ops explain
has no equation for are shown with autograd's values and listed under ``not_shown``.

Everything runs on a float64 CPU copy of the model. Without arguments it explains the
textbook example: the 3→4→2 sigmoid network of ``examples/two_layer_network.py``.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np

from ...random import get_rng_state, set_rng_state
from . import graph
from .record import Check, Explanation, Layer, Quantity
from .rules import Names, Rule, paren, rule_for, sup, unchecked_note
from .textbook import TEXTBOOK_LR, TEXTBOOK_X, TEXTBOOK_Y, half_sse, textbook_model


class ExplainCheckWarning(UserWarning):
    """An equation recomputed from explain's printed numbers differs from autograd."""


def explain(model=None, x=None, y=None, loss_fn=None, *, lr=TEXTBOOK_LR, loss_name=None,
            title=None, max_values=24, notes=()) -> Explanation:
    """One forward + backward pass of ``loss_fn(model(x), y)`` and one SGD step, recorded
    layer by layer (on a float64 CPU copy: ``model`` is not changed).

    With no ``model`` it explains the textbook 3→4→2 sigmoid example with L = ½Σ(a−y)².
    Warns (:class:`ExplainCheckWarning`) when a recomputed equation differs from autograd.
    """
    from ...tensor import Tensor
    if model is None:
        model, x, y = textbook_model(), TEXTBOOK_X, TEXTBOOK_Y
        loss_fn = loss_fn or half_sse
        loss_name = loss_name or "L = ½ Σ (a − y)²"
        title = title or "explain: the textbook 3→4→2 sigmoid network (2 samples)"
    if x is None or loss_fn is None:
        raise ValueError("explain: give model, x, y and loss_fn (or nothing for the textbook "
                         "example)")
    model = copy.deepcopy(model).to(device="cpu", dtype=np.float64)
    x_arr = np.ascontiguousarray(_cpu(x))   # ops given it as an option keep views of it
    floating = x_arr.dtype.kind == "f"
    x_t = Tensor(x_arr.astype(np.float64) if floating else x_arr, requires_grad=floating)
    y_arr = None if y is None else np.asarray(_cpu(y))
    y_t = None if y_arr is None else Tensor(
        y_arr.astype(np.float64) if y_arr.dtype.kind == "f" else y_arr)

    def loss_of(output):
        if isinstance(output, (tuple, list)):
            output = output[0]
        return loss_fn(output, y_t) if y_t is not None else loss_fn(output)

    rng_state = get_rng_state()  # dropout: the same masks again for the loss after the update
    out, records, note = graph.record(model, x_t)
    notes = list(notes) + ([note] if note else [])
    graph.retain(records, x_t)          # every tensor the records read or make, out too
    loss = loss_of(out)
    loss.backward()
    for r in records:
        r.collect()

    prelude, groups = _group(graph.units(records, x_t, out))
    explanation = Explanation(
        title or f"explain: {len(groups)}-layer network, batch of {x_arr.shape[0]}",
        loss_name or getattr(loss_fn, "__name__", type(loss_fn).__name__),
        float(loss.item()), float("nan"), lr,
        Quantity("a⁽⁰⁾", "a⁽⁰⁾ = x" + (f"  (after {', '.join(_labels(prelude))})"
                                       if prelude else ""),
                 (prelude[-1].out if prelude else x_t).data),
        None if y_t is None else Quantity("y", "y (target)", y_t.data),
        Quantity(f"∂L/∂a{sup(len(groups))}", f"∂L/∂a{sup(len(groups))} (from the loss)",
                 out.grad.data),
        [], max_values, _labels(prelude), notes=notes)
    built = [_forward_layer(k, group) for k, group in enumerate(groups, 1)]
    for k in reversed(range(len(built))):
        _backward_layer(built, k, explanation.output_grad)
    for layer, _, _ in built:
        explanation.layers.append(layer)
    for layer, _, parts in built:
        _update_layer(layer, parts, lr)
    for _, rules, parts in built:
        for rule, (unit, r, _) in zip(rules, parts):
            explanation.not_shown.extend(_not_shown(rule, unit, r))
    explanation.not_shown = list(dict.fromkeys(explanation.not_shown))

    with_update = copy.deepcopy(model)
    for p, q in zip(model.parameters(), with_update.parameters()):
        if p.grad is not None:
            q.data = p.data - lr * p.grad.data
    set_rng_state(rng_state)      # recorded, not under no_grad: the same mode as the pass
    explanation.loss_after = float(loss_of(with_update(x_t)).item())
    for message in explanation.warnings():
        warnings.warn(ExplainCheckWarning("explain: " + message), stacklevel=2)
    return explanation


def _cpu(value):
    """A Tensor's or array's values as a NumPy array (copied from the GPU if needed)."""
    from ...tensor import Tensor
    return value.numpy() if isinstance(value, Tensor) else value


def _group(pieces):
    """(prelude, layers): a piece with parameters starts a layer; parameter-free pieces
    before the first one (Flatten) prepare the input a⁽⁰⁾."""
    start = next((k for k, u in enumerate(pieces) if u.has_params), None)
    if start is None:
        raise ValueError("explain: no op between the input and the output uses a parameter; "
                         "there is nothing to train")
    groups = []
    for unit in pieces[start:]:
        if unit.has_params or not groups:
            groups.append([unit])
        else:
            groups[-1].append(unit)
    return pieces[:start], groups


# ------------------------------------------------------------------------ descriptions
def _describe(module) -> str:
    kind = type(module).__name__
    g = getattr
    if kind == "Linear":
        return f"Linear({module.in_features}→{module.out_features})"
    if kind in ("Conv1d", "Conv2d", "ConvTranspose2d"):
        k = "×".join(str(v) for v in g(module, "kernel_size", ()))
        return f"{kind}({module.in_channels}→{module.out_channels}, {k})"
    if kind in ("MaxPool2d", "AvgPool2d"):
        return f"{kind}({g(module, 'kernel_size', '')})"
    if kind.startswith("BatchNorm"):
        return f"{kind}({g(module, 'num_features', '')})"
    if kind in ("RNN", "LSTM", "GRU"):
        act = f", {module.nonlinearity}" if kind == "RNN" else ""
        return f"{kind}({module.input_size}→{module.hidden_size}{act})"
    if kind == "Embedding":
        return f"Embedding({module.num_embeddings}, {module.embedding_dim})"
    return kind


def _label(r) -> str:
    """"model.0 Linear(3→4)" for an op run by a leaf module, "relu in model" for one called
    in a forward (F.relu) that is not a leaf module's."""
    m, path = r.module_obj, f"model.{r.module}" if r.module else "model"
    if m is not None and not any(True for _ in m.children()):
        return f"{path} {_describe(m)}"
    op = r.fn.op_name() if hasattr(r.fn, "op_name") else r.kind
    return f"{op} in {path}"


def _labels(units) -> list:
    return list(dict.fromkeys(_label(r) for u in units for r in u.ops))


class _Block(Rule):
    """Several ops between two cuts of the graph (a residual branch, attention): shown as one
    map with autograd's values."""

    def __init__(self, unit):
        self.unit = unit

    def note(self) -> str:
        kinds = ", ".join(dict.fromkeys(r.kind for r in self.unit.ops))
        return (f"autograd only: {len(self.unit.ops)} ops whose paths branch and join again "
                f"({kinds}) are shown as one block")

    def forward(self, r, n):
        params = [Quantity(f"{name}", f"{name}  (parameter in the block)", v)
                  for name, v, _ in _block_params(self.unit)]
        return params + [Quantity(n.out, f"{n.out} = block({n.inp})", self.unit.out.data,
                                  note=self.note())]

    def backward(self, r, n):
        return [Quantity(f"∇{name}", f"∇{name} = ∂L/∂{name}", g, note=self.note())
                for name, _, g in _block_params(self.unit) if g is not None]


def _block_params(unit):
    seen = {}
    for r in unit.ops:
        for k, name in r.param_names.items():
            seen.setdefault(name, (name, r.values[k], r.grads[k]))
    return list(seen.values())


def _not_shown(rule, unit, r) -> list:
    if isinstance(rule, _Block):
        where = ", ".join(_labels([unit]))
        return [f"{where}: {rule.note()[len('autograd only: '):]}; no textbook equation"]
    if type(rule) is Rule:
        why = f" ({r.unsupported})" if r.unsupported else ""
        return [f"{_label(r)}: op {r.kind}{why} has no textbook equation in explain; its "
                "values and gradients are autograd's, not recomputed"]
    return []


# --------------------------------------------------------------------------- the layers
def _grad(t):
    return np.zeros_like(t.data) if t.grad is None else t.grad.data


def _forward_layer(k, group):
    """(Layer with its forward quantities, rules, [(unit, record, Names)])."""
    s = sup(k)
    layer = Layer(k, _labels(group), [r.kind for u in group for r in u.ops])
    rules, parts = [], []
    inp = f"a{sup(k - 1)}"
    post = len(group) - 1
    for j, unit in enumerate(group):
        rule = _Block(unit) if unit.block else rule_for(unit.op)
        r = None if unit.block else unit.op
        if j == 0:
            out = f"{rule.out_stem}{s}"
            g_out = f"{rule.grad_stem}{s}"
        else:
            out = f"a{s}" if j == post else (f"h{s}" if post == 2 else f"h{s}{_sub(j)}")
            g_out = f"∂L/∂{out}"
        n = Names(k, inp, out, g_out)
        layer.forward += rule.forward(r, n)
        rules.append(rule)
        parts.append((unit, r, n))
        inp = out
    if post == 0:
        z = parts[0][2].out
        layer.forward.append(Quantity(f"a{s}", f"a{s} = {z}" + (
            " (no activation)" if rules[0].out_stem == "z" else ""), group[0].out.data))
    return layer, rules, parts


def _sub(j):
    from .rules import sub
    return sub(j)


def _upstream(built, k, output_grad):
    """∂L/∂a⁽ᵏ⁺¹⁾ entering layer k+1 (0-based k): (symbol-free text, value, fn or None,
    note). The text is the next layer's input-gradient equation."""
    layer, rules, parts = built[k]
    value = _grad(parts[-1][0].out)
    if k + 1 == len(built):
        return output_grad.symbol, value, (lambda: output_grad.value), None, True
    nrules, nparts = built[k + 1][1], built[k + 1][2]
    nrule, (nunit, nr, nn) = nrules[0], nparts[0]
    expr = None if isinstance(nrule, _Block) else nrule.input_grad(nr, nn)
    if expr is None:
        note = (_Block(nunit).note() if isinstance(nrule, _Block)
                else unchecked_note(nr))
        return "∂L/∂(next layer's input)", value, None, note, False
    template, fn = expr
    return template.replace("{g}", nn.g_out), value, (lambda: fn(nr.g)), None, False


def _backward_layer(built, k, output_grad):
    layer, rules, parts = built[k]
    s = sup(layer.index)
    up_text, up_value, up_fn, up_note, last = _upstream(built, k, output_grad)
    post = parts[1:]
    first_rule, (unit0, r0, n0) = rules[0], parts[0]
    mergeable = up_fn is not None and (
        (not post and first_rule.out_stem == "z")
        or (len(post) == 1 and rules[1].elementwise))
    if mergeable:
        if not post:
            text, fn = up_text, up_fn
        else:
            template, act = rules[1].input_grad(parts[1][1], parts[1][2])
            text = template.replace("{g}", paren(up_text))

            def fn(act=act):
                return act(up_fn())
        layer.backward.append(_line(n0.g_out, f"{n0.g_out} = {text}", _grad(unit0.out), fn))
    else:
        sym = f"∂L/∂a{s}" if post else n0.g_out
        if not last or not post:
            layer.backward.append(_line(sym, f"{sym} = {up_text}", up_value, up_fn, up_note))
        for j in range(len(post), 0, -1):
            unit, r, n = parts[j]
            rule = rules[j]
            g_in = parts[j - 1][2].g_out if j > 1 else n0.g_out
            expr = None if isinstance(rule, _Block) else rule.input_grad(r, n)
            value = _grad(unit.inp)
            if expr is None:
                note = rule.note() if isinstance(rule, _Block) else unchecked_note(r)
                layer.backward.append(Quantity(g_in, f"{g_in} = ∂L/∂{parts[j - 1][2].out}",
                                               value, note=note))
                continue
            template, fn = expr
            g_val = _grad(unit.out)
            layer.backward.append(_line(g_in, f"{g_in} = {template.replace('{g}', n.g_out)}",
                                        value, (lambda fn=fn, g_val=g_val: fn(g_val))))
    layer.backward += first_rule.backward(r0, n0)


def _line(symbol, equation, value, fn, note=None):
    if fn is None:
        return Quantity(symbol, equation, value, note=note or "")
    return Quantity(symbol, equation, value, Check.of(fn(), value))


def _update_layer(layer, parts, lr):
    unit, r, n = parts[0]
    if unit.block:
        items = [(name, g, v) for name, v, g in _block_params(unit)]
        symbols = {name: name for name, _, _ in items}
    else:
        rule = rule_for(r)
        items = [(r.param_names[k], r.grads[k], r.values[k]) for k in sorted(r.param_names)
                 if not r.param_names[k].startswith("computed by")]
        symbols = {r.param_names[k]: rule.symbol(r, k, n) for k in r.param_names}
    for name, grad, value in items:
        if grad is None:
            continue
        sym = symbols[name]
        step = -lr * grad
        norm_p = float(np.linalg.norm(value))
        ratio = (f"‖Δ‖/‖{sym}‖ = {float(np.linalg.norm(step)) / norm_p:.2g}" if norm_p
                 else f"‖{sym}‖ = 0")
        layer.update.append(Quantity(f"Δ{sym}", f"Δ{sym} = −η ∇{sym}  ({ratio})", step))
        layer.update.append(Quantity(f"{sym} new", f"{sym} ← {sym} + Δ{sym}", value + step))


__all__ = ["ExplainCheckWarning", "explain"]
