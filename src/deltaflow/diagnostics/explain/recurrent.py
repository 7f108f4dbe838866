"""Backpropagation through time, step by step, for the fused RNN and LSTM layer ops.

A recurrent layer is ONE recorded op (:mod:`deltaflow.ops.recurrent`): its per-step values
live inside it. explain writes the layer out over time (column form, xₜ and hₜ vectors):

    RNN    zₜ = W hₜ₋₁ + U xₜ + b,  hₜ = f(zₜ)
           δₜ = ∂L/∂hₜ = Wᵀ(δₜ₊₁ ⊙ f′(zₜ₊₁)) + ∂L/∂hₜ (direct: from the layer above)
           ∇W = Σₜ (δₜ ⊙ f′(zₜ)) hₜ₋₁ᵀ,  ∇U = Σₜ (δₜ ⊙ f′(zₜ)) xₜᵀ,  ∇b = Σₜ δₜ ⊙ f′(zₜ)
    LSTM   [i f g o]ₜ = [σ σ tanh σ](zₜ),  cₜ = fₜ ⊙ cₜ₋₁ + iₜ ⊙ gₜ,  hₜ = oₜ ⊙ tanh(cₜ)
           δʰₜ = Wᵀ δzₜ₊₁ + ∂L/∂hₜ
           δᶜₜ = δʰₜ ⊙ oₜ ⊙ (1 − tanh² cₜ) + δᶜₜ₊₁ ⊙ fₜ₊₁     ← the cell path: only ⊙ f
           δzₜ = [δᶜₜ ⊙ gₜ ⊙ iₜ(1 − iₜ), δᶜₜ ⊙ cₜ₋₁ ⊙ fₜ(1 − fₜ), δᶜₜ ⊙ iₜ ⊙ (1 − gₜ²),
                  δʰₜ ⊙ tanh(cₜ) ⊙ oₜ(1 − oₜ)]

The printed per-step values (zₜ, the gates, cₜ, δₜ ...) come from the same layer unrolled into
per-step deltaflow ops (autograd records each step; the fused op keeps them inside), hₜ from
the fused op itself; every equation is recomputed in NumPy from the printed numbers, the
per-step ones against the unrolled autograd, ∇W, ∇U, ∇b and ∂L/∂x against the fused op's
autograd. With batch rows, ``W hₜ₋₁`` is computed as ``hₜ₋₁ Wᵀ``.
"""
from __future__ import annotations

import numpy as np

from .record import Quantity
from .rules import Rule, sub

#: the last steps shown equation by equation (‖δₜ‖ is shown for every step)
STEPS = 8


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _norms(ds):
    return np.array([float(np.linalg.norm(d)) for d in ds])


def _trend(norms, what) -> str:
    if len(norms) < 2 or norms[-1] == 0:
        return ""
    ratio = norms[0] / norms[-1]
    kind = ("vanishing" if ratio < 0.1 else "exploding" if ratio > 10
            else "kept alive (within ×10)")
    return (f"‖{what}₁‖/‖{what}_T‖ = {ratio:.3g} over {len(norms)} steps: {kind} "
            f"(×{ratio ** (1 / (len(norms) - 1)):.3g} per step back in time)")


class _Recurrent(Rule):
    out_stem, grad_stem = "h", "∂L/∂h"
    first_weight = 2                       # position of W_ih among the parents

    def supported(self, r):
        if r.saved.get("reverse"):
            return "a reverse-direction layer (bidirectional)"
        return None

    @property
    def param_symbols(self):
        k = self.first_weight
        return {k: "U", k + 1: "W", k + 2: "b_ih", k + 3: "b_hh"}

    def weights(self, r):
        k = self.first_weight
        U, W = r.values[k], r.values[k + 1]
        b = r.values[k + 2] + r.values[k + 3] if len(r.values) > k + 2 else 0.0
        return U, W, b

    def window(self, T):
        return range(max(1, T - STEPS + 1), T + 1)

    def direct(self, r, t, T):
        """∂L/∂hₜ from the layer above (and from h_T itself when the model reads it)."""
        g = r.out_grads[0][t - 1]
        return g + r.out_grads[1] if t == T and 1 in r.out_grads else g

    def state_note(self, r, t0, T) -> str:
        """What the printed steps are: the fused op records no step, so they come from the
        unrolled layer; with more than :data:`STEPS` steps, the first ones are folded into
        the state shown."""
        note = (f"{r.kind} is one fused op that autograd records whole: the per-step values "
                "below come from the same layer unrolled step by step, checked against it")
        if t0:
            note += (f"; steps 1 … {t0} of {T} are not written out (only the last {STEPS}), "
                     "‖δₜ‖ covers every step")
        return note

    def bias_text(self, r, s):
        return f" + b_ih{s} + b_hh{s}" if len(r.values) > self.first_weight + 2 else ""

    def param_grads(self, r, n, dz, hs_prev):
        """∇U, ∇W, ∇b from the gate gradients dz (T, B, G·H) of every step."""
        x = r.x
        k, s = self.first_weight, n.s
        dzt = "δzₜ" if self.gated else f"(δₜ ⊙ {self.f_name(r)}′(zₜ))"
        out = [self.param_grad(r, k, n, f"Σₜ {dzt}ᵀ xₜ",
                               np.einsum("tbg,tbi->gi", dz, x)),
               self.param_grad(r, k + 1, n, f"Σₜ {dzt}ᵀ hₜ₋₁",
                               np.einsum("tbg,tbh->gh", dz, hs_prev))]
        if len(r.values) > k + 2:
            for j in (k + 2, k + 3):
                out.append(self.param_grad(r, j, n, f"Σₜ Σₙ {dzt}", dz.sum(axis=(0, 1))))
        if r.grads[1] is not None:
            W = r.values[k + 1]
            out.append(self.checked(f"∂L/∂h₀{s}", f"∂L/∂h₀ = Wᵀ {dzt.replace('ₜ', '₁')}",
                                    r.grads[1], dz[0] @ W))
        return [q for q in out if q is not None]


