"""Textbook rules for dense layers: Linear, elementwise activations, BatchNorm, Embedding,
and the ops that only move values (reshape, transpose, dropout).

Row convention (one sample per row, nn.Linear's W of shape (out, in)):

    z = a Wᵀ + b            ∂L/∂a = δ W,   ∇W = δᵀ a,   ∇b = Σₙ δ
    a = f(z)                ∂L/∂z = ∂L/∂a ⊙ f′(z)
    x̂ = (a − μ)/√(σ² + ε),  z = γ ⊙ x̂ + β     (BatchNorm, statistics over the batch)
        ∂L/∂a = γ/√(σ² + ε) ⊙ (δ − mean(δ) − x̂ ⊙ mean(δ ⊙ x̂)),  ∇γ = Σ δ ⊙ x̂,  ∇β = Σ δ
"""
from __future__ import annotations

import math

import numpy as np

from .record import Quantity
from .rules import Rule, paren


def _rows(a):
    return a.reshape(-1, a.shape[-1])


class Linear(Rule):
    param_symbols = {1: "W", 2: "b"}

    def forward(self, r, n):
        s, W = n.s, r.values[1]
        z = r.x @ W.T
        eq = f"{n.out} = {n.inp} W{s}ᵀ"
        if len(r.values) > 2:
            z = z + r.values[2]
            eq += f" + b{s}"
        return self.params(r, n) + [self.checked(n.out, eq, r.y, z, "forward")]

    def input_grad(self, r, n):
        W = r.values[1]
        return f"{{g}} W{n.s}", lambda g: g @ W

    def backward(self, r, n):
        d, a = _rows(r.g), _rows(r.x)
        out = [self.param_grad(r, 1, n, f"{n.g_out}ᵀ {n.inp}", d.T @ a)]
        if len(r.values) > 2:
            out.append(self.param_grad(r, 2, n, f"Σₙ {n.g_out}", d.sum(axis=0)))
        return [q for q in out if q is not None]


# --------------------------------------------------------------------------- activations
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _phi(z):
    """Φ(z) and φ(z) of the standard normal."""
    return 0.5 * (1 + _ERF(z / math.sqrt(2))), np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


class Elementwise(Rule):
    """a = f(z); ∂L/∂z = ∂L/∂a ⊙ f′(z). Subclasses give f, f′ (from z, a and the options)."""

    elementwise = True
    name = ""

    def f(self, r, z):
        raise NotImplementedError

    def derivative(self, r, z, a):
        raise NotImplementedError

    def forward(self, r, n):
        return [self.checked(n.out, f"{n.out} = {self.name}({n.inp})", r.y, self.f(r, r.x),
                             "forward")]

    def input_grad(self, r, n):
        z, a = r.x, r.y
        return (f"{{g}} ⊙ {self.name}′({n.inp})",
                lambda g: g * self.derivative(r, z, a))


class ReLU(Elementwise):
    name = "relu"

    def f(self, r, z):
        return np.maximum(z, 0)

    def derivative(self, r, z, a):
        return (z > 0).astype(z.dtype)


class LeakyReLU(Elementwise):
    name = "leaky_relu"

    def f(self, r, z):
        return np.where(z > 0, z, z * r.saved["slope"])

    def derivative(self, r, z, a):
        return np.where(z > 0, 1.0, r.saved["slope"])


class Sigmoid(Elementwise):
    name = "σ"

    def f(self, r, z):
        return _sigmoid(z)

    def derivative(self, r, z, a):
        return a * (1 - a)


class Tanh(Elementwise):
    name = "tanh"

    def f(self, r, z):
        return np.tanh(z)

    def derivative(self, r, z, a):
        return 1 - a * a


class SiLU(Elementwise):
    name = "silu"

    def f(self, r, z):
        return z * _sigmoid(z)

    def derivative(self, r, z, a):
        s = _sigmoid(z)
        return s * (1 + z * (1 - s))


