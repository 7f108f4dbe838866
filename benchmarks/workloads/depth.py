"""Cost of forward and backward propagation as a dense network grows deeper and wider.

A stack of ``depth`` blocks Linear(width, width) → ReLU on a batch of 128, float32, with a
sum loss. For one dense layer the forward pass is one GEMM (z = a Wᵀ + b, 2·B·n² flops) and
the backward pass two (∂L/∂a = δ W and ∂L/∂W = δᵀ a, 4·B·n²): both are linear in the
number of layers and quadratic in the width, and backward costs about twice the forward.
(Claims that forward is O(L²) and backward O(L³) in the number of layers L are wrong: each
layer is visited once in each direction.)

As a harness workload (``python -m benchmarks depth``) one call is one forward + backward at
depth 16, width 256, against the same network in PyTorch and the textbook algorithm written
by hand in NumPy (the floor: no framework at all). ``sweep`` times forward alone
and forward + backward over depths and widths; ``benchmarks/depth_plot.py`` draws the plot
shown in ``docs/diagnostics.md``.
"""
from __future__ import annotations

DESCRIPTION = "Linear(256,256)+ReLU ×16, batch 128: forward + backward (the depth study)"
TARGET = None
REFERENCE = "torch"
UNIT = "step"
REPEATS = 9

BATCH = 128
DEPTH = 16
WIDTH = 256


def gemms(quick=False, depth=None, width=None):
    """The products of one forward + backward (benchmarks/gemm_floor.py): ``depth`` Linear
    layers, no ∂x for the first (its input does not require a gradient)."""
    from benchmarks.gemm_floor import linear
    depth = depth or (4 if quick else DEPTH)
    width = width or (64 if quick else WIDTH)
    return [g for i in range(depth)
            for g in linear(f"layer{i}", BATCH, width, width, input_grad=i > 0)]


def make(impl, quick=False, depth=None, width=None, backward=True):
    """One forward (+ backward when ``backward``) pass of the stack, for ``impl``."""
    import numpy as np
    depth = depth or (4 if quick else DEPTH)
    width = width or (64 if quick else WIDTH)
    x_np = np.random.default_rng(0).standard_normal((BATCH, width), dtype=np.float32)
    if impl == "deltaflow":
        import deltaflow as dl
        nn = dl.nn
        dl.manual_seed(0)
        blocks = []
        for _ in range(depth):
            blocks += [nn.Linear(width, width), nn.ReLU()]
        model = nn.Sequential(*blocks)
        x = dl.tensor(x_np)
        params = list(model.parameters())

        def step():
            out = model(x).sum()
            if backward:
                for p in params:
                    p.grad = None
                out.backward()
    elif impl == "numpy":
        # the textbook algorithm by hand: cache z and a forward, δ recursion backward
        rng = np.random.default_rng(0)
        bound = 1 / np.sqrt(width)
        Ws = [rng.uniform(-bound, bound, (width, width)).astype(np.float32)
              for _ in range(depth)]
        bs = [rng.uniform(-bound, bound, width).astype(np.float32) for _ in range(depth)]

        def step():
            acts, zs = [x_np], []
            for W, b in zip(Ws, bs):
                z = acts[-1] @ W.T + b
                zs.append(z)
                acts.append(np.maximum(z, 0))
            grads = []
            if backward:
                g = np.ones_like(acts[-1])                    # ∂(Σ out)/∂out
                for k in range(depth - 1, -1, -1):
                    delta = g * (zs[k] > 0)                   # δ = g ⊙ relu′(z)
                    grads.append((delta.T @ acts[k], delta.sum(axis=0)))  # ∇W, ∇b
                    g = delta @ Ws[k]                         # error for the layer below
            return acts[-1].sum(), grads
    elif impl == "torch":
        try:
            import torch
        except ImportError:
            return None
        torch.manual_seed(0)
        blocks = []
        for _ in range(depth):
            blocks += [torch.nn.Linear(width, width), torch.nn.ReLU()]
        model = torch.nn.Sequential(*blocks)
        x = torch.from_numpy(x_np)
        params = list(model.parameters())

        def step():
            out = model(x).sum()
            if backward:
                for p in params:
                    p.grad = None
                out.backward()
    else:
        return None
    return step


def time_call(fn, repeats=7, warmup=1, clock=None):
    """Median CPU time of the calling thread over ``repeats`` calls of ``fn()``, in seconds
    (or of ``clock``, e.g. ``time.perf_counter`` for wall time with several threads).

    With BLAS limited to one thread (see :func:`sweep`) all the work runs on this thread,
    so its CPU time measures the work itself, unaffected by other processes competing for
    the cores (wall time on a shared machine is not)."""
    import statistics
    import time
    clock = clock or time.thread_time
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def sweep(impl="deltaflow", depths=(1, 2, 4, 8, 16, 32, 64), widths=(64, 128, 256, 512, 1024),
          fixed_width=WIDTH, fixed_depth=8, repeats=9):
    """Rows ``{"vary", "depth", "width", "forward_s", "forward_backward_s", "backward_s"}``:
    first over ``depths`` at ``fixed_width``, then over ``widths`` at ``fixed_depth``.
    Single-threaded (BLAS and torch), timed in thread CPU time; the forward and the
    forward + backward measurements alternate so slow drift affects both alike."""
    from threadpoolctl import threadpool_limits
    if impl == "torch":
        try:
            import torch
        except ImportError:
            return []
        torch.set_num_threads(1)
    rows = []
    points = [("depth", d, fixed_width) for d in depths]
    points += [("width", fixed_depth, w) for w in widths]
    with threadpool_limits(1):
        for vary, depth, width in points:
            fwd = make(impl, depth=depth, width=width, backward=False)
            both = make(impl, depth=depth, width=width, backward=True)
            f_times, b_times = [], []
            for _ in range(3):
                f_times.append(time_call(fwd, repeats=max(1, repeats // 3)))
                b_times.append(time_call(both, repeats=max(1, repeats // 3)))
            f, fb = sorted(f_times)[1], sorted(b_times)[1]
            rows.append({"vary": vary, "depth": depth, "width": width, "forward_s": f,
                         "forward_backward_s": fb, "backward_s": fb - f})
    return rows
