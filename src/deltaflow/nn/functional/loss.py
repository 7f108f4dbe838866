"""Loss functions of ``torch.nn.functional``: argument checks here, the math in
:mod:`deltaflow.ops.loss`. Every loss takes ``reduction="mean" | "sum" | "none"`` (and the
legacy ``size_average``/``reduce`` flags)."""
from __future__ import annotations

import math
import warnings

import numpy as np

from ... import backend
from ... import functional as _F
from ...autograd import no_grad
from ...ops import ctc as _ctc
from ...ops import loss as _L
from ...tensor import Tensor
from .distance import pairwise_distance

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "margin_ranking_loss", "hinge_embedding_loss", "cosine_embedding_loss",
           "triplet_margin_loss", "poisson_nll_loss", "gaussian_nll_loss",
           "multilabel_soft_margin_loss", "ctc_loss"]


def _legacy_reduction(size_average, reduce, reduction):
    """``reduction``, or what the deprecated flags mean, with PyTorch's warning about them."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", stacklevel=3)
    return reduction


def _check_reduction(op, reduction, allowed=("none", "mean", "sum")):
    if reduction not in allowed:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; expected "
                         f"one of {', '.join(map(repr, allowed))}")


def _tensor(x, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return Tensor.constant(backend.xp_of(like.data).asarray(x, dtype=like.dtype))


def _array(x):
    return None if x is None else (x.data if isinstance(x, Tensor) else np.asarray(x))


def _check_same_shape(op, input, target):
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: target of shape {tuple(target.shape)} cannot be broadcast to "
                         f"the input's shape {tuple(input.shape)}") from None


def _pointwise(op_cls, op, input, target, reduction, **options):
    _check_reduction(op, reduction, ("none", "mean", "sum", "batchmean")
                     if op == "kl_div" else ("none", "mean", "sum"))
    target = _tensor(target, input)
    _check_same_shape(op, input, target)
    return op_cls.apply(input, target, reduction=reduction, **options)


def _reduced(loss, reduction):
    """ℓ itself, Σℓ or mean ℓ (for losses composed of differentiable ops)."""
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def _warn_if_broadcast(input, target):
    """PyTorch's warning when a regression loss would broadcast ``target`` against ``input``."""
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input "
                      f"size ({input.size()}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", stacklevel=3)


