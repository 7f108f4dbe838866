"""Plot forward and backward time against depth and width (the plot in docs/diagnostics.md).

    python -m benchmarks.depth_plot                       # deltaflow (+ torch if installed)
    python -m benchmarks.depth_plot --out docs/img/depth.png --repeats 9

Left: time against the number of layers at width 256 -- forward, backward (= forward +
backward − forward) and both, each with its least-squares line through the origin region
and R²; the fitted backward/forward ratio is printed in the title. Right: time against the
width at depth 8 on log–log axes with the fitted exponent (2 for dense layers once the
GEMMs dominate). Everything runs single-threaded and is timed in thread CPU time, so a busy
machine does not distort the shape; the numbers go to a JSON file next to the image with
the machine's load average.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np

from benchmarks.workloads.depth import BATCH, WIDTH, sweep


def _fit_line(x, y):
    """Least squares y = a·x + c; returns (a, c, R²)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    a, c = np.polyfit(x, y, 1)
    pred = a * x + c
    ss = float(((y - y.mean()) ** 2).sum())
    return float(a), float(c), 1 - float(((y - pred) ** 2).sum()) / ss if ss else 1.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/img/depth.png")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--impls", default="deltaflow,torch")
    parser.add_argument("--quick", action="store_true", help="small sweep (smoke test)")
    args = parser.parse_args(argv)
    depths = (1, 2, 4, 8) if args.quick else (1, 2, 4, 8, 16, 32, 48, 64)
    widths = (32, 64, 128) if args.quick else (64, 128, 256, 512, 1024)
    load_start = os.getloadavg()
    results = {}
    for impl in args.impls.split(","):
        rows = sweep(impl, depths=depths, widths=widths, repeats=args.repeats)
        if rows:
            results[impl] = rows
            print(f"{impl}:")
            for r in rows:
                print(f"  {r['vary']:<5} depth {r['depth']:>3} width {r['width']:>5}  "
                      f"forward {r['forward_s'] * 1e3:8.3f} ms  backward "
                      f"{r['backward_s'] * 1e3:8.3f} ms  ratio "
                      f"{r['backward_s'] / r['forward_s']:.2f}")
    summary = {}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"deltaflow": "-", "torch": ":"}
    for impl, rows in results.items():
        by_depth = [r for r in rows if r["vary"] == "depth"]
        by_width = [r for r in rows if r["vary"] == "width"]
        d = [r["depth"] for r in by_depth]
        fits = {}
        for key, color, label in (("forward_s", "tab:blue", "forward"),
                                  ("backward_s", "tab:red", "backward"),
                                  ("forward_backward_s", "tab:gray", "forward + backward")):
            t = [r[key] * 1e3 for r in by_depth]
            a, c, r2 = _fit_line(d, t)
            fits[label] = {"ms_per_layer": a, "intercept_ms": c, "r2": r2}
            ax1.plot(d, t, "o" + styles[impl], color=color, ms=4,
                     label=f"{impl} {label}: {a:.3g} ms/layer, R² {r2:.3f}")
        ratio = fits["backward"]["ms_per_layer"] / fits["forward"]["ms_per_layer"]
        w = np.array([r["width"] for r in by_width], float)
        exps = {}
        for key, color, label in (("forward_s", "tab:blue", "forward"),
                                  ("backward_s", "tab:red", "backward")):
            t = np.array([r[key] for r in by_width])
            exps[label] = float(np.polyfit(np.log(w[-3:]), np.log(t[-3:]), 1)[0])
            ax2.loglog(w, t * 1e3, "o" + styles[impl], color=color, ms=4,
                       label=f"{impl} {label}: ∝ width^{exps[label]:.2f} (last 3 points)")
        summary[impl] = {"depth_fits": fits, "backward_over_forward_per_layer": ratio,
                         "width_exponents": exps, "rows": rows}
    if "deltaflow" in summary:
        ratio = summary["deltaflow"]["backward_over_forward_per_layer"]
        ax1.set_title(f"time vs depth (width {WIDTH}, batch {BATCH}); deltaflow backward ≈ "
                      f"{ratio:.2f}× forward", fontsize=9)
    ax1.set_xlabel("layers (Linear + ReLU)")
    ax1.set_ylabel("ms per pass (one thread, CPU time)")
    ax1.legend(fontsize=6.5)
    ax2.set_title(f"time vs width (depth 8, batch {BATCH})", fontsize=9)
    ax2.set_xlabel("width n (weights n×n)")
    ax2.set_ylabel("ms per pass (one thread, CPU time)")
    ax2.legend(fontsize=6.5)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "load_average_start": load_start,
            "load_average_end": os.getloadavg(), "repeats": args.repeats}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, **summary}, indent=1))
    for impl, s in summary.items():
        print(f"{impl}: backward/forward per layer {s['backward_over_forward_per_layer']:.2f}; "
              f"R² forward {s['depth_fits']['forward']['r2']:.3f}, backward "
              f"{s['depth_fits']['backward']['r2']:.3f}; width exponents "
              f"{s['width_exponents']}")
    print(f"wrote {out} and {out.with_suffix('.json')} (load average {load_start[0]:.1f} → "
          f"{meta['load_average_end'][0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
