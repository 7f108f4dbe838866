"""The GEMM floor of a workload: what its matrix products alone cost on this machine.

A training step of a dense or convolutional network is mostly matrix products (GEMMs).
Each workload module with a ``gemms(quick=False)`` function lists the products of one
unit of work (forward and backward), derived from its model sizes with the helpers below;
this module times NumPy's ``matmul`` (the BLAS every NumPy program gets) on exactly those
shapes and adds the times up:

    floor = Σ_g count_g · t_g,    t_g = best time of one (m×k)·(k×n) product (× batch),
    rate  = Σ_g count_g · 2·m_g·n_g·k_g·batch_g / floor.

A library's **share of the floor** is floor / (its measured time per unit): 100% would be a
step that does nothing but those products at the BLAS's speed for their shapes. Each shape
is timed in both orientations, (m×k)·(k×n) and its transpose (n×k)·(k×m) (same flops; a
library may call BLAS either way round), into a preallocated output, best of ``repeats``
samples of enough calls to last ``min_time``. The floor is OpenBLAS's (NumPy's) rate on
the workload's own shapes, not the CPU's peak: a library with a faster GEMM for a shape, or
one that does a convolution without im2col, can go above 100%; the peak rate of a large
square product (``peak_rate``) is reported beside it.

With PyTorch installed the same shapes are also timed with ``torch.matmul`` (its BLAS:
MKL/oneDNN in the x86 wheels), giving a second floor, ``reference``. A library's time
beyond its own BLAS's floor is what it spends outside the products (elementwise work,
memory traffic, per-op overhead, products slower in the step than alone): comparing
deltaflow's time beyond NumPy's floor with PyTorch's beyond its own splits a ratio to
PyTorch into the part the BLAS explains and the rest.

    python -m benchmarks.gemm_floor mlp cnn [--quick]   # JSON, one object per workload
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import time
from typing import NamedTuple


class Gemm(NamedTuple):
    """``count`` products (m×k)·(k×n), each over a stack of ``batch`` matrices; ``backward``
    marks the products of the backward pass."""
    what: str
    m: int
    n: int
    k: int
    count: int = 1
    batch: int = 1
    backward: bool = False

    @property
    def flops(self) -> int:
        return 2 * self.m * self.n * self.k * self.batch * self.count


# --------------------------------------------------------------- shapes from model sizes
def linear(what: str, rows: int, n_in: int, n_out: int, input_grad: bool = True) -> list[Gemm]:
    """y = x·Wᵀ (rows × n_in → rows × n_out); backward ∂L/∂W = δᵀ·x and, unless the input is
    the data, ∂L/∂x = δ·W. (The bias is an add, not a product.)"""
    out = [Gemm(f"{what} y=xWᵀ", rows, n_out, n_in),
           Gemm(f"{what} ∂W=δᵀx", n_out, n_in, rows, backward=True)]
    if input_grad:
        out.append(Gemm(f"{what} ∂x=δW", rows, n_in, n_out, backward=True))
    return out


def conv2d(what: str, batch: int, c_in: int, c_out: int, kernel: int, positions: int,
           input_grad: bool = True) -> list[Gemm]:
    """A convolution as im2col + GEMM: the columns are (c_in·kernel²) × (batch·positions)
    where ``positions`` = output height × width; y = W·cols, ∂W = δ·colsᵀ, ∂cols = Wᵀ·δ (then
    col2im, which is no product) unless the input is the data."""
    ck, cols = c_in * kernel * kernel, batch * positions
    out = [Gemm(f"{what} y=W·cols", c_out, cols, ck),
           Gemm(f"{what} ∂W=δ·colsᵀ", c_out, ck, cols, backward=True)]
    if input_grad:
        out.append(Gemm(f"{what} ∂cols=Wᵀδ", ck, cols, c_out, backward=True))
    return out


def recurrent(what: str, steps: int, batch: int, n_in: int, hidden: int, gates: int,
              input_grad: bool = True) -> list[Gemm]:
    """A gated recurrent layer (LSTM: 4 gates, GRU: 3) over ``steps`` × ``batch`` inputs.
    Forward: the input projection X·W_ihᵀ can be one product over all steps; the recurrent
    h_{t−1}·W_hhᵀ is one per step (it needs h_{t−1}; counted for all T steps, as both
    libraries do, h₀ = 0 included). Backward: ∂W_ih and ∂W_hh as one product each over all
    steps, ∂X in one, and δ_t·W_hh per step for ∂h_{t−1} (T − 1 of them: ∂h₀ is not needed)."""
    g, rows = gates * hidden, steps * batch
    out = [Gemm(f"{what} X·W_ihᵀ", rows, g, n_in),
           Gemm(f"{what} h·W_hhᵀ per step", batch, g, hidden, count=steps),
           Gemm(f"{what} ∂W_ih", g, n_in, rows, backward=True),
           Gemm(f"{what} ∂W_hh", g, hidden, rows, backward=True),
           Gemm(f"{what} ∂h per step", batch, hidden, g, count=steps - 1, backward=True)]
    if input_grad:
        out.append(Gemm(f"{what} ∂X", rows, n_in, g, backward=True))
    return out


def attention(what: str, batch_heads: int, seq: int, head_dim: int) -> list[Gemm]:
    """Scaled dot-product attention over ``batch_heads`` (batch × heads) stacks: S = Q·Kᵀ and
    O = P·V forward (the full seq × seq scores: a causal mask is applied, not skipped);
    backward ∂P = ∂O·Vᵀ, ∂V = Pᵀ·∂O, ∂Q = ∂S·K, ∂K = ∂Sᵀ·Q."""
    b, t, d = batch_heads, seq, head_dim
    fwd = [Gemm(f"{what} S=QKᵀ", t, t, d, batch=b), Gemm(f"{what} O=PV", t, d, t, batch=b)]
    bwd = [Gemm(f"{what} ∂P=∂O·Vᵀ", t, t, d, batch=b), Gemm(f"{what} ∂V=Pᵀ∂O", t, d, t, batch=b),
           Gemm(f"{what} ∂Q=∂S·K", t, d, t, batch=b), Gemm(f"{what} ∂K=∂Sᵀ·Q", t, d, t, batch=b)]
    return fwd + [g._replace(backward=True) for g in bwd]


def times(gemms: list[Gemm], n: int) -> list[Gemm]:
    """The same products ``n`` times over (e.g. the steps of an epoch)."""
    return [g._replace(count=g.count * n) for g in gemms]


def forward(gemms: list[Gemm]) -> list[Gemm]:
    """Only the forward pass's products (an inference step)."""
    return [g for g in gemms if not g.backward]


