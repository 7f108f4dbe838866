"""``deltaflow explain --html``: one self-contained HTML page that steps through an explain.

The page is ``page_template.html`` (its CSS and JavaScript inline: no network, no CDN, it
works from ``file://``) with the data of :func:`page_data` embedded as a JavaScript literal.
It draws the network, then walks the explanation's steps -- the forward pass layer by
layer, the loss, the backward pass from the last layer to the first, the update -- showing
at each step the equations, shapes and numbers, each recomputed equation marked ✓ or ✗ with
its difference, and highlighting the layer being computed. Buttons and the keyboard
(→ / Space next, ← back, Home / End) move between steps.

The page reads only ``Explanation.to_dict()`` (format ``deltaflow-explain/1``: ``network``,
``steps`` of ``quantities``, ``checks``, ``warnings``, ``not_shown``), the data the text
output prints, so both show the same numbers.
"""
from __future__ import annotations

import json
from importlib import resources

from .. import io

_ABOUT = {  # what each kind of step computes, shown under its title
    "input": "The input a⁽⁰⁾, one sample per row, after the layers that only reshape it.",
    "forward": "The layer's op on the previous activations, then its activation. Backward "
               "needs every value computed here, so the forward pass keeps them.",
    "loss": "The loss compares the network's output with the target.",
    "start": "Backward starts at the loss: its gradient with respect to the output.",
    "backward": "The chain rule: δ of this layer from the δ of the layer above, then the "
                "gradients of its parameters from δ and the layer's input.",
    "update": "Each parameter takes a step against its gradient (SGD): θ ← θ − η ∇θ.",
    "after": "The same batch through the updated network.",
}


def page_data(explanation) -> dict:
    """What the page shows: the explanation's ``to_dict()`` with, for the picture, one
    column per layer (its shape) plus the loss, and for each step its column and a line
    saying what it computes."""
    d = explanation.to_dict() if hasattr(explanation, "to_dict") else dict(explanation)
    steps = [dict(s) for s in d["steps"]]
    network = d.get("network") or [{"index": 0, "name": "input", "modules": []}]
    loss_column = len(network)
    shapes = {}
    for s in steps:
        if s["phase"] == "forward" and s.get("layer") is not None and s["quantities"]:
            shapes[s["layer"]] = s["quantities"][-1].get("shape", [])
    columns = [{"index": n["index"], "name": n.get("name", f"layer {n['index']}"),
                "label": " → ".join(m.split(" ", 1)[-1] for m in n.get("modules", [])),
                "shape": shapes.get(n["index"], [])} for n in network]
    columns.append({"index": None, "name": "loss", "label": "", "shape": []})
    position = {c["index"]: k for k, c in enumerate(columns[:-1])}
    for s in steps:
        layer = s.get("layer")
        s["column"] = position.get(layer, loss_column)
        if s["phase"] == "forward":
            s["about"] = _ABOUT["input" if layer == 0 else "forward"]
        elif s["phase"] == "backward":
            s["about"] = _ABOUT["start" if layer is None else "backward"]
        elif s["phase"] == "update":
            s["about"] = _ABOUT["after" if layer is None else "update"]
        else:
            s["about"] = _ABOUT["loss"]
    checks = d.get("checks") or {"count": 0, "failed": 0}
    return {"title": d.get("title", "explain"), "loss_name": d.get("loss_name", ""),
            "lr": d.get("lr"), "columns": columns, "steps": steps,
            "checks": {"count": checks.get("count", 0), "failed": checks.get("failed", 0)},
            "warnings": list(d.get("warnings") or []),
            "not_shown": list(d.get("not_shown") or [])}


# ----------------------------------------------------------------------------- writing
def render_page(explanation) -> str:
    """The page's HTML text. The data is a JavaScript literal (NaN and ±Infinity stay)."""
    data = page_data(explanation)
    literal = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")   # no "</script>"
    template = resources.files(__package__).joinpath("page_template.html").read_text("utf-8")
    return (template.replace("__TITLE__", _escape(data["title"]))
            .replace("/*__DATA__*/null", literal))


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def write_page(explanation, path) -> str:
    """Write the page of ``explanation`` (an :class:`~deltaflow.diagnostics.explain.Explanation`
    or its ``to_dict()``) to ``path``, atomically."""
    html = render_page(explanation)
    with io.atomic_write(path, "w") as f:
        f.write(html)
    return str(path)


__all__ = ["page_data", "render_page", "write_page"]
