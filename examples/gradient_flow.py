"""Vanishing and exploding gradients, seen by GradientMonitor, and their fixes.

Runs the demos of ``deltaflow.diagnostics.demos`` and draws the figures of
``docs/diagnostics.md``:

* a 10-layer sigmoid MLP (vanishing), the same with ReLU + He init, and with BatchNorm;
* a badly scaled regression network (exploding), the same with gradient clipping.

    python examples/gradient_flow.py                  # figures into docs/img/
    python examples/gradient_flow.py --out /tmp/figs
"""
from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

from deltaflow.diagnostics.demos import exploding_demo, healthy_demo, vanishing_demo


def _run(label, demo, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = demo(**kw)
    print(f"=== {label}: loss {run.losses[0]:.4g} → {run.losses[-1]:.4g} after "
          f"{len(run.losses)} steps")
    for w in caught:
        print(f"  warning: {w.message}")
    if not caught:
        print("  no warnings")
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "img"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    sigmoid = _run("deep sigmoid MLP", vanishing_demo)
    print(sigmoid.monitor.report())
    relu = _run("same depth, ReLU + He init", vanishing_demo, fix="relu_he")
    bn = _run("same depth, sigmoid + BatchNorm", vanishing_demo, fix="batchnorm")
    exploding = _run("badly scaled network, plain SGD", exploding_demo)
    clipped = _run("badly scaled network, clip_grad_norm_(1.0)", exploding_demo, clip=1.0)
    healthy = _run("healthy 3-layer ReLU MLP", healthy_demo)
    print(healthy.monitor.report())

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    for ax, (run, title) in zip(axes, ((sigmoid, "10 × (Linear → Sigmoid)"),
                                       (relu, "10 × (Linear → ReLU), He init"),
                                       (bn, "10 × (Linear → BatchNorm → Sigmoid)"))):
        run.monitor.plot_gradient_flow(ax=ax, title=f"{title}\ngradient flow at step 30")
    fig.tight_layout()
    fig.savefig(out / "vanishing_flow.png", dpi=100)

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    sigmoid.monitor.plot_grad_norms(ax=axes[0], title="sigmoid MLP: ‖∇θL‖ per layer "
                                    "(dark = first layer, light = last)")
    relu.monitor.plot_grad_norms(ax=axes[1], title="ReLU + He init: ‖∇θL‖ per layer")
    for ax in axes:
        ax.get_legend().remove()
    fig.tight_layout()
    fig.savefig(out / "vanishing_grad_norms.png", dpi=100)

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    exploding.monitor.plot_grad_norms(ax=axes[0], title="plain SGD: ‖∇θL‖ per layer")
    clipped.monitor.plot_grad_norms(ax=axes[1], title="clipped to norm 1: ‖∇θL‖ per layer")
    for run, label in ((exploding, "plain SGD"), (clipped, "clip_grad_norm_(1.0)")):
        losses = [v if math.isfinite(v) else math.nan for v in run.losses]
        axes[2].plot(range(1, len(losses) + 1), losses, label=label)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("MSE loss")
    axes[2].set_title("loss (NaN after the overflow is not drawn)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "exploding.png", dpi=100)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
