"""How cost grows: time per sample against batch size, and against the MLP's width.

    python -m benchmarks.scaling                        # docs/img/scaling.{csv,json,png}
    python -m benchmarks.scaling --quick --out /tmp/scaling.png   # smoke run, seconds
    python -m benchmarks.scaling --threads 2            # wall time, 2 threads (quiet machine)

For the MNIST MLP (784-512-512-10) and CNN of the `mlp` and `cnn` workloads, deltaflow and
PyTorch, at batch sizes 1, 2, 4, …, 1024: the time of one training step (zero_grad,
forward, cross-entropy, backward, the workload's optimizer: SGD momentum 0.9 for the MLP,
Adam for the CNN) and of one inference forward (eval mode, ``no_grad``), each divided by the
batch size; then the MLP's hidden width 64 … 4096 at batch 128. Next to every point, the
GEMM floor of the same step (benchmarks/gemm_floor.py: NumPy's matmul on that step's own
products, from ``step_gemms`` of the workload modules; forward products only for
inference; timed with the same clock as the steps), so the plot shows both where per-op
overhead stops mattering (time per sample stops falling as 1/batch) and where GEMM
efficiency saturates (the floor's GFLOP/s stops rising).

Both libraries run in this one process, interleaved point by point (3 rounds each), on a
fixed synthetic batch (the values do not change the time). By default every library is
limited to one thread and timed in the calling thread's CPU time, as the `depth` study is,
so a busy machine does not bend the curves; ``--threads N`` times wall-clock with N
threads instead. deltaflow's allocator setting (``backend.tune_allocator``) is on, as in a
training process; it is process-wide, so PyTorch gets it too.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from benchmarks import gemm_floor
from benchmarks.workloads import cnn, mlp
from benchmarks.workloads.depth import time_call

BATCHES = tuple(2 ** i for i in range(11))          # 1 … 1024
WIDTHS = (64, 128, 256, 512, 1024, 2048, 4096)
WIDTH_BATCH = 128
FIELDS = ("model", "vary", "mode", "batch", "width", "impl", "step_s", "per_sample_s",
          "gemm_flop", "floor_s", "floor_share", "gflops")


def build(lib, model: str, mode: str, batch: int, width: int = 512):
    """One training step (``mode="train"``) or one eval-mode ``no_grad`` forward
    (``"infer"``) of ``model`` ("mlp" or "cnn") in ``lib`` (deltaflow or torch)."""
    import numpy as np
    rng = np.random.default_rng(0)
    shape = (batch, 784) if model == "mlp" else (batch, 1, 28, 28)
    x = lib.from_numpy(rng.random(shape, dtype=np.float32))
    y = lib.from_numpy(rng.integers(0, 10, batch))
    lib.manual_seed(0)
    net = mlp.layers(lib.nn, width) if model == "mlp" else cnn.layers(lib.nn)
    if mode == "infer":
        net.eval()

        def forward():
            with lib.no_grad():
                net(x)
        return forward
    opt = (lib.optim.SGD(net.parameters(), lr=mlp.LR, momentum=mlp.MOMENTUM) if model == "mlp"
           else lib.optim.Adam(net.parameters(), lr=cnn.LR))
    loss_fn = lib.nn.functional.cross_entropy

    def step():
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    return step


def step_gemms(model: str, mode: str, batch: int, width: int = 512):
    gemms = mlp.step_gemms(batch, width) if model == "mlp" else cnn.step_gemms(batch)
    return gemm_floor.forward(gemms) if mode == "infer" else gemms


def points(models, modes, batches, widths):
    """``(model, vary, mode, batch, width)`` for every measurement."""
    out = [(m, "batch", mode, b, 512) for m in models for mode in modes for b in batches]
    if "mlp" in models:
        out += [("mlp", "width", mode, WIDTH_BATCH, w) for mode in modes for w in widths]
    return out


def measure(point, libs: dict, clock, budget: float, floor_repeats: int) -> list[dict]:
    """Time ``point`` for every library (median of 3 interleaved rounds, each the median of
    calls filling about ``budget``/3 seconds) and its GEMM floor; one row per library."""
    model, vary, mode, batch, width = point
    fns = {impl: build(lib, model, mode, batch, width) for impl, lib in libs.items()}
    calls = {}
    for impl, fn in fns.items():                      # warm-up (compiles kernels), calibrate
        fn()
        t0 = clock()
        fn()
        calls[impl] = min(200, max(3, math.ceil(budget / 3 / max(clock() - t0, 1e-6))))
    rounds = {impl: [] for impl in fns}
    for _ in range(3):
        for impl, fn in fns.items():
            rounds[impl].append(time_call(fn, repeats=calls[impl], warmup=0, clock=clock))
    gemms = step_gemms(model, mode, batch, width)
    floor = gemm_floor.measure(gemms, repeats=floor_repeats, min_time=1e-3,
                               clock=clock)["floor_s"]
    rows = []
    for impl in fns:
        t = statistics.median(rounds[impl])
        rows.append({"model": model, "vary": vary, "mode": mode, "batch": batch,
                     "width": width, "impl": impl, "step_s": t, "per_sample_s": t / batch,
                     "gemm_flop": gemm_floor.flops(gemms), "floor_s": floor,
                     "floor_share": floor / t, "gflops": gemm_floor.flops(gemms) / t / 1e9})
    del fns
    return rows


def sweep(impls=("deltaflow", "torch"), models=("mlp", "cnn"), modes=("train", "infer"),
          batches=BATCHES, widths=WIDTHS, threads=1, budget=0.6, floor_repeats=3,
          progress=None) -> list[dict]:
    """The rows of every point (see :data:`FIELDS`), with every library limited to
    ``threads`` threads; CPU time of this thread when ``threads`` is 1, else wall time."""
    from threadpoolctl import threadpool_limits
    libs = {}
    for impl in impls:
        if impl == "deltaflow":
            import deltaflow
            deltaflow.backend.tune_allocator()
            libs[impl] = deltaflow
        elif impl == "torch":
            try:
                import torch
            except ImportError:
                continue
            torch.set_num_threads(threads)
            libs[impl] = torch
        else:
            raise SystemExit(f"benchmarks.scaling: unknown implementation {impl!r}; expected "
                             "deltaflow or torch")
    clock = time.thread_time if threads == 1 else time.perf_counter
    rows = []
    with threadpool_limits(threads):
        for point in points(models, modes, batches, widths):
            new = measure(point, libs, clock, budget, floor_repeats)
            rows += new
            if progress:
                progress(new)
    return rows


def write_csv(rows: list[dict], path) -> None:
    from deltaflow.io import atomic_write
    with atomic_write(path) as f:
        w = csv.DictWriter(f, FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def read_csv(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("batch", "width", "gemm_flop"):
            r[k] = int(r[k])
        for k in ("step_s", "per_sample_s", "floor_s", "floor_share", "gflops"):
            r[k] = float(r[k])
    return rows


def plot(rows: list[dict], out, title: str) -> None:
    """Four panels: per-sample time and GFLOP/s against batch size (mlp, cnn; train solid,
    inference dashed; the GEMM floor a faint thick line in the model's colour), then the
    same against the MLP's width."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deltaflow.io import atomic_path
    colors = {("mlp", "deltaflow"): "tab:blue", ("mlp", "torch"): "tab:cyan",
              ("cnn", "deltaflow"): "tab:red", ("cnn", "torch"): "tab:orange"}
    style = {"train": "-", "infer": "--"}
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    for col, vary, xkey in ((0, "batch", "batch"), (1, "width", "width")):
        ax_t, ax_r = axes[0][col], axes[1][col]
        series = sorted({(r["model"], r["mode"], r["impl"]) for r in rows if r["vary"] == vary})
        floors = set()
        for model, mode, impl in series:
            pts = sorted((r for r in rows if (r["vary"], r["model"], r["mode"], r["impl"])
                          == (vary, model, mode, impl)), key=lambda r: r[xkey])
            x = [r[xkey] for r in pts]
            c = colors.get((model, impl), "k")
            label = f"{model} {mode} {impl}"
            ax_t.loglog(x, [r["per_sample_s"] * 1e6 for r in pts], "o" + style[mode], color=c,
                        ms=3, label=label)
            ax_r.semilogx(x, [r["gflops"] for r in pts], "o" + style[mode], color=c, ms=3,
                          label=label)
            if (model, mode) not in floors:
                floors.add((model, mode))
                faint = {"color": colors.get((model, "deltaflow"), "k"), "lw": 4,
                         "alpha": 0.25}
                ax_t.loglog(x, [r["floor_s"] / r["batch"] * 1e6 for r in pts], style[mode],
                            label=f"{model} {mode} GEMM floor", **faint)
                ax_r.semilogx(x, [r["gemm_flop"] / r["floor_s"] / 1e9 for r in pts],
                              style[mode], label=f"{model} {mode} NumPy GEMM rate (its shapes)",
                              **faint)
        where = ("batch size" if vary == "batch" else
                 f"MLP hidden width (784-w-w-10, batch {WIDTH_BATCH})")
        ax_t.set_xlabel(where)
        ax_r.set_xlabel(where)
        ax_t.set_ylabel("µs per sample")
        ax_r.set_ylabel("GEMM GFLOP/s achieved (step's products / step time)")
        ax_t.set_title(f"time per sample against {vary}", fontsize=9)
        ax_r.set_title(f"matrix-product rate against {vary}", fontsize=9)
        for ax in (ax_t, ax_r):
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling",
                                description=__doc__.split("\n")[0])
    p.add_argument("--out", default="docs/img/scaling.png",
                   help="the plot; the CSV and a JSON of the run's settings go next to it")
    p.add_argument("--impls", default="deltaflow,torch")
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--modes", default="train,infer")
    p.add_argument("--batches", type=_ints, default=BATCHES)
    p.add_argument("--widths", type=_ints, default=WIDTHS)
    p.add_argument("--threads", type=int, default=1,
                   help="threads for every library (default 1: timed in thread CPU time)")
    p.add_argument("--budget", type=float, default=0.6,
                   help="seconds of timed calls per point and library (default 0.6)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: batches 1,8,64, widths 64,256, short budget")
    p.add_argument("--replot", metavar="CSV", help="only redraw the plot from a CSV")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.replot:
        plot(read_csv(args.replot), out, f"from {args.replot}")
        print(f"wrote {out}")
        return 0
    batches, widths, budget = args.batches, args.widths, args.budget
    if args.quick:
        batches, widths, budget = (1, 8, 64), (64, 256), 0.05
    load_start = os.getloadavg()

    def progress(new):
        r = new[0]
        print(f"  {r['model']} {r['mode']:5s} batch {r['batch']:>4} width {r['width']:>4}  "
              + "  ".join(f"{n['impl']} {n['per_sample_s'] * 1e6:9.2f} µs/sample "
                          f"({n['floor_share']:.0%} of floor)" for n in new),
              file=sys.stderr, flush=True)
    rows = sweep(tuple(args.impls.split(",")), tuple(args.models.split(",")),
                 tuple(args.modes.split(",")), batches, widths, args.threads, budget,
                 progress=progress)
    import numpy as np

    from deltaflow.io import save_json
    meta = {"command": "python -m benchmarks.scaling " + " ".join(
                argv if argv is not None else sys.argv[1:]),
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "threads": args.threads,
            "clock": "thread CPU time" if args.threads == 1 else "wall time",
            "load_average_start": load_start, "load_average_end": os.getloadavg()}
    write_csv(rows, out.with_suffix(".csv"))
    save_json(meta, out.with_suffix(".json"))
    plot(rows, out, f"{meta['command']} — {args.threads} thread(s), {meta['clock']}; load "
                    f"{load_start[0]:.1f} → {meta['load_average_end'][0]:.1f}")
    print(f"wrote {out}, {out.with_suffix('.csv')}, {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
