"""Loss functions as fused ops: one pass for the loss, one for its gradient.

Every op takes ``reduction`` ("none", "sum", "mean"; ``KLDiv`` also "batchmean"): with
"none" the output is the per-element loss ℓ, otherwise Σℓ or Σℓ/n, and the backward pass
scales the local derivative by the incoming gradient (÷n for "mean").
Class axis is 1 for inputs of shape (N, C, d1, ...), as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from .activation import sigmoid


def _reduce(loss, reduction, n=None):
    """ℓ itself, Σℓ, or Σℓ/n (n = number of elements unless given)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return xp_of(loss).asarray(total, dtype=loss.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return xp_of(loss).asarray(total / (loss.size if n is None else n), dtype=loss.dtype)


def _coef(g, reduction, n):
    """∂(reduced loss)/∂ℓ times the incoming gradient: g, or g/n for a mean."""
    if reduction in ("mean", "batchmean"):
        with np.errstate(invalid="ignore", divide="ignore"):
            return g / n
    return g


def _class_axis(weight, ndim):
    """A per-class weight reshaped to broadcast along axis 1 of an ndim-dim input."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood with class-index targets y.

    With log pᵢ = log softmax(zᵢ) over the classes, per-class weights w and label smoothing ε,
    ℓᵢ = −Σ_c qᵢ_c · log pᵢ_c,   qᵢ = (1−ε)·w_{yᵢ}·onehot(yᵢ) + (ε/C)·w   (qᵢ = 0 if yᵢ is ignored),
    "mean" divides by Σᵢ w_{yᵢ} over non-ignored i (their count without weights), like PyTorch;
    ∂ℓᵢ/∂zᵢ = (Σ_c qᵢ_c)·softmax(zᵢ) − qᵢ.
    Stable for any logits: everything is computed from z − max z."""

    name = "cross_entropy"

    def forward(self, z, target, weight=None, ignore_index=-100, label_smoothing=0.0,
                reduction="mean"):
        xp = xp_of(z)
        n_classes = z.shape[1]
        shifted = z - z.max(axis=1, keepdims=True)
        ignore = target == ignore_index
        has_ignore = bool(ignore.any())
        t = xp.where(ignore, 0, target) if has_ignore else target
        t_k = xp.expand_dims(t, 1)
        picked = xp.take_along_axis(shifted, t_k, axis=1).squeeze(1)
        eps = label_smoothing
        w_b = None if weight is None else _class_axis(weight, z.ndim)
        if eps:
            smooth_raw = (shifted.sum(axis=1) if w_b is None
                          else (shifted * w_b).sum(axis=1))
        e = xp.exp(shifted, out=shifted)
        s = e.sum(axis=1)
        lse = xp.log(s)
        loss = lse - picked  # −log p_y
        wy = None if weight is None else weight[t]
        if wy is not None:
            loss *= wy
        w_total = n_classes if weight is None else float(weight.sum())
        if eps:
            loss *= 1 - eps
            loss += (eps / n_classes) * (w_total * lse - smooth_raw)
        if has_ignore:
            loss[ignore] = 0
        denom = 1
        if reduction == "mean":
            if wy is None:
                denom = loss.size - int(ignore.sum())
            else:
                denom = float((wy * ~ignore).sum() if has_ignore else wy.sum())
        self.e, self.s, self.t, self.t_k, self.wy, self.w_b = e, s, t, t_k, wy, w_b
        self.ignore = ignore if has_ignore else None
        self.eps, self.w_total, self.n_classes = eps, w_total, n_classes
        self.reduction, self.denom = reduction, denom
        return _reduce(loss, reduction, denom)

    def backward(self, g):
        xp = xp_of(g)
        e, s, eps = self.e, self.s, self.eps
        a = _coef(g, self.reduction, self.denom)  # ∂L/∂ℓᵢ: scalar or per element
        if self.ignore is not None:
            a = xp.where(self.ignore, xp.zeros((), dtype=e.dtype), a)
        q_y = a if self.wy is None else a * self.wy
        if eps:
            q_y = q_y * (1 - eps)
            total = q_y + a * (eps / self.n_classes * self.w_total)
        else:
            total = q_y
        grad = e * xp.expand_dims(total / s, 1)
        q_y = xp.broadcast_to(q_y, s.shape)
        if grad.ndim == 2:
            grad[xp.arange(grad.shape[0]), self.t] -= q_y
        else:
            picked = xp.take_along_axis(grad, self.t_k, axis=1)
            xp.put_along_axis(grad, self.t_k, picked - xp.expand_dims(q_y, 1), axis=1)
        if eps:
            smooth = xp.expand_dims(xp.broadcast_to(a * (eps / self.n_classes), s.shape), 1)
            grad -= smooth if self.w_b is None else smooth * self.w_b
        return grad

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of ℓᵢ = −Σ_c qᵢ_c·log softmax(zᵢ)_c (q a
        constant: the docstring's smoothed, weighted one-hot targets) recomputed on Tensors."""
        xp = xp_of(self.t)
        classes = xp.arange(self.n_classes).reshape((1, -1) + (1,) * (self.t.ndim - 1))
        wy = 1.0 if self.wy is None else xp.expand_dims(self.wy, 1)
        q = (classes == self.t_k) * ((1 - self.eps) * wy)
        if self.eps:
            q = q + (self.eps / self.n_classes) * (1.0 if self.w_b is None else self.w_b)
        if self.ignore is not None:
            q = q * ~xp.expand_dims(self.ignore, 1)
        reduction, denom = self.reduction, self.denom
        return self.recompute_backward(
            lambda z: _reduce(-xp_of(z).sum(q * z.log_softmax(dim=1), axis=1), reduction, denom),
            g)


class CrossEntropyProbs(Function):
    """Cross-entropy with class-probability targets p (same shape as the logits z):
    ℓᵢ = −Σ_c w_c·p′ᵢ_c·log softmax(zᵢ)_c with p′ = (1−ε)·p + ε/C; "mean" divides by the
    number of ℓᵢ.  ∂ℓᵢ/∂zᵢ = (Σ_c w_c p′ᵢ_c)·softmax(zᵢ) − w⊙p′ᵢ,
    ∂ℓᵢ/∂pᵢ_c = −(1−ε)·w_c·log softmax(zᵢ)_c."""

    name = "cross_entropy"

    def forward(self, z, p, weight=None, label_smoothing=0.0, reduction="mean"):
        xp = xp_of(z)
        n_classes = z.shape[1]
        shifted = z - z.max(axis=1, keepdims=True)
        eps = label_smoothing
        q = p * (1 - eps) + eps / n_classes if eps else p
        w_b = None if weight is None else _class_axis(weight, z.ndim)
        wq = q if w_b is None else q * w_b
        wq_sum = wq.sum(axis=1)
        raw = (wq * shifted).sum(axis=1)
        need = self.needs_input_grad
        log_p = None
        if need is not None and need[1]:
            log_p = shifted.copy()
        e = xp.exp(shifted, out=shifted)
        s = e.sum(axis=1)
        lse = xp.log(s)
        loss = wq_sum * lse - raw
        if log_p is not None:
            log_p -= xp.expand_dims(lse, 1)
        n = loss.size
        self.e, self.s, self.wq, self.wq_sum, self.log_p = e, s, wq, wq_sum, log_p
        self.w_b, self.eps, self.reduction, self.n = w_b, eps, reduction, n
        return _reduce(loss, reduction, n)

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        a = xp.expand_dims(xp.broadcast_to(_coef(g, self.reduction, self.n), self.s.shape), 1)
        gz = gp = None
        if need[0]:
            gz = self.e * (a * xp.expand_dims(self.wq_sum / self.s, 1)) - a * self.wq
        if need[1]:
            f = -(1 - self.eps) * a
            gp = f * self.log_p if self.w_b is None else f * self.w_b * self.log_p
        return gz, gp

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of ℓᵢ = −Σ_c w_c·p′ᵢ_c·log softmax(zᵢ)_c
        recomputed on Tensors."""
        eps, w_b, reduction, n = self.eps, self.w_b, self.reduction, self.n

        def formula(z, p):
            q = p * (1 - eps) + eps / z.shape[1] if eps else p
            wq = q if w_b is None else q * w_b
            return _reduce(-xp_of(z).sum(wq * z.log_softmax(dim=1), axis=1), reduction, n)

        return self.recompute_backward(formula, g)


class NLLLoss(Function):
    """ℓᵢ = −w_{yᵢ}·x_{i,yᵢ} for log-probabilities x and class indices y (0 if ignored);
    "mean" divides by Σ w_{yᵢ} over non-ignored i.  ∂ℓᵢ/∂x_{i,c} = −w_{yᵢ}·[c = yᵢ]."""

    name = "nll_loss"

    def forward(self, x, target, weight=None, ignore_index=-100, reduction="mean"):
        xp = xp_of(x)
        ignore = target == ignore_index
        has_ignore = bool(ignore.any())
        t = xp.where(ignore, 0, target) if has_ignore else target
        t_k = xp.expand_dims(t, 1)
        loss = -xp.take_along_axis(x, t_k, axis=1).squeeze(1)
        wy = xp.ones_like(loss) if weight is None else weight[t].astype(x.dtype, copy=False)
        if has_ignore:
            wy = xp.where(ignore, xp.zeros((), dtype=wy.dtype), wy)
        loss = loss * wy
        denom = float(wy.sum()) if reduction == "mean" else 1
        self.shape, self.t_k, self.wy = x.shape, t_k, wy
        self.reduction, self.denom = reduction, denom
        return _reduce(loss, reduction, denom)

    def backward(self, g):
        xp = xp_of(g)
        a = _coef(g, self.reduction, self.denom)
        grad = xp.zeros(self.shape, dtype=self.wy.dtype)
        xp.put_along_axis(grad, self.t_k, xp.expand_dims(-(a * self.wy), 1), axis=1)
        return grad

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of ℓᵢ = −w_{yᵢ}·x_{i,yᵢ} recomputed on
        Tensors (linear in x)."""
        t_k, wy, reduction, denom = self.t_k, self.wy, self.reduction, self.denom

        def formula(x):
            xp = xp_of(x)
            picked = xp.reshape(xp.take_along_axis(x, t_k, axis=1), wy.shape)
            return _reduce(-picked * wy, reduction, denom)

        return self.recompute_backward(formula, g)


class _Pointwise(Function):
    """A loss ℓ = f(x, y) applied elementwise, then reduced. Subclasses give ``terms(x, y)``
    returning ℓ and, when asked, ∂ℓ/∂x and ∂ℓ/∂y."""

    def terms(self, x, y, want_dx, want_dy):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x, y, reduction="mean", **options):
        self.options = options
        need = self.needs_input_grad
        want_dx, want_dy = (False, False) if need is None else need
        loss, self.dx, self.dy = self.terms(x, y, want_dx, want_dy)
        self.reduction = reduction
        self.n = options.get("batch") if reduction == "batchmean" else loss.size
        return _reduce(loss, reduction, self.n)

    def backward(self, g):
        need = self.needs_input_grad
        a = _coef(g, self.reduction, self.n)
        return (a * self.dx if need[0] else None), (a * self.dy if need[1] else None)

    def backward_graph(self, g):
        """Under ``create_graph``: ``terms`` on the input Tensors gives ∂ℓ/∂x and ∂ℓ/∂y
        (the same formulas, now differentiable), scaled as in :meth:`backward`."""
        need = self.needs_input_grad
        x, y = self.unwritten_inputs()
        if x is None or y is None:
            raise RuntimeError(f"{self.op_name()}: an input was written in place after the "
                               "forward pass; create_graph cannot recompute this loss")
        _, dx, dy = self.terms(x, y, need[0], need[1])
        a = _coef(g, self.reduction, self.n)
        return (a * dx if need[0] else None), (a * dy if need[1] else None)


class MSELoss(_Pointwise):
    """ℓ = (x − y)²;  ∂ℓ/∂x = 2(x − y) = −∂ℓ/∂y."""

    name = "mse_loss"

    def terms(self, x, y, want_dx, want_dy):
        d = x - y
        two_d = 2 * d if (want_dx or want_dy) else None
        return d * d, two_d, (-two_d if want_dy else None)


class L1Loss(_Pointwise):
    """ℓ = |x − y|;  ∂ℓ/∂x = sign(x − y) = −∂ℓ/∂y."""

    name = "l1_loss"

    def terms(self, x, y, want_dx, want_dy):
        xp = xp_of(x)
        d = x - y
        sgn = xp.sign(d) if (want_dx or want_dy) else None
        return xp.abs(d), sgn, (-sgn if want_dy else None)


class HuberLoss(_Pointwise):
    """With d = x − y and threshold δ:  ℓ = ½d² if |d| < δ else δ(|d| − ½δ);
    ∂ℓ/∂x = d if |d| < δ else δ·sign(d) = −∂ℓ/∂y.
    ``scale=1/β`` with δ = β gives smooth L1: ℓ = ½d²/β if |d| < β else |d| − ½β."""

    name = "huber_loss"

    def terms(self, x, y, want_dx, want_dy):
        xp = xp_of(x)
        delta, scale = self.options["delta"], self.options.get("scale", 1.0)
        d = x - y
        ad = xp.abs(d)
        small = ad < delta
        loss = xp.where(small, (0.5 * scale) * d * d, (delta * scale) * (ad - 0.5 * delta))
        dx = None
        if want_dx or want_dy:
            dx = xp.where(small, scale * d, (delta * scale) * xp.sign(d))
        return loss, dx, (-dx if want_dy else None)


class BCELoss(_Pointwise):
    """Binary cross-entropy on probabilities x ∈ [0, 1] (logs clamped at −100 like PyTorch):
    ℓ = −w·(y·log x + (1 − y)·log(1 − x));  ∂ℓ/∂x = w·(x − y)/max(x(1 − x), 10⁻¹²),
    ∂ℓ/∂y = −w·(log x − log(1 − x))."""

    name = "binary_cross_entropy"

    def terms(self, x, y, want_dx, want_dy):
        xp = xp_of(x)
        w = self.options.get("weight")
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        loss = -(y * log_x + (1 - y) * log_1mx)
        dx = dy = None
        if want_dx:
            dx = (x - y) / xp.maximum(x * (1 - x), 1e-12)
        if want_dy:
            dy = log_1mx - log_x
        if w is not None:
            loss = loss * w
            dx = None if dx is None else dx * w
            dy = None if dy is None else dy * w
        return loss, dx, dy


class BCEWithLogitsLoss(_Pointwise):
    """Binary cross-entropy on logits x, stable for any x (softplus(−x) = max(−x, 0) +
    log(1 + e^{−|x|})), with positive-class weight p and element weight w:
    ℓ = w·((1 − y)·x + (1 + (p − 1)y)·softplus(−x));
    ∂ℓ/∂x = w·((1 − y) − (1 + (p − 1)y)·σ(−x)),  ∂ℓ/∂y = w·(−x + (p − 1)·softplus(−x))."""

    name = "binary_cross_entropy_with_logits"

    def terms(self, x, y, want_dx, want_dy):
        xp = xp_of(x)
        w, pw = self.options.get("weight"), self.options.get("pos_weight")
        sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))  # softplus(−x)
        lw = 1 if pw is None else 1 + (pw - 1) * y
        loss = (1 - y) * x + lw * sp
        dx = dy = None
        if want_dx:
            dx = (1 - y) - lw * sigmoid(-x)
        if want_dy:
            dy = -x if pw is None else (pw - 1) * sp - x
        if w is not None:
            loss = loss * w
            dx = None if dx is None else dx * w
            dy = None if dy is None else dy * w
        return loss, dx, dy


class KLDivLoss(_Pointwise):
    """Kullback–Leibler divergence with log-probabilities x and target t:
    ℓ = t·(log t − x) (0 where t = 0);  ∂ℓ/∂x = −t,  ∂ℓ/∂t = log t + 1 − x.
    With ``log_target``: ℓ = eᵗ·(t − x);  ∂ℓ/∂x = −eᵗ,  ∂ℓ/∂t = eᵗ·(t − x + 1)."""

    name = "kl_div"

    def terms(self, x, t, want_dx, want_dy):
        xp = xp_of(x)
        dx = dy = None
        if self.options.get("log_target"):
            et = xp.exp(t)
            loss = et * (t - x)
            if want_dx:
                dx = -et
            if want_dy:
                dy = et * (t - x + 1)
            return loss, dx, dy
        with np.errstate(divide="ignore", invalid="ignore"):
            log_t = xp.log(t)
            loss = xp.where(t == 0, 0, t * log_t) - t * x
            if want_dy:
                dy = log_t + 1 - x
        if want_dx:
            dx = -xp.broadcast_to(t, loss.shape)
        return xp.asarray(loss, dtype=x.dtype), dx, dy
