"""Loss functions of ``torch.nn.functional``: argument checks here, the math in
:mod:`deltaflow.ops.loss`. Every loss takes ``reduction="mean" | "sum" | "none"`` (and the
legacy ``size_average``/``reduce`` flags)."""
from __future__ import annotations

import numpy as np

from ... import backend
from ...ops import loss as _L
from ...tensor import Tensor

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


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


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error (x − y)²."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        out = _pointwise(_L.MSELoss, "mse_loss", input, target, "none") * weight
        return out if reduction == "none" else out.sum() if reduction == "sum" else out.mean()
    return _pointwise(_L.MSELoss, "mse_loss", input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error |x − y|."""
    return _pointwise(_L.L1Loss, "l1_loss", input, target,
                      _legacy_reduction(size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean",
                   beta=1.0):
    """½(x − y)²/β where |x − y| < β, else |x − y| − ½β (L1 when β = 0)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    return _pointwise(_L.HuberLoss, "smooth_l1_loss", input, target, reduction,
                      delta=float(beta), scale=1.0 / beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """½(x − y)² where |x − y| < δ, else δ(|x − y| − ½δ)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    if weight is not None:
        out = _pointwise(_L.HuberLoss, "huber_loss", input, target, "none",
                         delta=float(delta)) * weight
        return out if reduction == "none" else out.sum() if reduction == "sum" else out.mean()
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
