"""The cost of a Hessian-vector product relative to one gradient, for the MLP workload's
network (784-512-512-10 ReLU, cross-entropy, batch 128), in deltaflow and PyTorch.

    python -m benchmarks.hvp                   # 15 interleaved rounds, appends to RESULTS.md
    python -m benchmarks.hvp --quick --no-record

Per round, each of these runs once (order rotating, libraries interleaved):

* forward:   L = loss(model(x), y)
* gradient:  L, then ∇θL = autograd.grad(L, θ)                       (forward + backward)
* hvp:       L, g = autograd.grad(L, θ, create_graph=True), then
             Hv = autograd.grad(g, θ, grad_outputs=v)                 (forward + recorded
             backward + the backward of both)

Theory, per dense layer z = aWᵀ + b (one GEMM forward): the gradient adds 2 GEMMs (δW for
the layer below, δᵀa for ∇W); the recorded backward runs the same 2, and differentiating it
costs 2 per backward GEMM (each has two differentiable inputs) plus 2 for the forward GEMM
it runs back through: 1 + 2 + 4 + 2 = 9 GEMMs against 3, about 3× a gradient (2–4× with
the elementwise work and the recording). Times are the median CPU time of the process
(``time.process_time``, all threads) and the median wall time per call.
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time

BATCH = 128
WIDTHS = (784, 512, 512, 10)


def products(lib, loss, params, v) -> dict:
    """The three timed callables for ``lib`` (deltaflow or torch: the same API) on
    ``loss()``, a function of ``params``; ``hvp()`` returns H v."""
    grad = lib.autograd.grad

    def forward():
        loss()

    def gradient():
        return grad(loss(), params)

    def hvp():
        g = grad(loss(), params, create_graph=True)
        return grad(g, params, v)
    return {"forward": forward, "gradient": gradient, "hvp": hvp}


def _setup(lib, x, y, v_seed):
    """The workload's network in ``lib``, its loss on the batch, a random direction v."""
    import numpy as np

    nn = lib.nn
    lib.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    params = list(model.parameters())
    X, Y = lib.from_numpy(x), lib.from_numpy(y)
    rng = np.random.default_rng(v_seed)
    v = [lib.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32))
         for p in params]
    return products(lib, lambda: nn.functional.cross_entropy(model(X), Y), params, v)


def _deltaflow(x, y, v_seed):
    import deltaflow
    return _setup(deltaflow, x, y, v_seed)


def _torch(x, y, v_seed):
    try:
        import torch
    except ImportError:
        return None
    return _setup(torch, x, y, v_seed)


def measure(impls: dict, repeats: int, warmup: int = 1) -> dict:
    """``{(library, what): ([cpu seconds], [wall seconds])}`` over interleaved rounds."""
    calls = [(lib, what, fn) for lib, fns in impls.items() for what, fn in fns.items()]
    times = {(lib, what): ([], []) for lib, what, _ in calls}
    for r in range(warmup + repeats):
        shift = r % len(calls)
        for lib, what, fn in calls[shift:] + calls[:shift]:
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            c1, w1 = time.process_time(), time.perf_counter()
            if r >= warmup:
                times[lib, what][0].append(c1 - c0)
                times[lib, what][1].append(w1 - w0)
    return times


def table(times: dict) -> str:
    rows = ["| library | forward | gradient | hvp | hvp / gradient | (hvp − fwd) / (grad − fwd) "
            "| hvp / gradient, wall |", "|---|---:|---:|---:|---:|---:|---:|"]
    for lib in dict.fromkeys(lib for lib, _ in times):
        cpu = {w: statistics.median(times[lib, w][0]) for w in ("forward", "gradient", "hvp")}
        wall = {w: statistics.median(times[lib, w][1]) for w in ("forward", "gradient", "hvp")}
        rows.append(
            f"| {lib} | {cpu['forward'] * 1e3:.2f} ms | {cpu['gradient'] * 1e3:.2f} ms | "
            f"{cpu['hvp'] * 1e3:.2f} ms | **{cpu['hvp'] / cpu['gradient']:.2f}×** | "
            f"{(cpu['hvp'] - cpu['forward']) / (cpu['gradient'] - cpu['forward']):.2f}× | "
            f"{wall['hvp'] / wall['gradient']:.2f}× |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and torch threads (default 1: CPU time then measures the "
                             "work, which a busy machine disturbs least)")
    parser.add_argument("--impls", default="deltaflow,torch")
    parser.add_argument("--quick", action="store_true", help="3 rounds, no warm-up")
    parser.add_argument("--no-record", action="store_true",
                        help="do not append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)   # before NumPy's BLAS starts its pool
    from benchmarks.common import mnist_train
    from benchmarks.harness import RESULTS, _append_results, load_average, machine_info
    x, y, note = mnist_train(BATCH)
    makers = {"deltaflow": _deltaflow, "torch": _torch}
    impls = {}
    for name in args.impls.split(","):
        made = makers[name](x, y, 0)
        if made is not None:
            impls[name] = made
    if "torch" in impls:
        import torch
        torch.set_num_threads(args.threads)
    load_start = load_average()
    repeats = 3 if args.quick else args.repeats
    times = measure(impls, repeats, warmup=0 if args.quick else 1)
    load_end = load_average()
    info = machine_info(args.threads)
    command = "python -m benchmarks.hvp " + " ".join(argv if argv is not None else sys.argv[1:])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        f"## {now} — `{command.strip()}`", "",
        f"Hessian-vector product vs gradient, MLP {'-'.join(map(str, WIDTHS))} ReLU, "
        f"cross-entropy, batch {BATCH} ({note}), float32, {repeats} interleaved rounds, "
        f"{args.threads} thread(s); median CPU time per call. Load average "
        f"{load_start[0]:.2f} at start, {load_end[0]:.2f} at end"
        + (" (machine busy: absolute times are noise, the ratios less so)"
           if max(load_start[0], load_end[0]) > 1.5 else "") + ".",
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, NumPy "
        f"{info['numpy']} ({info['blas']}), torch {info['torch']}, deltaflow "
        f"{info['deltaflow']}, {info['priority']}.", "", table(times), ""])
    print(text)
    if not args.no_record and not args.quick:
        _append_results(text)
        print(f"(appended to {RESULTS.name})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
