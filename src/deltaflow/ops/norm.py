"""Normalisation layers as fused ops with the closed-form backward.

Both normalise x̂ = (x − μ)/√(σ² + ε) and apply an optional affine map y = γ·x̂ + β;
``has_weight`` / ``has_bias`` say which of γ, β follow x among the inputs.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of
from . import layer_norm_kernels
from .layer_norm_kernels import affine


def _channel_shape(ndim):
    """Broadcast shape for a per-channel (axis 1) vector: (1, C, 1, ...)."""
    return (1, -1) + (1,) * (ndim - 2)


class BatchNorm(Function):
    """Batch normalisation over every axis but the channel axis 1 (M values per channel).

    Training (batch statistics, σ² biased):  x̂ = (x − μ_B)/√(σ²_B + ε),  y = γx̂ + β;
    ∂L/∂β = Σg,  ∂L/∂γ = Σg·x̂,  ∂L/∂x = γ/√(σ²_B + ε) · (g − ∂L/∂β/M − x̂·∂L/∂γ/M).
    When ``running_mean``/``running_var`` arrays are given they are updated in place:
    r ← (1 − m)·r + m·stat, with the unbiased variance σ²_B·M/(M − 1).
    Evaluation (``training=False``) uses the given running statistics, a per-channel affine
    map:  ∂L/∂x = g·γ/√(σ² + ε)."""

    name = "batch_norm"

    def forward(self, x, *params, has_weight=True, has_bias=True, training=True,
                running_mean=None, running_var=None, momentum=0.1, eps=1e-5):
        xp = xp_of(x)
        axes = (0,) + tuple(range(2, x.ndim))
        cs = _channel_shape(x.ndim)
        m = x.size // x.shape[1]
        if training:
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = (xc * xc).mean(axis=axes, keepdims=True)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean.reshape(-1).astype(running_mean.dtype)
            if running_var is not None:
                unbiased = var.reshape(-1) * (m / max(m - 1, 1))
                running_var *= 1 - momentum
                running_var += momentum * unbiased.astype(running_var.dtype)
        else:
            xc = x - running_mean.reshape(cs).astype(x.dtype, copy=False)
            var = running_var.reshape(cs).astype(x.dtype, copy=False)
        inv_std = 1.0 / xp.sqrt(var + eps)
        xhat = xc
        xhat *= inv_std
        weight = params[0].reshape(cs) if has_weight else None
        bias = params[has_weight].reshape(cs) if has_bias else None
        y = affine(xhat, weight, bias)
        self.xhat, self.inv_std, self.weight, self.axes, self.m = xhat, inv_std, weight, axes, m
        self.has_weight, self.has_bias, self.training = has_weight, has_bias, training
        self.eps = eps
        return y

    def backward(self, g):
        need = self.needs_input_grad
        xhat, axes = self.xhat, self.axes
        gb = g.sum(axis=axes, keepdims=True)
        gw = (g * xhat).sum(axis=axes, keepdims=True)
        gx = None
        if need[0]:
            scale = self.inv_std if self.weight is None else self.weight * self.inv_std
            if self.training:
                gx = g - gb * (1.0 / self.m)
                gx -= xhat * (gw * (1.0 / self.m))
                gx *= scale
            else:
                gx = g * scale
        grads = [gx]
        if self.has_weight:
            grads.append(gw.reshape(-1) if need[1] else None)
        if self.has_bias:
            grads.append(gb.reshape(-1) if need[len(grads)] else None)
        return tuple(grads)

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of y = γx̂ + β recomputed on Tensors, x̂ from
        the batch statistics (training) or, in evaluation, x̂ = x̂₀ + (x − x₀)/√(σ² + ε) (x₀,
        x̂₀ the forward's values: exact, x̂ is affine in x there)."""
        has_weight, has_bias = self.has_weight, self.has_bias
        if self.training:
            axes, eps = self.axes, self.eps
            normalize = lambda x: batch_statistics_xhat(x, axes, eps)  # noqa: E731
        else:
            xhat0, inv_std = self.xhat, self.inv_std
            normalize = lambda x: (x - x.detach()) * inv_std + xhat0  # noqa: E731

        def formula(x, *params):
            return channel_affine(normalize(x), params[0] if has_weight else None,
                                  params[has_weight] if has_bias else None)

        return self.recompute_backward(formula, g)


def batch_statistics_xhat(x, axes, eps):
    """x̂ = (x − μ)/√(σ² + ε) over ``axes`` (σ² biased) on Tensors, differentiable."""
    xp = xp_of(x)
    xc = x - xp.mean(x, axis=axes, keepdims=True)
    return xc / xp.sqrt(xp.mean(xc * xc, axis=axes, keepdims=True) + eps)


def channel_affine(xhat, weight, bias):
    """γ_c·x̂ + β_c on Tensors for per-channel (axis 1) γ, β (either may be None)."""
    xp = xp_of(xhat)
    cs = _channel_shape(xhat.ndim)
    y = xhat if weight is None else xhat * xp.reshape(weight, cs)
    return y if bias is None else y + xp.reshape(bias, cs)


