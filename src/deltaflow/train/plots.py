"""Training curves as a PNG (a matplotlib ``Figure`` rendered by Agg, no pyplot)."""
from __future__ import annotations

from pathlib import Path

from ..io import atomic_path


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_curves(history: list[dict], path, title: str | None = None,
                train_loss_label: str = "train loss") -> Path | None:
    """Plot the losses (``loss``, or a task's ``loss_*`` such as a GAN's ``loss_d`` and
    ``loss_g``; left) and accuracy-like metrics (right) per epoch; train solid, validation
    (the held-out part of the training data) dashed. Returns the path written, or None when
    matplotlib is missing or history empty."""
    if not history or not have_matplotlib():
        return None
    from matplotlib.figure import Figure  # drawn by Agg; pyplot's global state is not touched
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    metric_names = [k for k in history[-1] if k == "accuracy" or k.startswith("top")]
    fig = Figure(figsize=(10 if metric_names else 5, 4), dpi=100)
    axes = fig.subplots(1, 2 if metric_names else 1, squeeze=False)[0]
    loss_names = [k for k in history[-1] if k == "loss" or k.startswith("loss_")]
    panels = [("loss", loss_names)] + ([("accuracy", metric_names)] if metric_names else [])
    for ax, (label, names) in zip(axes, panels):
        for name in names:
            for key, style, who in ((name, "-", "train"), (f"val_{name}", "--", "validation")):
                points = [(e, r[key]) for e, r in zip(epochs, history) if r.get(key) is not None]
                if points:
                    legend = train_loss_label if key == "loss" else f"{who} {name}"
                    ax.plot(*zip(*points), style, marker="o", markersize=3, label=legend)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    return Path(path)