class RNNLayer(_Recurrent):
    gated = False

    def f_name(self, r):
        return "relu" if r.saved.get("relu") else "tanh"

    def fprime(self, r, h):
        return (h > 0).astype(h.dtype) if r.saved.get("relu") else 1 - h * h

    def unrolled(self, r):
        """zₜ, hₜ and autograd's δₜ = ∂L/∂hₜ of the layer unrolled into per-step ops."""
        from ...tensor import Tensor
        x, h0 = r.x, r.values[1]
        ws = [Tensor(v, requires_grad=True) for v in r.values[2:]]
        U, W = ws[0], ws[1]
        h, zs, hs, S = Tensor(h0), [], [], None
        for t in range(len(x)):
            z = Tensor(x[t]) @ U.T + h @ W.T
            if len(ws) > 2:
                z = z + ws[2] + ws[3]
            h = z.relu() if r.saved.get("relu") else z.tanh()
            h.retain_grad()
            zs.append(z)
            hs.append(h)
            term = (h * Tensor(self.direct(r, t + 1, len(x)))).sum()
            S = term if S is None else S + term
        S.backward()
        return [z.data for z in zs], [h.grad.data for h in hs]

    def forward(self, r, n):
        s, f = n.s, self.f_name(r)
        U, W, b = self.weights(r)
        T = len(r.x)
        zs, _ = self.unrolled(r)
        hs = [r.values[1]] + list(r.y)
        steps = self.window(T)
        out = self.params(r, n)
        t0 = steps[0] - 1
        out.append(Quantity(f"h{sub(t0)}{s}", f"h{sub(t0)}" + (
            "  (initial state)" if t0 == 0 else f"  (state after step {t0})"), hs[t0],
            note=self.state_note(r, t0, T)))
        for t in steps:
            ts, tp = sub(t), sub(t - 1)
            out.append(self.checked(
                f"z{ts}{s}", f"z{ts} = W{s} h{tp} + U{s} x{ts}" + self.bias_text(r, s),
                zs[t - 1], hs[t - 1] @ W.T + r.x[t - 1] @ U.T + b, "forward"))
            h_re = np.maximum(zs[t - 1], 0) if f == "relu" else np.tanh(zs[t - 1])
            out.append(self.checked(f"h{ts}{s}", f"h{ts} = {f}(z{ts})", r.y[t - 1], h_re,
                                    "forward"))
        return out

    def backward(self, r, n):
        s, f = n.s, self.f_name(r)
        _, W, _ = self.weights(r)
        T = len(r.x)
        _, deltas = self.unrolled(r)
        fp = [self.fprime(r, h) for h in r.y]
        out = []
        for t in reversed(self.window(T)):
            ts, tn = sub(t), sub(t + 1)
            if t == T:
                eq, re = f"δ{ts} = ∂L/∂h{ts} (direct)", self.direct(r, t, T)
            else:
                eq = f"δ{ts} = W{s}ᵀ(δ{tn} ⊙ {f}′(z{tn})) + ∂L/∂h{ts} (direct)"
                re = (deltas[t] * fp[t]) @ W + self.direct(r, t, T)
            out.append(self.checked(f"δ{ts}{s}", eq, deltas[t - 1], re))
        norms = _norms(deltas)
        out.append(Quantity(f"‖δₜ‖{s}", "‖δₜ‖ for t = 1 … T", norms, note=_trend(norms, "δ")))
        dz = np.stack([d * p for d, p in zip(deltas, fp)])
        hs_prev = np.concatenate([r.values[1][None], r.y[:-1]])
        return out + self.param_grads(r, n, dz, hs_prev)

    def input_grad(self, r, n):
        U, W, _ = self.weights(r)
        fp = self.fprime(r, r.y)
        T = len(r.x)

        def fn(g):
            carry, dx = 0.0, np.zeros_like(r.x)
            for t in range(T, 0, -1):
                d = g[t - 1] + (r.out_grads[1] if t == T and 1 in r.out_grads else 0) + carry
                dz = d * fp[t - 1]
                dx[t - 1] = dz @ U
                carry = dz @ W
            return dx
        return (f"(δₜ ⊙ {self.f_name(r)}′(zₜ)) U{n.s} at every step t  (δₜ by BPTT from {{g}})", fn)