class GELU(Elementwise):
    name = "gelu"
    _C = math.sqrt(2 / math.pi)

    def f(self, r, z):
        if r.saved.get("approximate") == "tanh":
            return 0.5 * z * (1 + np.tanh(self._C * (z + 0.044715 * z ** 3)))
        return z * _phi(z)[0]

    def derivative(self, r, z, a):
        if r.saved.get("approximate") == "tanh":
            t = np.tanh(self._C * (z + 0.044715 * z ** 3))
            return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * self._C * (1 + 3 * 0.044715 * z * z)
        cdf, pdf = _phi(z)
        return cdf + z * pdf


# ------------------------------------------------------------------------ moving values
class Reshape(Rule):
    def forward(self, r, n):
        return [self.checked(n.out, f"{n.out} = reshape({n.inp}, {tuple(r.y.shape)})", r.y,
                             r.x.reshape(r.y.shape), "forward")]

    def input_grad(self, r, n):
        shape = r.x.shape
        return f"reshape({{g}}, {tuple(shape)})", lambda g: g.reshape(shape)


class Permute(Rule):
    def forward(self, r, n):
        dims = tuple(int(d) for d in np.argsort(r.saved["inverse"]))
        return [self.checked(n.out, f"{n.out} = transpose({n.inp}, {dims})", r.y,
                             r.x.transpose(dims), "forward")]

    def input_grad(self, r, n):
        inverse = tuple(int(d) for d in r.saved["inverse"])
        return f"transpose({{g}}, {inverse})", lambda g: g.transpose(inverse)


class Dropout(Rule):
    """y = x ⊙ m, m = [u ≥ p]/(1 − p) drawn for this pass."""

    def forward(self, r, n):
        m = r.saved["mask"]
        kept = float(np.mean(m != 0))
        return [Quantity(f"m{n.s}", f"m{n.s} = [u ≥ p]/(1 − p)  (dropout mask, "
                         f"{100 * kept:.0f}% kept)", np.broadcast_to(m, r.x.shape)),
                self.checked(n.out, f"{n.out} = {n.inp} ⊙ m{n.s}", r.y, r.x * m, "forward")]

    def input_grad(self, r, n):
        m = r.saved["mask"]
        return f"{{g}} ⊙ m{n.s}", lambda g: g * m


