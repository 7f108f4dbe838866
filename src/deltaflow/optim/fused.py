"""Fused parameter updates: one loop over a parameter instead of four to ten NumPy passes,
compiled by Numba when it is installed (see :mod:`deltaflow.jit`).

Each loop does, per element and in the same order, what the optimizer's NumPy path does
with whole arrays, so both paths give the same numbers; it reads p, g and the state once
and writes p and the state once (SGD with momentum: 5 array passes instead of 11; Adam:
7 instead of about 20). Used for parameters of at least ``MIN_SIZE`` elements, so that a
small model never imports Numba.

``sgd``   g ← −g (maximize);  g ← g + λ·p;  buf ← μ·buf + c·g (c = 1 − dampening, or 1);
          d ← g + μ·buf (Nesterov) or buf, or g without momentum;  p ← p − lr·d
``adam``  p ← p·(1 − lr·λ) (AdamW);  g ← ±g (−g: maximize);  g ← g + λ·p (Adam);
          m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;
          p ← p − (lr/(1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
``adam_amsgrad``  the same with v̂ ← max(v̂, v) used in place of v in the last line
                  (its own loop: the loops have no data-dependent branches, so LLVM turns
                  them into SIMD code; with Numba's ``error_model="numpy"`` a division
                  needs no zero check either, see :mod:`deltaflow.jit`)
"""
from __future__ import annotations

import numpy as np

from ..jit import MIN_SIZE, Kernels, shared_layout


def _sgd(p, g, buf, lr, momentum, dampening_factor, weight_decay, nesterov, maximize):
    p, g, buf = p.reshape(-1), g.reshape(-1), buf.reshape(-1)
    for k in range(p.size):
        gk = -g[k] if maximize else g[k]
        if weight_decay != 0:
            gk = gk + weight_decay * p[k]
        if momentum != 0:
            b = buf[k] * momentum
            b = b + (gk if dampening_factor == 1 else dampening_factor * gk)
            buf[k] = b
            gk = gk + momentum * b if nesterov else b
        p[k] = p[k] - gk * lr


def _adam(p, g, m, v, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, sign,
          weight_decay, decay, bias_root2, step_size):
    p, g, m, v = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for k in range(p.size):
        pk = p[k] * decay
        gk = g[k] * sign
        if weight_decay != 0:
            gk = gk + weight_decay * pk
        mk = m[k] * beta1 + one_minus_beta1 * gk
        vk = v[k] * beta2 + (gk * gk) * one_minus_beta2
        m[k] = mk
        v[k] = vk
        p[k] = pk - (mk / (np.sqrt(vk) / bias_root2 + eps)) * step_size


def _adam_amsgrad(p, g, m, v, v_max, beta1, beta2, one_minus_beta1, one_minus_beta2, eps,
                  sign, weight_decay, decay, bias_root2, step_size):
    p, g, m, v, v_max = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), \
        v_max.reshape(-1)
    for k in range(p.size):
        pk = p[k] * decay
        gk = g[k] * sign
        if weight_decay != 0:
            gk = gk + weight_decay * pk
        mk = m[k] * beta1 + one_minus_beta1 * gk
        vk = v[k] * beta2 + (gk * gk) * one_minus_beta2
        m[k] = mk
        v[k] = vk
        vk = np.maximum(v_max[k], vk)
        v_max[k] = vk
        p[k] = pk - (mk / (np.sqrt(vk) / bias_root2 + eps)) * step_size


_KERNELS = Kernels(sgd=_sgd, adam=_adam, adam_amsgrad=_adam_amsgrad)


def for_param(p, *state):
    """The compiled updates if they apply to parameter array ``p`` and its ``state`` arrays
    (Numba present and enabled; NumPy float32/float64 arrays, C-contiguous since the loops
    write through flat views; at least ``MIN_SIZE`` elements), else None. Gradients may
    have any layout: callers pass ``np.ascontiguousarray(g)``."""
    if p.size < MIN_SIZE or shared_layout(p, *state) != "C":
        return None
    return _KERNELS.for_array(p)
