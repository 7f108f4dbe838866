"""Text and markdown forms of an :class:`~.record.Explanation`, walking its steps.

A row is ``equation  shape  values  ✓ difference`` (or ``✗ difference (tolerance t)``), the
mark on the row's first line; small tensors are printed in full, larger ones by norm, mean,
std, min and max, images and sequences also by a crop, one window per map size
(``Explanation.crops``). Then the limits: every ✗ as a warning,
and what explain could not show as a textbook equation.
"""
from __future__ import annotations

import numpy as np

from .record import display

_WIDE = 60          # equations longer than this put their values on the next line
_HEADERS = {"forward": "FORWARD  (keep every z and a: backward needs them)",
            "backward": "BACKWARD  (δ flows from the last layer to the first)"}


def _mark(q) -> str:
    if q.check is None:
        return ""
    c = q.check
    if c.ok:
        return f"   ✓ {c.difference:.1g}"
    return f"   ✗ {c.difference:.3g} (tolerance {c.tolerance:.1g})"


def _array(a, indent, width=200) -> str:
    text = np.array2string(np.asarray(a), precision=6, separator=", ", max_line_width=width,
                           floatmode="maxprec_equal", suppress_small=False)
    text = "\n".join(line for line in text.split("\n") if line.strip())
    return text.replace("\n", "\n" + " " * indent)


def _text_value(q, max_values, indent, crops=None) -> str:
    shown = display(q.value, max_values, crops)
    if "values" in shown:
        return _array(q.value, indent)
    text = (f"‖·‖ {shown['norm']:.6g}  mean {shown['mean']:.4g}  std {shown['std']:.4g}  "
            f"min {shown['min']:.4g}  max {shown['max']:.4g}")
    if "crop" in shown:
        pad = " " * (indent + 2)
        text += (f"\n{' ' * indent}crop {shown['crop']['at']}:\n{pad}"
                 + _array(np.asarray(shown["crop"]["values"]), indent + 2))
    return text


def _row(q, width, max_values, crops=None) -> list:
    if len(q.equation) > width:
        head = f"  {q.equation}"
        body_indent = 6
        lines = [head + _mark(q)]
        value = _text_value(q, max_values, body_indent + 10, crops)
        lines.append(f"{' ' * body_indent}{str(tuple(np.shape(q.value))):<9} {value}")
    else:
        head = f"  {q.equation:<{width}} {str(tuple(np.shape(q.value))):<9} "
        first, *rest = _text_value(q, max_values, len(head), crops).split("\n")
        lines = [head + first + _mark(q)] + rest
    if q.note:
        lines.append(f"      ({q.note})")
    return lines


def text(e) -> str:
    mv, crops = e.max_values, e.crops()
    width = min(max(len(q.equation) for q in e.quantities()) + 2, _WIDE)
    lines = [e.title, f"loss {e.loss_name}, learning rate η = {e.lr:g}; "
             "W⁽ˡ⁾ is nn.Linear's weight, shape (out, in)"] + list(e.notes) + [""]
    phase = None
    for step in e.steps():
        if step.phase != phase and step.phase in _HEADERS:
            lines += ([""] if phase else []) + [_HEADERS[step.phase]]
        if step.phase == "update" and phase != "update":
            lines += ["", f"UPDATE  (SGD, η = {e.lr:g})"]
        phase = step.phase
        if step.phase == "loss":
            for q in step.quantities[:-1]:
                lines += _row(q, width, mv, crops)
            lines.append(f"loss L = {e.loss:.10g}")
            continue
        if step.layer is None:
            if step.phase == "update":
                lines.append(f"loss after the update: {e.loss_after:.10g} "
                             f"(change {e.loss_after - e.loss:+.3g})")
            else:
                lines += [r for q in step.quantities for r in _row(q, width, mv, crops)]
            continue
        if step.layer:
            lines.append(step.title if step.phase == "forward" else f"layer {step.layer}:")
        lines += [r for q in step.quantities for r in _row(q, width, mv, crops)]
    checks = e.checks()
    if checks:
        worst = max(q.check.difference for q in checks)
        lines.append(f"✓ = the equation recomputed with NumPy from the numbers above equals "
                     f"autograd (or deltaflow's forward); {len(checks)} checked, largest "
                     f"difference {worst:.2g}")
    for w in e.warnings():
        lines.append(f"✗ WARNING: {w}")
    if e.not_shown:
        lines += ["", "NOT SHOWN AS TEXTBOOK EQUATIONS (values and gradients are autograd's, "
                  "unchecked):"] + [f"  - {m}" for m in e.not_shown]
    return "\n".join(lines)


def _md_value(q, max_values, crops) -> str:
    shown = display(q.value, max_values, crops)
    if "values" in shown:
        return "`" + np.array2string(np.asarray(q.value), precision=6, separator=", ",
                                     max_line_width=10_000,
                                     floatmode="maxprec_equal").replace("\n", "") + "`"
    text = (f"‖·‖ = {shown['norm']:.6g}, mean {shown['mean']:.4g}, min {shown['min']:.4g}, "
            f"max {shown['max']:.4g}")
    if "crop" in shown:
        crop = np.array2string(np.asarray(shown["crop"]["values"]), precision=4,
                               separator=", ", max_line_width=10_000).replace("\n", "")
        text += f"; crop {shown['crop']['at']}: `{crop}`"
    return text


def markdown(e) -> str:
    mv, crops = e.max_values, e.crops()
    lines = [f"### {e.title}", "", f"Loss {e.loss_name}, learning rate η = {e.lr:g}; W⁽ˡ⁾ is "
             "nn.Linear's weight, shape (out, in).", ""] + [f"{n}  " for n in e.notes]

    def table(rows):
        out = ["| quantity | equation | shape | value |", "|---|---|---|---|"]
        for q in rows:
            mark = ""
            if q.check is not None:
                mark = (f" ✓ ({q.check.difference:.1g})" if q.check.ok
                        else f" ✗ ({q.check.difference:.3g} > {q.check.tolerance:.1g})")
            note = f" ({q.note})" if q.note else ""
            out.append(f"| `{q.symbol}` | {q.equation}{mark}{note} | "
                       f"{tuple(np.shape(q.value))} | {_md_value(q, mv, crops)} |")
        return out + [""]

    titles = {"forward": "**Forward**", "backward": "**Backward**",
              "update": f"**Update** (SGD, η = {e.lr:g})"}
    phase = None
    for step in e.steps():
        if step.phase != phase and step.phase in titles:
            lines += [titles[step.phase], ""]
        phase = step.phase
        if step.phase == "loss":
            lines += table(step.quantities[:-1]) if len(step.quantities) > 1 else []
            lines += [f"Loss L = {e.loss:.10g}", ""]
        elif step.layer is None and step.phase == "update":
            lines.append(f"Loss after the update: {e.loss_after:.10g} "
                         f"(change {e.loss_after - e.loss:+.3g}).")
        else:
            if step.layer:
                lines += [step.title[0].upper() + step.title[1:], ""]
            lines += table(step.quantities)
    for w in e.warnings():
        lines += ["", f"**✗ Warning:** {w}"]
    if e.not_shown:
        lines += ["", "**Not shown as textbook equations** (autograd's values, unchecked):", ""]
        lines += [f"- {m}" for m in e.not_shown]
    return "\n".join(lines)


__all__ = ["markdown", "text"]