def flops(gemms: list[Gemm]) -> int:
    return sum(g.flops for g in gemms)


# -------------------------------------------------------------------------- measurement
def _shape(g: Gemm) -> tuple[int, int, int, int]:
    return g.m, g.n, g.k, g.batch


def _best(product, repeats: int, min_time: float, clock) -> float:
    t0 = clock()
    product()                                        # warm-up, and the calibration
    inner = max(1, math.ceil(min_time / max(clock() - t0, 1e-7)))
    best = math.inf
    for _ in range(repeats):
        t0 = clock()
        for _ in range(inner):
            product()
        best = min(best, (clock() - t0) / inner)
    return best


def time_shape(m: int, n: int, k: int, batch: int = 1, repeats: int = 5,
               min_time: float = 2e-3, clock=time.perf_counter, library: str = "numpy") -> float:
    """Best time in seconds (wall, or ``clock``: ``time.thread_time`` to match timings of
    single-threaded code in CPU time) of one float32 (m×k)·(k×n) product over ``batch``
    stacked matrices, the better of the two orientations, by ``numpy.matmul`` or (``library``
    "torch") ``torch.matmul``, each into a preallocated output."""
    import numpy as np
    rng = np.random.default_rng(0)
    lead = (batch,) if batch > 1 else ()
    best = math.inf
    for rows, cols in ((m, n), (n, m)):              # C = A·B and Cᵀ = Bᵀ·Aᵀ
        a = rng.random(lead + (rows, k), dtype=np.float32)
        b = rng.random(lead + (k, cols), dtype=np.float32)
        out = np.empty(lead + (rows, cols), dtype=np.float32)
        if library == "torch":
            import torch
            a, b, out = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
            matmul = torch.matmul
        else:
            matmul = np.matmul
        product = functools.partial(matmul, a, b, out=out)
        best = min(best, _best(product, repeats, min_time, clock))
        del a, b, out, product
    return best


def measure(gemms: list[Gemm], repeats: int = 5, min_time: float = 2e-3,
            clock=time.perf_counter, library: str = "numpy") -> dict:
    """Time every distinct shape once; ``{"gemms": [...], "flops", "floor_s", "rate"}``."""
    best: dict = {}
    for g in gemms:
        if _shape(g) not in best:
            best[_shape(g)] = time_shape(*_shape(g), repeats=repeats, min_time=min_time,
                                         clock=clock, library=library)
    return summarize(gemms, best)


def summarize(gemms: list[Gemm], best: dict) -> dict:
    """The floor from per-shape times ``best[(m, n, k, batch)]`` (seconds per product)."""
    rows = [{**g._asdict(), "flops": g.flops, "seconds": g.count * best[_shape(g)],
             "gflops_per_s": g.flops / (g.count * best[_shape(g)]) / 1e9} for g in gemms]
    floor = sum(r["seconds"] for r in rows)
    return {"gemms": rows, "flops": flops(gemms), "floor_s": floor,
            "rate": flops(gemms) / floor if floor > 0 else math.nan}


def peak_rate(n: int = 2048, repeats: int = 3) -> float:
    """FLOP/s of NumPy's float32 n×n×n product: the machine's large-GEMM rate."""
    return 2 * n ** 3 / time_shape(n, n, n, repeats=repeats, min_time=0.0)


def main(argv=None) -> int:
    from . import workloads
    p = argparse.ArgumentParser(prog="python -m benchmarks.gemm_floor",
                                description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="+", help="workloads with a gemms() function")
    p.add_argument("--quick", action="store_true", help="the workloads' quick sizes")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    peak_n = 512 if args.quick else 2048
    peak = peak_rate(peak_n)
    for name in args.names:
        mod = workloads.load(name)
        if not hasattr(mod, "gemms"):
            raise SystemExit(f"benchmarks.gemm_floor: workload {name!r} has no gemms()")
        gemms, min_time = mod.gemms(quick=args.quick), 5e-4 if args.quick else 2e-3
        result = measure(gemms, repeats=args.repeats, min_time=min_time)
        if importlib.util.find_spec("torch") is not None:
            ref = measure(gemms, repeats=args.repeats, min_time=min_time, library="torch")
            result["reference"] = {"library": "torch", "floor_s": ref["floor_s"],
                                   "rate": ref["rate"]}
        print(json.dumps({"workload": name, **result, "peak_rate": peak, "peak_n": peak_n}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
