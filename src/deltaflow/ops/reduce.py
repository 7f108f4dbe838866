"""Reductions over ``dim`` (an int, a tuple of ints, or ``None`` for all), with ``keepdim``."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of


def _expand_back(g, in_shape, dim, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if dim is None:
        return g.reshape((1,) * len(in_shape)) if len(in_shape) else g
    if not keepdim:
        xp = xp_of(g)
        axes = dim if isinstance(dim, tuple) else (dim,)
        g = xp.expand_dims(g, tuple(sorted(a % len(in_shape) for a in axes)))
    return g


class Sum(Function):
    """y = Σ x over dim;  ∂y/∂xᵢ = 1 (the gradient is broadcast back)."""

    def forward(self, x, dim=None, keepdim=False):
        self.shape, self.dim, self.keepdim = x.shape, dim, keepdim
        return x.sum(axis=dim, keepdims=keepdim)

    def backward(self, g):
        xp = xp_of(g)
        return xp.broadcast_to(_expand_back(g, self.shape, self.dim, self.keepdim), self.shape)


class Mean(Function):
    """y = (1/N) Σ x over dim;  ∂y/∂xᵢ = 1/N."""

    def forward(self, x, dim=None, keepdim=False):
        self.shape, self.dim, self.keepdim = x.shape, dim, keepdim
        out = x.mean(axis=dim, keepdims=keepdim)
        self.n = x.size // max(out.size, 1) if x.size else 1
        return out

    def backward(self, g):
        xp = xp_of(g)
        g = _expand_back(g, self.shape, self.dim, self.keepdim) * (1.0 / self.n)
        return xp.broadcast_to(g, self.shape)


class Prod(Function):
    """y = Π x over one dim (or all);  ∂y/∂xᵢ = Π_{j≠i} xⱼ (exact also when some xⱼ = 0)."""

    def forward(self, x, dim=None, keepdim=False):
        self.x, self.dim, self.keepdim = x, dim, keepdim
        return x.prod(axis=dim, keepdims=keepdim)

    def backward(self, g):
        xp = xp_of(g)
        x, dim = self.x, self.dim
        flat = x.reshape(-1) if dim is None else x
        axis = 0 if dim is None else dim
        lead = (slice(None),) * axis
        ones = xp.ones_like(flat[lead + (slice(0, 1),)])

        def exclusive_cumprod(a):  # Π_{j<i} aⱼ
            return xp.cumprod(xp.concatenate([ones, a[lead + (slice(None, -1),)]], axis=axis),
                              axis=axis)

        left = exclusive_cumprod(flat)
        right = xp.flip(exclusive_cumprod(xp.flip(flat, axis=axis)), axis=axis)
        others = (left * right).reshape(x.shape)
        return _expand_back(g, x.shape, dim, self.keepdim) * others


class MaxDim(Function):
    """y = x at ``index`` (the arg-max/arg-min found by the caller) along one dim;
    ∂L/∂x puts ∂L/∂y at that index, 0 elsewhere."""

    name = "max"

    def forward(self, x, dim, keepdim=False, index=None):
        xp = xp_of(x)
        idx_k = xp.expand_dims(index, dim)
        values = xp.take_along_axis(x, idx_k, axis=dim)
        self.shape, self.dim, self.idx, self.keepdim = x.shape, dim, idx_k, keepdim
        return values if keepdim else values.squeeze(dim)

    def backward(self, g):
        xp = xp_of(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if not self.keepdim:
            g = xp.expand_dims(g, self.dim)
        xp.put_along_axis(out, self.idx, g, axis=self.dim)
        return out

    def backward_graph(self, g):
        def values_at_index(x):   # recomputed with take_along_dim, which records
            values = xp_of(x).take_along_axis(x, self.idx, self.dim)
            return values if self.keepdim else values.squeeze(self.dim)
        return self.recompute_backward(values_at_index, g)


class Amax(Function):
    """y = max x over dim;  ∂y/∂xᵢ = 1/k for each of the k maximal elements (ties split)."""

    def forward(self, x, dim=None, keepdim=False, mode="max"):
        out = x.max(axis=dim, keepdims=True) if mode == "max" else x.min(axis=dim, keepdims=True)
        self.x, self.out_k, self.dim, self.keepdim = x, out, dim, keepdim
        if keepdim:
            return out
        return out.reshape(()) if dim is None else out.squeeze(dim)

    def backward(self, g):
        xp = xp_of(g)
        mask = xp.asarray(self.x == self.out_k)
        count = xp.sum(mask, axis=self.dim, keepdims=True)
        return _expand_back(g, self.x.shape, self.dim, self.keepdim) * mask / count


class TiedValue(Function):
    """y = v, a value of x found by the caller (the median of all of x);
    ∂y/∂xᵢ = 1/k for each of the k elements equal to v (NaN: the k NaNs), as PyTorch."""

    name = "median"

    def forward(self, x, value):
        xp = xp_of(x)
        self.mask = xp.isnan(x) if xp.isnan(value) else x == value
        return value

    def backward(self, g):
        return g * self.mask / self.mask.sum()


class Var(Function):
    """v = Σ(x − x̄)²/(N − c) over dim;  ∂v/∂xᵢ = 2(xᵢ − x̄)/(N − c)."""

    def forward(self, x, dim=None, correction=1, keepdim=False):
        self.x, self.centered = x, x - x.mean(axis=dim, keepdims=True)
        n = x.size if dim is None else _count(x.shape, dim)
        self.denom = max(n - correction, 0)
        self.dim, self.keepdim, self.shape = dim, keepdim, x.shape
        return (self.centered ** 2).sum(axis=dim, keepdims=keepdim) / self.denom

    def recompute_saved(self, saved):
        x = saved["x"]
        saved["centered"] = x - xp_of(x).mean(x, axis=self.dim, keepdims=True)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.dim, self.keepdim)
        return g * self.centered * (2.0 / self.denom if self.denom else float("nan"))


class Std(Function):
    """s = √var(x);  ∂s/∂xᵢ = (xᵢ − x̄)/((N − c)·s), 0 where s = 0 (as PyTorch)."""

    def forward(self, x, dim=None, correction=1, keepdim=False):
        xp = xp_of(x)
        self.centered = x - x.mean(axis=dim, keepdims=True)
        n = x.size if dim is None else _count(x.shape, dim)
        self.denom = max(n - correction, 0)
        self.dim, self.keepdim, self.shape = dim, keepdim, x.shape
        self.out = xp.sqrt((self.centered ** 2).sum(axis=dim, keepdims=True) / self.denom)
        self.x = x
        if keepdim:
            return self.out
        return self.out.reshape(()) if dim is None else self.out.squeeze(dim)

    def recompute_saved(self, saved):
        x = saved["x"]
        xp = xp_of(x)
        saved["centered"] = c = x - xp.mean(x, axis=self.dim, keepdims=True)
        saved["out"] = xp.sqrt(xp.sum(c * c, axis=self.dim, keepdims=True) / self.denom)

    def backward(self, g):
        xp = xp_of(g)
        g = _expand_back(g, self.shape, self.dim, self.keepdim)
        s = xp.where(self.out == 0, xp.inf, self.out)  # all xᵢ equal: xᵢ − x̄ = 0, gradient 0
        return g * self.centered / (self.denom * s)


class LogSumExp(Function):
    """y = m + ln Σ e^{x − m} (m = max x);  ∂y/∂xᵢ = e^{xᵢ − y} = softmax(x)ᵢ."""

    def forward(self, x, dim=None, keepdim=False):
        xp = xp_of(x)
        m = x.max(axis=dim, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = m + xp.log(xp.exp(x - m).sum(axis=dim, keepdims=True))
        self.x, self.out_k, self.dim, self.keepdim = x, out, dim, keepdim
        if keepdim:
            return out
        return out.reshape(()) if dim is None else out.squeeze(dim)

    def backward(self, g):
        xp = xp_of(g)
        g = _expand_back(g, self.x.shape, self.dim, self.keepdim)
        return g * xp.exp(self.x - self.out_k)

    def recompute_saved(self, saved):
        x = saved["x"]
        xp = xp_of(x)
        m = xp.asarray(self.out_k)   # any constant shift: m + ln Σ e^{x − m}
        saved["out_k"] = m + xp.log(xp.sum(xp.exp(x - m), axis=self.dim, keepdims=True))


class Norm(Function):
    """y = (Σ|x|ᵖ)^{1/p} (p = inf: max|x|);  ∂y/∂x = sign(x)|x|ᵖ⁻¹ / yᵖ⁻¹ (0 where y = 0)."""

    def forward(self, x, p=2.0, dim=None, keepdim=False):
        xp = xp_of(x)
        a = xp.abs(x)
        if p == float("inf"):
            out = a.max(axis=dim, keepdims=True)
        elif p == 2:
            out = xp.sqrt((x * x).sum(axis=dim, keepdims=True))
        elif p == 1:
            out = a.sum(axis=dim, keepdims=True)
        else:
            out = (a ** p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        self.x, self.p, self.out_k, self.dim, self.keepdim = x, p, out, dim, keepdim
        if keepdim:
            return out
        return out.reshape(()) if dim is None else out.squeeze(dim)

    def backward(self, g):
        xp = xp_of(g)
        x, p, y = self.x, self.p, self.out_k
        g = _expand_back(g, x.shape, self.dim, self.keepdim)
        safe_y = xp.where(y == 0, 1, y)
        if p == float("inf"):
            a = xp.abs(x)
            mask = xp.asarray(a == y)
            d = xp.sign(x) * mask / xp.sum(mask, axis=self.dim, keepdims=True)
        elif p == 2:
            d = x / safe_y
        elif p == 1:
            d = xp.sign(x)
        else:
            d = xp.sign(x) * xp.abs(x) ** (p - 1) / safe_y ** (p - 1)
        return g * xp.where(y == 0, 0, d)

    def recompute_saved(self, saved):
        x, p = saved["x"], self.p
        xp = xp_of(x)
        a = xp.abs(x)
        if p == float("inf"):
            y = xp.max(a, axis=self.dim, keepdims=True)
        elif p == 2:
            y = xp.sqrt(xp.sum(x * x, axis=self.dim, keepdims=True))
        elif p == 1:
            y = xp.sum(a, axis=self.dim, keepdims=True)
        else:
            y = xp.sum(a ** p, axis=self.dim, keepdims=True) ** (1.0 / p)
        saved["out_k"] = y


def _count(shape, dim):
    axes = dim if isinstance(dim, tuple) else (dim,)
    n = 1
    for a in axes:
        n *= shape[a]
    return n
