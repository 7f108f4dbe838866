"""Plots of gradient flow (matplotlib, imported only when a plot is drawn).

Each function draws on ``ax`` when given, else on a new figure, saves to ``path`` when
given, and returns the figure.
"""
from __future__ import annotations

import math

from ..io import atomic_path


def _pyplot():
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - matplotlib is the [plot] extra
        raise ImportError("plots need matplotlib: pip install 'deltaflow[plot]'") from err
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not _interactive():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _interactive() -> bool:
    import sys
    return hasattr(sys, "ps1") or "ipykernel" in sys.modules


def _finish(fig, path):
    if path is not None:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
    return fig


def plot_grad_norms(monitor, path=None, ax=None, title=None):
    """One line per layer: ‖∇θL‖ at every recorded step, on a log axis."""
    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4))
    layers = monitor.ordered_layers()
    cmap = plt.get_cmap("viridis")
    for k, layer in enumerate(layers):
        values = [v if v > 0 and math.isfinite(v) else math.nan
                  for v in layer.history["grad_norm"]]
        ax.plot(range(1, len(values) + 1), values, label=layer.label,
                color=cmap(k / max(len(layers) - 1, 1)))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm ‖∇θL‖")
    ax.set_title(title or "per-layer gradient norm (first layer dark, last layer light)")
    if len(layers) <= 12:
        ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path)


def plot_gradient_flow(monitor, path=None, ax=None, step=None, title=None):
    """The classic gradient-flow chart: per layer, max |∂L/∂w| (light) and mean (dark)."""
    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4))
    layers = monitor.ordered_layers()
    k = -1 if step is None else step
    means = [layer.history["grad_mean_abs"][k] for layer in layers]
    maxes = [layer.history["grad_max_abs"][k] for layer in layers]
    xs = range(len(layers))
    ax.bar(xs, maxes, alpha=0.35, color="tab:cyan", label="max |∂L/∂w|")
    ax.bar(xs, means, alpha=0.9, color="tab:blue", label="mean |∂L/∂w|")
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([layer.name for layer in layers], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("gradient magnitude")
    ax.set_title(title or f"gradient flow at step {monitor.steps if step is None else step}")
    ax.legend(fontsize=8)
    return _finish(fig, path)


__all__ = ["plot_grad_norms", "plot_gradient_flow"]