# ------------------------------------------------------------------------ normalisation
class BatchNorm(Rule):
    """Training mode: batch statistics over every axis but the channels (axis 1);
    evaluation: the running statistics (a per-channel affine map)."""

    def _positions(self, r):
        w = 1 if r.saved["has_weight"] else None
        b = (1 + int(r.saved["has_weight"])) if r.saved["has_bias"] else None
        return w, b

    def symbol(self, r, k, n):
        w, _ = self._positions(r)
        return f"{'γ' if k == w else 'β'}{n.s}"

    def _stats(self, r):
        x, axes = r.x, (0,) + tuple(range(2, r.x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m = r.module_obj
        eps = float(getattr(m, "eps", 1e-5))
        if r.saved["training"]:
            mu = x.mean(axis=axes, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
        else:
            mu = np.asarray(m.running_mean.data, dtype=np.float64).reshape(shape)
            var = np.asarray(m.running_var.data, dtype=np.float64).reshape(shape)
        return mu, var, eps, axes, shape

    def supported(self, r):
        if not r.saved["training"] and getattr(r.module_obj, "running_mean", None) is None:
            return "evaluation mode without the module's running statistics"
        return None

    def _affine(self, r, shape):
        w, b = self._positions(r)
        gamma = r.values[w].reshape(shape) if w else 1.0
        beta = r.values[b].reshape(shape) if b else 0.0
        return gamma, beta

    def forward(self, r, n):
        s = n.s
        mu, var, eps, axes, shape = self._stats(r)
        xhat = (r.x - mu) / np.sqrt(var + eps)
        gamma, beta = self._affine(r, shape)
        where = "batch" if r.saved["training"] else "running"
        w, b = self._positions(r)
        eq = f"{n.out} = " + (f"γ{s} ⊙ " if w else "") + f"x̂{s}" + (f" + β{s}" if b else "")
        return self.params(r, n) + [
            Quantity(f"μ{s}", f"μ{s} = mean of {n.inp} per channel ({where} statistics)",
                     mu.reshape(-1)),
            Quantity(f"σ²{s}", f"σ²{s} = variance of {n.inp} per channel ({where}, ε = {eps:g})",
                     var.reshape(-1)),
            Quantity(f"x̂{s}", f"x̂{s} = ({n.inp} − μ{s}) / √(σ²{s} + ε)", xhat),
            self.checked(n.out, eq, r.y, gamma * xhat + beta, "forward")]

    def input_grad(self, r, n):
        s = n.s
        mu, var, eps, axes, shape = self._stats(r)
        inv = 1 / np.sqrt(var + eps)
        xhat = (r.x - mu) * inv
        gamma, _ = self._affine(r, shape)
        g_text = f"γ{s}" if self._positions(r)[0] else "1"
        if not r.saved["training"]:
            return f"{{g}} ⊙ {g_text}/√(σ²{s} + ε)", lambda g: g * gamma * inv

        def fn(g):
            mean_g = g.mean(axis=axes, keepdims=True)
            mean_gx = (g * xhat).mean(axis=axes, keepdims=True)
            return gamma * inv * (g - mean_g - xhat * mean_gx)
        return (f"{g_text}/√(σ²{s} + ε) ⊙ ({{g}} − mean({{g}}) − x̂{s} ⊙ mean({{g}} ⊙ x̂{s}))",
                fn)

    def backward(self, r, n):
        mu, var, eps, axes, shape = self._stats(r)
        xhat = (r.x - mu) / np.sqrt(var + eps)
        w, b = self._positions(r)
        d = r.g
        out = []
        if w:
            out.append(self.param_grad(r, w, n, f"Σ {n.g_out} ⊙ x̂{n.s}",
                                       (d * xhat).sum(axis=axes)))
        if b:
            out.append(self.param_grad(r, b, n, f"Σ {n.g_out}", d.sum(axis=axes)))
        return [q for q in out if q is not None]


class Embedding(Rule):
    """z[k] = E[x[k]] (a table lookup); ∇E[i] = Σ_{k: x[k] = i} δ[k]."""

    param_symbols = {0: "E"}

    def forward(self, r, n):
        E, index = r.values[0], r.x.astype(np.int64)
        return self.params(r, n) + [self.checked(n.out, f"{n.out} = E{n.s}[{n.inp}]", r.y,
                                                 E[index], "forward")]

    def backward(self, r, n):
        E, index = r.values[0], r.x.astype(np.int64).reshape(-1)
        rows = _rows(r.g)
        grad = np.zeros_like(E)
        np.add.at(grad, index, rows)
        if r.saved.get("scale"):
            grad /= np.maximum(np.bincount(index, minlength=len(E)), 1)[:, None]
        if r.saved.get("padding_idx") is not None:
            grad[r.saved["padding_idx"]] = 0
        q = self.param_grad(r, 0, n, f"Σ of the rows of {n.g_out} that read each row of E",
                            grad)
        return [q] if q is not None else []


RULES = {"Linear": Linear(), "ReLU": ReLU(), "LeakyReLU": LeakyReLU(), "Sigmoid": Sigmoid(),
         "Tanh": Tanh(), "SiLU": SiLU(), "GELU": GELU(), "Reshape": Reshape(),
         "Permute": Permute(), "Dropout": Dropout(), "BatchNorm": BatchNorm(),
         "Embedding": Embedding()}

__all__ = ["RULES", "paren"]
