"""A 1024×1024 float32 matrix product, forward and backward: C = A·B, then
∂L/∂A = G·Bᵀ and ∂L/∂B = Aᵀ·G for a given upstream gradient G. The NumPy reference is
exactly those three GEMMs, so the ratio is what the framework adds around BLAS."""
from __future__ import annotations

DESCRIPTION = "1024×1024 float32 matmul forward + backward (3 GEMMs)"
TARGET = 1.1
REFERENCE = "numpy"
UNIT = "step"
REPEATS = 15

N = 1024


def make(impl, quick=False):
    import numpy as np
    n = 256 if quick else N
    rng = np.random.default_rng(0)
    a_np, b_np, g_np = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(3))

    if impl == "numpy":
        def step():
            c = a_np @ b_np
            ga = g_np @ b_np.T
            gb = a_np.T @ g_np
            return c, ga, gb
    elif impl == "deltaflow":
        import deltaflow as dl
        a = dl.tensor(a_np, requires_grad=True)
        b = dl.tensor(b_np, requires_grad=True)
        g = dl.tensor(g_np)

        def step():
            a.grad = b.grad = None
            (a @ b).backward(g)
    elif impl == "torch":
        try:
            import torch
        except ImportError:
            return None
        a = torch.from_numpy(a_np).requires_grad_()
        b = torch.from_numpy(b_np).requires_grad_()
        g = torch.from_numpy(g_np)

        def step():
            a.grad = b.grad = None
            (a @ b).backward(g)
    else:
        return None
    return step
