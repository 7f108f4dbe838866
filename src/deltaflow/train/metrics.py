"""Metrics computed from model outputs and targets, and their running averages.

Outputs follow PyTorch's layout for classification: scores of shape ``(N, C)`` or
``(N, C, d1, ...)`` with the class dimension at 1, targets of shape ``(N,)`` /
``(N, d1, ...)`` holding class indices.
"""
from __future__ import annotations

import re

import numpy as np

from .. import backend


def _numpy(x) -> np.ndarray:
    data = getattr(x, "data", x)
    return backend.to_device(data, "cpu") if backend.device_of(data) != "cpu" else np.asarray(data)


def correct_topk(output, target, k: int = 1) -> int:
    """How many rows have their target among the ``k`` highest scores (class dim = 1)."""
    scores, target = _numpy(output), _numpy(target)
    if scores.ndim < 2:
        raise ValueError(f"accuracy: expected scores of shape (N, C, ...), got {scores.shape}")
    if target.shape != scores.shape[:1] + scores.shape[2:]:
        raise ValueError(f"accuracy: targets of shape {target.shape} do not match scores of "
                         f"shape {scores.shape} (expected class indices of shape "
                         f"{scores.shape[:1] + scores.shape[2:]})")
    if k == 1:
        return int((scores.argmax(axis=1) == target).sum())
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return int((top == np.expand_dims(target, 1)).any(axis=1).sum())


def accuracy(output, target) -> float:
    """Fraction of rows whose highest score is the target class."""
    return correct_topk(output, target, 1) / max(1, _numpy(target).size)


def topk_accuracy(output, target, k: int = 5) -> float:
    """Fraction of rows whose target is among the ``k`` highest scores."""
    return correct_topk(output, target, k) / max(1, _numpy(target).size)


class Mean:
    """Running mean of a per-batch value, weighted by batch size."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += float(value) * n
        self.count += n

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")


class TopKAccuracy:
    """Running top-k accuracy over all samples seen (``k=1``: plain accuracy)."""

    def __init__(self, k: int = 1):
        self.k = k
        self.correct, self.count = 0, 0

    def update(self, output, target) -> None:
        self.correct += correct_topk(output, target, self.k)
        self.count += _numpy(target).size

    def compute(self) -> float:
        return self.correct / self.count if self.count else float("nan")


def make_metric(name: str) -> TopKAccuracy:
    """``"accuracy"`` (= top-1) or ``"top5"`` / ``"top_5"`` / ``"top-5"`` (any k)."""
    if name in ("accuracy", "acc"):
        return TopKAccuracy(1)
    match = re.fullmatch(r"top[-_]?(\d+)", name)
    if match and int(match.group(1)) >= 1:
        return TopKAccuracy(int(match.group(1)))
    raise ValueError(f"unknown metric {name!r}; expected 'accuracy' or 'topK' (e.g. 'top5')")
