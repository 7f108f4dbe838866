"""Per-op overhead: a chain of 100 small elementwise ops on 8-element tensors, forward and
backward. With 8 elements the arithmetic is nothing; what is timed is the framework's cost
per op (argument handling, graph recording, the backward engine)."""
from __future__ import annotations

DESCRIPTION = ("chain of 100 elementwise ops (×a, +b, tanh, ×0.5) on 8-element float32 "
               "tensors, forward + backward; time per op")
TARGET = 1.0
REFERENCE = "torch"
UNIT = "op"
REPEATS = 15

N_OPS = 100          # ops per chain (the final .sum() is not counted)
CHAINS = 20          # chains per timed call, so that one call is long enough to time


def _chain(x, a, b, tanh):
    y = x
    for _ in range(N_OPS // 4):
        y = tanh(y * a + b) * 0.5
    return y.sum()


def make(impl, quick=False):
    chains = 2 if quick else CHAINS
    if impl == "deltaflow":
        import numpy as np

        import deltaflow as dl
        rng = np.random.default_rng(0)
        x, a, b = (dl.tensor(rng.standard_normal(8, dtype=np.float32), requires_grad=True)
                   for _ in range(3))
        tanh = dl.tanh
    elif impl == "torch":
        try:
            import torch
        except ImportError:
            return None
        g = torch.Generator().manual_seed(0)
        x, a, b = (torch.randn(8, generator=g, requires_grad=True) for _ in range(3))
        tanh = torch.tanh
    else:
        return None

    def step():
        for _ in range(chains):
            x.grad = a.grad = b.grad = None
            _chain(x, a, b, tanh).backward()

    step.units = chains * N_OPS
    return step