class LSTMLayer(_Recurrent):
    gated = True
    first_weight = 3

    def direct_c(self, r, t, T):
        return r.out_grads[2] if t == T and 2 in r.out_grads else 0.0

    def unrolled(self, r):
        """Per step: z, the gates [i f g o], c, h and autograd's ∂L/∂h, ∂L/∂c, ∂L/∂z."""
        from ...tensor import Tensor
        x, h0, c0 = r.x, r.values[1], r.values[2]
        ws = [Tensor(v, requires_grad=True) for v in r.values[3:]]
        U, W = ws[0], ws[1]
        H = h0.shape[-1]
        h, c, rows, S = Tensor(h0), Tensor(c0), [], None
        T = len(x)
        for t in range(T):
            z = Tensor(x[t]) @ U.T + h @ W.T
            if len(ws) > 2:
                z = z + ws[2] + ws[3]
            z.retain_grad()
            i, f = z[:, :H].sigmoid(), z[:, H:2 * H].sigmoid()
            g, o = z[:, 2 * H:3 * H].tanh(), z[:, 3 * H:].sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            c.retain_grad()
            h.retain_grad()
            rows.append((z, (i, f, g, o), c, h))
            term = (h * Tensor(self.direct(r, t + 1, T))).sum()
            S = term if S is None else S + term
        S = S + (c * Tensor(np.asarray(self.direct_c(r, T, T)) + np.zeros_like(c0))).sum()
        S.backward()
        return [{"z": z.data, "gates": np.concatenate([q.data for q in gates], axis=-1),
                 "c": c.data, "dz": z.grad.data, "dh": h.grad.data, "dc": c.grad.data}
                for z, gates, c, h in rows]

    def forward(self, r, n):
        s = n.s
        U, W, b = self.weights(r)
        T, H = len(r.x), r.values[1].shape[-1]
        steps = self.unrolled(r)
        hs = [r.values[1]] + list(r.y)
        cs = [r.values[2]] + [st["c"] for st in steps]
        out = self.params(r, n)
        shown = self.window(T)
        t0 = shown[0] - 1
        which = "  (initial state)" if t0 == 0 else f"  (state after step {t0})"
        out += [Quantity(f"h{sub(t0)}{s}", f"h{sub(t0)}{which}", hs[t0],
                         note=self.state_note(r, t0, T)),
                Quantity(f"c{sub(t0)}{s}", f"c{sub(t0)}{which}", cs[t0])]
        for t in shown:
            ts, tp = sub(t), sub(t - 1)
            st = steps[t - 1]
            z = st["z"]
            out.append(self.checked(
                f"z{ts}{s}", f"z{ts} = W{s} h{tp} + U{s} x{ts}" + self.bias_text(r, s), z,
                hs[t - 1] @ W.T + r.x[t - 1] @ U.T + b, "forward"))
            gates = np.concatenate([_sigmoid(z[:, :2 * H]), np.tanh(z[:, 2 * H:3 * H]),
                                    _sigmoid(z[:, 3 * H:])], axis=-1)
            out.append(self.checked(f"[i f g o]{ts}{s}", f"[i f g o]{ts} = [σ σ tanh σ](z{ts})",
                                    st["gates"], gates, "forward"))
            i, f, g, o = np.split(st["gates"], 4, axis=-1)
            out.append(self.checked(f"c{ts}{s}", f"c{ts} = f{ts} ⊙ c{tp} + i{ts} ⊙ g{ts}",
                                    st["c"], f * cs[t - 1] + i * g, "forward"))
            out.append(self.checked(f"h{ts}{s}", f"h{ts} = o{ts} ⊙ tanh(c{ts})", r.y[t - 1],
                                    o * np.tanh(st["c"]), "forward"))
        return out

    def backward(self, r, n):
        s = n.s
        _, W, _ = self.weights(r)
        T = len(r.x)
        steps = self.unrolled(r)
        cs = [r.values[2]] + [st["c"] for st in steps]
        out = []
        for t in reversed(self.window(T)):
            ts, tn = sub(t), sub(t + 1)
            st = steps[t - 1]
            i, f, g, o = np.split(st["gates"], 4, axis=-1)
            tc = np.tanh(st["c"])
            if t == T:
                eq_h, re_h = f"δʰ{ts} = ∂L/∂h{ts} (direct)", self.direct(r, t, T)
                eq_c = f"δᶜ{ts} = δʰ{ts} ⊙ o{ts} ⊙ (1 − tanh² c{ts})"
                re_c = st["dh"] * o * (1 - tc * tc) + self.direct_c(r, t, T)
            else:
                nxt = steps[t]
                f_next = np.split(nxt["gates"], 4, axis=-1)[1]
                eq_h = f"δʰ{ts} = W{s}ᵀ δz{tn} + ∂L/∂h{ts} (direct)"
                re_h = nxt["dz"] @ W + self.direct(r, t, T)
                eq_c = (f"δᶜ{ts} = δʰ{ts} ⊙ o{ts} ⊙ (1 − tanh² c{ts}) + δᶜ{tn} ⊙ f{tn}  "
                        "(the cell path)")
                re_c = st["dh"] * o * (1 - tc * tc) + nxt["dc"] * f_next
            dc, dh = st["dc"], st["dh"]
            re_z = np.concatenate([dc * g * i * (1 - i), dc * cs[t - 1] * f * (1 - f),
                                   dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1)
            out += [self.checked(f"δʰ{ts}{s}", eq_h, dh, re_h),
                    self.checked(f"δᶜ{ts}{s}", eq_c, dc, re_c),
                    self.checked(f"δz{ts}{s}", f"δz{ts} = [δᶜ{ts} ⊙ g{ts} ⊙ σ′(i), δᶜ{ts} ⊙ "
                                 f"c{sub(t - 1)} ⊙ σ′(f), δᶜ{ts} ⊙ i{ts} ⊙ tanh′(g), δʰ{ts} ⊙ "
                                 f"tanh(c{ts}) ⊙ σ′(o)]", st["dz"], re_z)]
        nh, nc = _norms([st["dh"] for st in steps]), _norms([st["dc"] for st in steps])
        f_mean = np.array([float(np.split(st["gates"], 4, axis=-1)[1].mean()) for st in steps])
        out += [Quantity(f"‖δʰₜ‖{s}", "‖δʰₜ‖ for t = 1 … T", nh, note=_trend(nh, "δʰ")),
                Quantity(f"‖δᶜₜ‖{s}", "‖δᶜₜ‖ for t = 1 … T", nc, note=_trend(nc, "δᶜ")),
                Quantity(f"mean fₜ{s}", "mean of the forget gate fₜ for t = 1 … T", f_mean,
                         note="the cell path multiplies δᶜ by fₜ₊₁ alone (no W, no "
                              "squashing derivative): with f near 1 it carries δ back")]
        dz = np.stack([st["dz"] for st in steps])
        hs_prev = np.concatenate([r.values[1][None], r.y[:-1]])
        return out + self.param_grads(r, n, dz, hs_prev)

    def input_grad(self, r, n):
        U, W, _ = self.weights(r)
        steps = self.unrolled(r)            # the forward values: gates and cells
        T = len(steps)

        def fn(g):
            dx, carry_h, carry_c = np.zeros_like(r.x), 0.0, self.direct_c(r, T, T)
            for t in range(T, 0, -1):
                st = steps[t - 1]
                i, f, gg, o = np.split(st["gates"], 4, axis=-1)
                c_prev = steps[t - 2]["c"] if t > 1 else r.values[2]
                tc = np.tanh(st["c"])
                dh = g[t - 1] + (r.out_grads[1] if t == T and 1 in r.out_grads else 0.0) \
                    + carry_h
                dc = dh * o * (1 - tc * tc) + carry_c
                dz = np.concatenate([dc * gg * i * (1 - i), dc * c_prev * f * (1 - f),
                                     dc * i * (1 - gg * gg), dh * tc * o * (1 - o)], axis=-1)
                dx[t - 1] = dz @ U
                carry_h, carry_c = dz @ W, dc * f
            return dx
        return f"δzₜ U{n.s} at every step t  (δz by BPTT from {{g}})", fn


RULES = {"RNNLayer": RNNLayer(), "LSTMLayer": LSTMLayer()}

__all__ = ["RULES", "STEPS"]