def _weighted(op_cls, op, input, target, reduction, weight, mean_over_weight, **options):
    """w ⊙ ℓ, reduced; "mean" is Σ wℓ / Σ w with ``mean_over_weight`` (PyTorch's mse_loss and
    l1_loss), else the plain mean of wℓ (huber_loss)."""
    _check_reduction(op, reduction)
    weight = _tensor(weight, input)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weight must have the input's shape {tuple(input.shape)}, got "
                         f"{tuple(weight.shape)}")
    out = _pointwise(op_cls, op, input, target, "none", **options) * weight
    if reduction == "mean" and mean_over_weight:
        return out.sum() / weight.sum()
    return _reduced(out, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error (x − y)²; with ``weight`` w (the input's shape), w·(x − y)² and
    "mean" = Σ w(x − y)² / Σ w."""
    target = _tensor(target, input)
    _warn_if_broadcast(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        return _weighted(_L.MSELoss, "mse_loss", input, target, reduction, weight, True)
    return _pointwise(_L.MSELoss, "mse_loss", input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error |x − y|; with ``weight`` w, w·|x − y| and "mean" = Σ w|x − y| / Σ w."""
    target = _tensor(target, input)
    _warn_if_broadcast(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        return _weighted(_L.L1Loss, "l1_loss", input, target, reduction, weight, True)
    return _pointwise(_L.L1Loss, "l1_loss", input, target, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean",
                   beta=1.0):
    """½(x − y)²/β where |x − y| < β, else |x − y| − ½β (L1 when β = 0)."""
    target = _tensor(target, input)
    _warn_if_broadcast(input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return _pointwise(_L.L1Loss, "smooth_l1_loss", input, target, reduction)
    return _pointwise(_L.HuberLoss, "smooth_l1_loss", input, target, reduction,
                      delta=float(beta), scale=1.0 / beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """½(x − y)² where |x − y| < δ, else δ(|x − y| − ½δ); with ``weight`` w, w·ℓ and "mean"
    its plain mean (PyTorch's)."""
    target = _tensor(target, input)
    _warn_if_broadcast(input, target)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    if weight is not None:
        return _weighted(_L.HuberLoss, "huber_loss", input, target, reduction, weight, False,
                         delta=float(delta))
    return _pointwise(_L.HuberLoss, "huber_loss", input, target, reduction, delta=float(delta))


def _check_class_target(op, input, target, n_classes, ignore_index):
    """Class-index targets: integer dtype, shape (N, d1, ...) and values in [0, C)."""
    t = target.data
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {t.dtype} "
                        "(for class probabilities pass a float target of the input's shape)")
    expected = input.shape[:1] + input.shape[2:]
    if tuple(t.shape) != tuple(expected):
        raise ValueError(f"{op}: expected target of shape {tuple(expected)} for input of shape "
                         f"{tuple(input.shape)}, got {tuple(t.shape)}")
    valid = t[t != ignore_index]
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= n_classes):
        bad = int(valid.min()) if int(valid.min()) < 0 else int(valid.max())
        raise IndexError(f"{op}: target {bad} is out of bounds for {n_classes} classes")


def _check_weight(op, weight, n_classes):
    w = _array(weight)
    if w is not None and tuple(w.shape) != (n_classes,):
        raise ValueError(f"{op}: weight must have shape ({n_classes},) (one per class), got "
                         f"{tuple(w.shape)}")
    return w


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """log-softmax over the class axis (dim 1; dim 0 for an unbatched (C,) input) followed
    by negative log-likelihood, fused and stable for any logits. ``target`` holds class
    indices of shape (N, d1, ...) or class probabilities of the input's shape."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have at least 1 dimension (classes)")
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target))
    unbatched = input.ndim == 1
    if unbatched:
        input = input.reshape(1, -1)
        target = target.reshape(1, *target.shape)
    n_classes = input.shape[1]
    w = _check_weight("cross_entropy", weight, n_classes)
    if target.dtype.kind == "f":
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"cross_entropy: a float target holds class probabilities and "
                             f"must have the input's shape {tuple(input.shape)}, got "
                             f"{tuple(target.shape)} (class indices must be integers: "
                             "use target.long())")
        out = _L.CrossEntropyProbs.apply(input, target, weight=w, reduction=reduction,
                                         label_smoothing=float(label_smoothing))
    else:
        _check_class_target("cross_entropy", input, target, n_classes, ignore_index)
        out = _L.CrossEntropy.apply(input, target=target.data, weight=w,
                                    ignore_index=ignore_index, reduction=reduction,
                                    label_smoothing=float(label_smoothing))
    return out.reshape(()) if unbatched and reduction == "none" else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood −w_y·x_y of log-probabilities ``input`` (N, C, d1, ...)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("nll_loss", reduction)
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target))
    unbatched = input.ndim == 1
    if unbatched:
        input = input.reshape(1, -1)
        target = target.reshape(1, *target.shape)
    n_classes = input.shape[1]
    w = _check_weight("nll_loss", weight, n_classes)
    _check_class_target("nll_loss", input, target, n_classes, ignore_index)
    out = _L.NLLLoss.apply(input, target=target.data, weight=w, ignore_index=ignore_index,
                           reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """−w·(y·log x + (1 − y)·log(1 − x)) for probabilities x (logs clamped at −100)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _tensor(target, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"binary_cross_entropy: target size {tuple(target.shape)} must be the "
                         f"same as input size {tuple(input.shape)}")
    x = input.data
    if x.size and (float(x.min()) < 0 or float(x.max()) > 1):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 "
                           "and 1 (apply sigmoid first, or use binary_cross_entropy_with_logits)")
    return _pointwise(_L.BCELoss, "binary_cross_entropy", input, target, reduction,
                      weight=_array(weight))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable op; ``pos_weight`` weighs positives
    (broadcast along the last dim, one per class)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    target = _tensor(target, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"binary_cross_entropy_with_logits: target size "
                         f"{tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")
    return _pointwise(_L.BCEWithLogitsLoss, "binary_cross_entropy_with_logits", input, target,
                      reduction, weight=_array(weight), pos_weight=_array(pos_weight))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean",
           log_target=False):
    """KL(target ‖ exp(input)) pointwise: t·(log t − x); ``input`` holds log-probabilities.
    ``reduction="batchmean"`` divides the sum by the batch size (the true KL per sample)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    batch = input.shape[0] if input.ndim else 1
    return _pointwise(_L.KLDivLoss, "kl_div", input, target, reduction,
                      log_target=bool(log_target), batch=batch)


# ------------------------------------------------------------- margin and embedding losses
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, −y·(x₁ − x₂) + margin) for labels y ∈ {1, −1} (1: x₁ should rank higher)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("margin_ranking_loss", reduction)
    target = _tensor(target, input1)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss: input1, input2 and target must have the same "
                           f"number of dimensions, got shapes {tuple(input1.shape)}, "
                           f"{tuple(input2.shape)} and {tuple(target.shape)}")
    return _reduced(_F.clamp_min(-target * (input1 - input2) + margin, 0.0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """x where y = 1, max(0, margin − x) where y = −1 (PyTorch's form: x where y ≠ −1 plus
    max(0, margin − x) where y ≠ 1)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("hinge_embedding_loss", reduction)
    target = _tensor(target, input)
    loss = (_F.where(target != 1, _F.clamp_min(margin - input, 0.0), 0.0)
            + _F.where(target != -1, input, 0.0))
    return _reduced(loss, reduction)


_COSINE_EPS = 1e-12  # added to each squared norm, as in PyTorch


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 − cos(x₁, x₂) where y = 1, max(0, cos(x₁, x₂) − margin) where y = −1, with
    cos = Σ x₁x₂ / √((Σ x₁² + ε)(Σ x₂² + ε)), ε = 10⁻¹², over the feature dim. Inputs (N, D)
    with target (N,), or (D,) with a 0-d target."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("cosine_embedding_loss", reduction)
    target = _tensor(target, input1)
    if target.ndim > 1:
        raise RuntimeError(f"cosine_embedding_loss: 0D or 1D target tensor expected, "
                           f"multi-target not supported (got shape {tuple(target.shape)})")
    d = target.ndim
    if input1.ndim != d + 1 or input2.ndim != d + 1:
        raise RuntimeError(f"cosine_embedding_loss: a {d}D target tensor expects {d + 1}D input "
                           f"tensors, but found inputs with sizes {tuple(input1.shape)} and "
                           f"{tuple(input2.shape)}")
    squares = ((input1 * input1).sum(d) + _COSINE_EPS) * ((input2 * input2).sum(d) + _COSINE_EPS)
    cos = (input1 * input2).sum(d) / _F.sqrt(squares)
    loss = (_F.where(target == 1, 1 - cos, 0.0)
            + _F.where(target == -1, _F.clamp_min(cos - margin, 0.0), 0.0))
    return _reduced(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, d(a, p) − d(a, n) + margin) with d = ``pairwise_distance(·, ·, p, eps)`` over the
    last dim; ``swap`` uses min(d(a, n), d(p, n)) as the negative distance."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("triplet_margin_loss", reduction)
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"triplet_margin_loss: the anchor, positive, and negative tensors are "
                           f"expected to have the same number of dimensions, but got: anchor "
                           f"{anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = _F.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduced(_F.clamp_min(margin + d_pos - d_neg, 0.0), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """−(1/C)·Σ_c w_c·(y_c·log σ(x_c) + (1 − y_c)·log σ(−x_c)) over the last dim (C classes):
    the mean over classes of binary cross-entropy with logits."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("multilabel_soft_margin_loss", reduction)
    target = _tensor(target, input)
    per_class = _L.BCEWithLogitsLoss.apply(input, target, reduction="none",
                                           weight=_array(weight))
    return _reduced(per_class.sum(-1) / input.shape[-1], reduction)


# --------------------------------------------------------------------- likelihood losses
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood without the constant log y!: exp(x) − y·x when x is
    the log-rate (``log_input``), else x − y·log(x + eps); ``full`` adds Stirling's
    approximation of log y!, y·log y − y + ½·log(2πy), where y > 1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("poisson_nll_loss", reduction)
    target = _tensor(target, input)
    loss = _F.exp(input) - target * input if log_input else input - target * _F.log(input + eps)
    if full:
        counted = target > 1
        y = _F.where(counted, target, 1.0)   # 1 where the term is dropped keeps log finite
        loss = loss + _F.where(counted, y * _F.log(y) - y + 0.5 * _F.log(2 * math.pi * y), 0.0)
    return _reduced(loss, reduction)


def _gaussian_var(input, var):
    """``var`` broadcastable as PyTorch allows: the input's shape, the input's shape without
    its last dim (one variance per row), or the input's shape with one dim of size 1."""
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("gaussian_nll_loss: var has negative entry/entries")
        return Tensor.constant(backend.xp_of(input.data).full(input.shape, var, input.dtype))
    if bool((var.data < 0).any()):
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape == shape:
        return var
    if var_shape == shape[:-1]:
        return _F.unsqueeze(var, -1)
    if len(var_shape) == len(shape) and sum(v for x, v in zip(shape, var_shape) if x != v) == 1:
        return var
    raise ValueError(f"gaussian_nll_loss: var is of incorrect size: expected {shape}, "
                     f"{shape[:-1]} or {shape} with one dim of size 1, got {var_shape}")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """½(log v + (x − y)²/v) with v = max(var, eps) (the clamp not differentiated, as in
    PyTorch), plus ½·log 2π with ``full``."""
    var = _gaussian_var(input, var)
    _check_reduction("gaussian_nll_loss", reduction)
    var = var.clone()
    with no_grad():
        var.clamp_min_(eps)
    loss = 0.5 * (_F.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduced(loss, reduction)


# ----------------------------------------------------------------------------------- CTC
def _lengths(lengths, name, batch):
    """Per-sequence lengths (a Tensor, array, or sequence of ints) as an int64 host array."""
    data = lengths.data if isinstance(lengths, Tensor) else np.asarray(lengths)
    host = np.asarray(backend.to_device(data, "cpu"))
    if host.dtype.kind not in "iu" or host.ndim > 1:
        raise TypeError(f"ctc_loss: {name} must be integers, one per sequence, got "
                        f"{host.dtype} of shape {host.shape}")
    host = host.reshape(-1).astype(np.int64)
    if host.shape != (batch,):
        raise RuntimeError(f"ctc_loss: {name} must have one entry per sequence ({batch}), got "
                           f"{host.size}")
    if host.size and host.min() < 0:
        raise RuntimeError(f"ctc_loss: {name} must be non-negative, got {int(host.min())}")
    return host


def _padded_targets(targets, target_lengths, blank, n_classes):
    """(N, S) int64 targets, S = the longest target, positions past each length set to
    ``blank``, from padded (N, ≥ S) or concatenated (Σ lengths,) targets."""
    t = np.asarray(backend.to_device(targets, "cpu")).astype(np.int64)
    longest = int(target_lengths.max()) if target_lengths.size else 0
    positions = np.arange(longest)[None, :]
    inside = positions < target_lengths[:, None]
    if t.ndim == 1:
        if t.size != int(target_lengths.sum()):
            raise RuntimeError(f"ctc_loss: concatenated targets must have sum(target_lengths) = "
                               f"{int(target_lengths.sum())} entries, got {t.size}")
        starts = np.cumsum(target_lengths) - target_lengths
        t = np.concatenate([t, [blank]])[np.where(inside, starts[:, None] + positions, -1)]
    elif t.ndim == 2 and t.shape[0] == len(target_lengths) and t.shape[1] >= longest:
        t = np.where(inside, t[:, :longest], blank)
    else:
        raise RuntimeError(f"ctc_loss: expected targets of shape (N={len(target_lengths)}, "
                           f"S >= {longest}) or concatenated (sum(target_lengths),), got "
                           f"{tuple(t.shape)}")
    if t.size and (t.min() < 0 or t.max() >= n_classes):
        bad = int(t.min()) if t.min() < 0 else int(t.max())
        raise IndexError(f"ctc_loss: target {bad} is out of bounds for {n_classes} classes")
    return t


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist temporal classification: −log p(target | log_probs), summed over every
    alignment (:class:`deltaflow.ops.ctc.CTCLoss`). ``log_probs`` (T, N, C) (or (T, C)
    unbatched) are log-probabilities (e.g. ``log_softmax(x, 2)``); ``targets`` padded (N, S)
    or concatenated (Σ target_lengths,); ``input_lengths`` and ``target_lengths`` (N,).
    "mean" divides each loss by its target length (at least 1), then averages over the batch;
    ``zero_infinity`` zeroes infinite losses (targets too long for their inputs) and their
    gradients."""
    _check_reduction("ctc_loss", reduction)
    if not isinstance(log_probs, Tensor) or log_probs.ndim not in (2, 3) \
            or log_probs.dtype.kind != "f":
        raise ValueError(f"ctc_loss: log_probs must be a floating point Tensor of shape "
                         f"(T, N, C) or (T, C), got "
                         f"{getattr(log_probs, 'dtype', type(log_probs).__name__)} of shape "
                         f"{tuple(getattr(log_probs, 'shape', ()))}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = _F.unsqueeze(log_probs, 1)
    T, N, C = log_probs.shape
    if not 0 <= blank < C:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {C}), got {blank}")
    in_lengths = _lengths(input_lengths, "input_lengths", N)
    out_lengths = _lengths(target_lengths, "target_lengths", N)
    if in_lengths.size and in_lengths.max() > T:
        raise RuntimeError(f"ctc_loss: input_lengths must be at most T = {T}, got "
                           f"{int(in_lengths.max())}")
    targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if unbatched:
        targets = targets.reshape(1, -1)
    padded = _padded_targets(targets, out_lengths, blank, C)
    xp = backend.xp_of(log_probs.data)
    loss = _ctc.CTCLoss.apply(log_probs, targets=xp.asarray(padded),
                              input_lengths=xp.asarray(in_lengths),
                              target_lengths=xp.asarray(out_lengths), blank=int(blank),
                              zero_infinity=bool(zero_infinity))
    if reduction == "mean":
        per_label = xp.maximum(xp.asarray(out_lengths), 1).astype(log_probs.dtype)
        return (loss / Tensor.constant(per_label)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss


# ---- pytorch parity: margin losses ----
__all__ += ["soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss",
            "triplet_margin_with_distance_loss"]


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """ln(1 + e^(−y·x)) for targets y = ±1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("soft_margin_loss", reduction)
    target = _tensor(target, input)
    _check_same_shape("soft_margin_loss", input, target)
    return _reduced(_F.log1p(_F.exp(-target * input)), reduction)


def _class_rows(op, input, target):
    """(N, C) scores and (N, ...) int targets; a 1-D input is one row."""
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: expected a 1-D or 2-D input (N, C), got shape "
                         f"{tuple(input.shape)}")
    target = _array(target).astype(np.int64)
    if input.ndim == 1:
        return input.unsqueeze(0), target.reshape(1, -1)
    return input, target


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """(1/C)·Σ_{i≠y} w_y·max(0, margin − x_y + x_i)ᵖ for each row x with class y (p = 1, 2)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("multi_margin_loss", reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 supported, got {p}")
    x, y = _class_rows("multi_margin_loss", input, target)
    y = y.reshape(-1)
    n, c = x.shape
    if y.shape != (n,) or (y.size and (y.min() < 0 or y.max() >= c)):
        raise RuntimeError(f"multi_margin_loss: expected {n} class indices in [0, {c}), got "
                           f"target of shape {tuple(np.shape(target))}")
    xp = backend.xp_of(x.data)
    y = xp.asarray(y)
    margins = _F.clamp_min(margin - _F.gather(x, 1, y[:, None]) + x, 0.0)
    if p == 2:
        margins = margins * margins
    if weight is not None:
        margins = margins * _F.getitem(_tensor(weight, x), y)[:, None]
    others = Tensor.constant((xp.arange(c)[None, :] != y[:, None]).astype(x.dtype))
    return _reduced((margins * others).sum(1) / c, reduction)  # 1-D input: shape (1,), as torch


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """(1/C)·Σ_j Σ_{i ∉ targets} max(0, 1 − (x_{y_j} − x_i)) for each row x, the targets
    y_j being the leading class indices of the target row up to its first −1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction("multilabel_margin_loss", reduction)
    x, y = _class_rows("multilabel_margin_loss", input, target)
    n, c = x.shape
    if y.shape != (n, c) or (y.size and (y.min() < -1 or y.max() >= c)):
        raise RuntimeError(f"multilabel_margin_loss: expected a target of shape {(n, c)} with "
                           f"class indices in [0, {c}) or -1, got shape {tuple(np.shape(target))}")
    xp = backend.xp_of(x.data)
    y = xp.asarray(y)
    listed = xp.cumprod(y != -1, axis=1).astype(bool)            # before the first −1
    labels = xp.where(listed, y, 0)
    is_target = ((xp.arange(c)[None, None, :] == labels[:, :, None])
                 & listed[:, :, None]).any(axis=1)
    pairs = Tensor.constant((listed[:, :, None] & ~is_target[:, None, :]).astype(x.dtype))
    scores = _F.gather(x, 1, labels)
    hinge = _F.clamp_min(1.0 - scores.unsqueeze(2) + x.unsqueeze(1), 0.0)
    loss = (hinge * pairs).sum((1, 2)) / c
    return _reduced(loss.squeeze(0) if input.ndim == 1 else loss, reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """max(0, d(a, p) − d(a, n) + margin) for any ``distance_function`` d (default
    ``pairwise_distance``); ``swap`` uses min(d(a, n), d(p, n)) as the negative distance."""
    _check_reduction("triplet_margin_with_distance_loss", reduction)
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: margin must be greater than 0, "
                         f"got {margin}")
    distance = pairwise_distance if distance_function is None else distance_function
    d_pos, d_neg = distance(anchor, positive), distance(anchor, negative)
    if swap:
        d_neg = _F.minimum(d_neg, distance(positive, negative))
    return _reduced(_F.clamp_min(margin + d_pos - d_neg, 0.0), reduction)