class LayerNorm(Function):
    """Layer normalisation over the last k axes (K values per row):
    x̂ = (x − μ)/√(σ² + ε),  y = γx̂ + β (γ, β of the normalised shape);
    ∂L/∂x = 1/√(σ² + ε) · (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = γ·g (means over the k axes),
    ∂L/∂γ = Σ_rows g·x̂,  ∂L/∂β = Σ_rows g.

    The input is viewed as (rows, K); :mod:`deltaflow.ops.layer_norm_kernels` computes
    forward and backward on those rows, as row-fused compiled loops or as NumPy/CuPy passes
    (BLAS matrix-vector products for the per-row means and the sums over rows)."""

    name = "layer_norm"

    def forward(self, x, *params, n_axes=1, has_weight=True, has_bias=True, eps=1e-5):
        k = 1
        for n in x.shape[x.ndim - n_axes:]:
            k *= n
        rows = x.reshape(-1, k)
        weight = params[0].reshape(k) if has_weight else None
        bias = params[has_weight].reshape(k) if has_bias else None
        kernels = layer_norm_kernels.pick(rows, (weight, bias))
        y, self.xhat, self.inv_std = kernels.forward(rows, weight, bias, eps)
        self.weight, self.has_weight, self.has_bias, self.eps = weight, has_weight, has_bias, eps
        self.shape, self.param_shape = x.shape, x.shape[x.ndim - n_axes:]
        return y.reshape(x.shape)

    def backward(self, g):
        need = self.needs_input_grad
        xhat = self.xhat
        g = g.reshape(xhat.shape)
        param_grads = (self.has_weight and need[1]) or (self.has_bias and need[-1])
        kernels = layer_norm_kernels.pick(g, (self.weight,), xhat)
        gx, gw, gb = kernels.backward(g, xhat, self.inv_std, self.weight, need[0], param_grads)
        grads = [None if gx is None else gx.reshape(self.shape)]
        if self.has_weight:
            grads.append(gw.reshape(self.param_shape) if need[1] else None)
        if self.has_bias:
            grads.append(gb.reshape(self.param_shape) if need[-1] else None)
        return tuple(grads)

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of y = γ·(x − μ)/√(σ² + ε) + β over the last
        k axes, recomputed on Tensors."""
        axes = tuple(range(len(self.shape) - len(self.param_shape), len(self.shape)))
        has_weight, has_bias, eps = self.has_weight, self.has_bias, self.eps

        def formula(x, *params):
            y = batch_statistics_xhat(x, axes, eps)
            if has_weight:
                y = y * params[0]
            return y + params[has_weight] if has_bias else y

        return self.recompute_backward(formula, g)


class RMSNorm(Function):
    """Root-mean-square normalisation over the last k axes (K values per row):
    r = 1/√(mean(x²) + ε),  x̂ = x·r,  y = γ·x̂ (γ of the normalised shape, optional);
    ∂L/∂x = r·(ĝ − x̂·mean(ĝ·x̂)) with ĝ = γ·g (means over the k axes),  ∂L/∂γ = Σ_rows g·x̂."""

    name = "rms_norm"

    def forward(self, x, *params, n_axes=1, has_weight=True, eps=1e-6):
        k = 1
        for n in x.shape[x.ndim - n_axes:]:
            k *= n
        rows = x.reshape(-1, k)
        inv_rms = 1.0 / xp_of(x).sqrt((rows * rows).mean(axis=1, keepdims=True) + eps)
        xhat = rows * inv_rms
        weight = params[0].reshape(k) if has_weight else None
        self.xhat, self.inv_rms, self.weight, self.eps = xhat, inv_rms, weight, eps
        self.shape, self.param_shape = x.shape, x.shape[x.ndim - n_axes:]
        return (xhat if weight is None else xhat * weight).reshape(x.shape)

    def backward(self, g):
        need = self.needs_input_grad
        xhat, weight = self.xhat, self.weight
        g = g.reshape(xhat.shape)
        gx = None
        if need[0]:
            g_hat = g if weight is None else g * weight
            gx = g_hat - xhat * (g_hat * xhat).mean(axis=1, keepdims=True)
            gx *= self.inv_rms
            gx = gx.reshape(self.shape)
        if weight is None:
            return gx
        gw = (g * xhat).sum(axis=0).reshape(self.param_shape) if need[1] else None
        return gx, gw

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of y = γ·x/√(mean(x²) + ε) over the last k
        axes, recomputed on Tensors."""
        axes = tuple(range(len(self.shape) - len(self.param_shape), len(self.shape)))
        eps = self.eps

        def formula(x, *weight):
            xp = xp_of(x)
            y = x / xp.sqrt(xp.mean(x * x, axis=axes, keepdims=True) + eps)
            return y * weight[0] if weight else y

        return self.recompute_backward(formula, g)
