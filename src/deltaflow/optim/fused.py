"""The parameter updates of SGD and Adam/AdamW, as NumPy/CuPy passes and as one loop over a
parameter compiled by Numba when it is installed (see :mod:`deltaflow.jit`).

Each loop does, per element and in the same order, what the passes do with whole arrays,
so both give the same numbers; it reads p, g and the state once and writes p and the state
once (SGD with momentum: 5 array passes instead of 11; Adam: 7 instead of about 20). g is
already negated for ``maximize`` (by ``Optimizer.step``).
``pick(p, *state)`` returns the loops for C-contiguous NumPy float32/float64 parameters of
at least ``MIN_SIZE`` elements (a small model never imports Numba) whose state arrays
exist and share that layout; gradients may have any layout (the loops read
``np.ascontiguousarray(g)``).

``sgd``   g ← g + λ·p;  buf ← μ·buf + c·g (c = 1 − dampening, or 1;
          buf ← g on the first step);  d ← g + μ·buf (Nesterov) or buf, or g without
          momentum;  p ← p − lr·d
``adam``  p ← p·(1 − lr·λ) (AdamW);  g ← g + λ·p (Adam);
          m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;
          p ← p − (lr/(1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε),
          with AMSGrad (a ``v_max`` given) v̂ ← max(v̂, v) used in place of v in the last
          line (its own loop: the loops have no data-dependent branches, so LLVM turns them
          into SIMD code; with Numba's ``error_model="numpy"`` a division needs no zero
          check either, see :mod:`deltaflow.jit`)
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes, shared_layout


def _sgd(p, g, buf, lr, momentum, dampening_factor, weight_decay, nesterov):
    p, g, buf = p.reshape(-1), g.reshape(-1), buf.reshape(-1)
    for k in range(p.size):
        gk = g[k]
        if weight_decay != 0:
            gk = gk + weight_decay * p[k]
        if momentum != 0:
            b = buf[k] * momentum
            b = b + (gk if dampening_factor == 1 else dampening_factor * gk)
            buf[k] = b
            gk = gk + momentum * b if nesterov else b
        p[k] = p[k] - gk * lr


def _adam(p, g, m, v, beta1, beta2, one_minus_beta1, one_minus_beta2, eps,
          weight_decay, decay, bias_root2, step_size):
    p, g, m, v = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for k in range(p.size):
        pk = p[k] * decay
        gk = g[k]
        if weight_decay != 0:
            gk = gk + weight_decay * pk
        mk = m[k] * beta1 + one_minus_beta1 * gk
        vk = v[k] * beta2 + (gk * gk) * one_minus_beta2
        m[k] = mk
        v[k] = vk
        p[k] = pk - (mk / (np.sqrt(vk) / bias_root2 + eps)) * step_size


def _adam_amsgrad(p, g, m, v, v_max, beta1, beta2, one_minus_beta1, one_minus_beta2, eps,
                  weight_decay, decay, bias_root2, step_size):
    p, g, m, v, v_max = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), \
        v_max.reshape(-1)
    for k in range(p.size):
        pk = p[k] * decay
        gk = g[k]
        if weight_decay != 0:
            gk = gk + weight_decay * pk
        mk = m[k] * beta1 + one_minus_beta1 * gk
        vk = v[k] * beta2 + (gk * gk) * one_minus_beta2
        m[k] = mk
        v[k] = vk
        vk = np.maximum(v_max[k], vk)
        v_max[k] = vk
        p[k] = pk - (mk / (np.sqrt(vk) / bias_root2 + eps)) * step_size


class _Passes(Passes):
    def sgd(self, p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, scaled):
        """The update of ``p`` in place; returns the momentum buffer (g on the first step,
        when ``buf`` is None). ``scaled(a, factor)`` is the optimizer's factor·a into
        scratch memory (:meth:`deltaflow.optim.Optimizer._scaled`)."""
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            if buf is None:
                buf = g.copy()
            else:
                buf *= momentum
                if dampening:
                    buf += (1.0 - dampening) * g
                else:
                    buf += g
            g = g + momentum * buf if nesterov else buf
        p -= scaled(g, lr)
        return buf

    def adam(self, p, g, m, v, v_max, *, step, lr, beta1, beta2, eps, weight_decay,
             decoupled):
        """The update of ``p``, ``m``, ``v`` (and, for AMSGrad, ``v_max``) in place."""
        xp = xp_of(p)
        if weight_decay:
            if decoupled:
                p *= 1.0 - lr * weight_decay
            else:
                g = g + weight_decay * p
        m *= beta1
        m += (1.0 - beta1) * g
        tmp = xp.multiply(g, g)
        tmp *= 1.0 - beta2
        v *= beta2
        v += tmp
        if v_max is not None:
            v = xp.maximum(v_max, v, out=v_max)
        xp.sqrt(v, out=tmp)
        tmp /= math.sqrt(1.0 - beta2 ** step)
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= lr / (1.0 - beta1 ** step)
        p -= tmp


class _Compiled(Compiled):
    def sgd(self, p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, scaled):
        t = p.dtype.type
        self.loops.sgd(p, np.ascontiguousarray(g), p if buf is None else buf, t(lr),
                       t(momentum), t(1.0 - dampening), t(weight_decay), nesterov)
        return buf

    def adam(self, p, g, m, v, v_max, *, step, lr, beta1, beta2, eps, weight_decay,
             decoupled):
        t = p.dtype.type
        constants = (t(beta1), t(beta2), t(1.0 - beta1), t(1.0 - beta2), t(eps),
                     t(0.0 if decoupled else weight_decay),
                     t(1.0 - lr * weight_decay if decoupled else 1.0),
                     t(math.sqrt(1.0 - beta2 ** step)), t(lr / (1.0 - beta1 ** step)))
        g = np.ascontiguousarray(g)
        if v_max is None:
            self.loops.adam(p, g, m, v, *constants)
        else:
            self.loops.adam_amsgrad(p, g, m, v, v_max, *constants)


def _applies(p, *state):
    return p.size >= MIN_SIZE and all(s is not None for s in state) and \
        shared_layout(p, *state) == "C"


pick = Kernels(_Passes(), _Compiled, _applies, sgd=_sgd, adam=_adam,
               adam_amsgrad=_adam_amsgrad).pick
