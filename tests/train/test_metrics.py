import numpy as np
import pytest

import deltaflow as dl
from deltaflow.train.metrics import (
    Mean,
    TopKAccuracy,
    accuracy,
    correct_topk,
    make_metric,
    topk_accuracy,
)


def test_accuracy_counts_argmax_hits():
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.0, 0.4, 0.6]])
    target = np.array([1, 0, 1, 2])
    assert accuracy(dl.tensor(scores), dl.tensor(target)) == 0.75
    assert correct_topk(scores, target, 1) == 3


def test_topk_matches_a_sort_based_reference():
    rng = np.random.default_rng(0)
    scores, target = rng.normal(size=(200, 10)), rng.integers(0, 10, size=200)
    for k in (1, 3, 5, 10, 20):
        top = np.argsort(-scores, axis=1)[:, :min(k, 10)]
        expected = np.mean([t in row for t, row in zip(target, top)])
        assert topk_accuracy(scores, target, k) == pytest.approx(expected)


def test_accuracy_with_trailing_dims_class_dim_1():
    scores = np.zeros((2, 3, 4))          # (N, C, T), like a sequence model's logits
    scores[:, 2, :] = 1.0
    target = np.full((2, 4), 2)
    target[0, 0] = 1
    assert accuracy(scores, target) == 7 / 8


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="do not match scores"):
        accuracy(np.zeros((4, 3)), np.zeros(5, dtype=np.int64))


def test_running_metrics_weight_by_batch_size():
    m = Mean()
    m.update(1.0, 3)
    m.update(3.0, 1)
    assert m.compute() == 1.5
    acc = TopKAccuracy(1)
    acc.update(np.eye(3), np.array([0, 1, 0]))
    acc.update(np.eye(2), np.array([0, 1]))
    assert acc.compute() == 4 / 5
    assert np.isnan(Mean().compute())


def test_make_metric_names():
    assert make_metric("accuracy").k == 1
    assert make_metric("top5").k == 5
    assert make_metric("top_3").k == 3
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        make_metric("f1")
