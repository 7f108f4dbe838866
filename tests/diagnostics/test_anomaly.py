"""Anomaly mode names the op where a NaN/Inf is born, on the forward and the backward pass."""
import warnings

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.autograd import Function
from deltaflow.autograd.anomaly import AnomalyError, describe
from deltaflow.autograd.grad_mode import state


class ZeroOverZero(Function):
    """y = x (identity forward); the deliberately broken backward returns g·0/0."""

    name = "zero_over_zero"

    def forward(self, x):
        self.x = x
        return x.copy()

    def backward(self, g):
        return g * (self.x * 0) / (self.x * 0)


GRADCHECKED = ()  # ZeroOverZero is a planted fault, not a library op


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_planted_log0_in_forward_names_log_not_later_ops():
    p = dl.tensor(np.array([[0.5, 0.0], [0.2, 0.3]]), requires_grad=True)
    with pytest.raises(AnomalyError) as info, dl.autograd.detect_anomaly():
        q = p * 1.0
        logp = dl.log(q)                      # the planted log(0)
        loss = -(logp * 2.0).sum()            # later ops only pass -inf on
        loss.backward()
    err = info.value
    assert err.phase == "forward" and err.op == "log"
    assert err.source.endswith(f"test_anomaly.py:{_line_of('logp = dl.log(q)')}")
    msg = str(err)
    assert "shape (2, 2), float64, min 0, max 0.5, non-finite 0" in msg
    assert "-inf 1" in msg and "hint" in msg


def test_planted_zero_over_zero_in_backward_names_that_op():
    x = dl.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(AnomalyError) as info, dl.autograd.detect_anomaly():
        h = dl.tanh(x)
        y = ZeroOverZero.apply(h)
        loss = (y * y).sum()
        loss.backward()
    err = info.value
    assert err.phase == "backward" and err.op == "zero_over_zero"
    assert err.source.endswith(f":{_line_of('y = ZeroOverZero.apply(h)')}")
    assert "nan 3" in str(err)


class LogProb(dl.nn.Module):
    def forward(self, p):
        return dl.log(p)


def test_module_path_is_named():
    model = dl.nn.Sequential(dl.nn.Linear(3, 2), dl.nn.Sigmoid(),
                             dl.nn.Sequential(dl.nn.Identity(), LogProb()))
    model.double()
    model[0].weight.data[...] = 1000.0  # σ saturates to exactly 0 or 1
    x = dl.tensor(-np.ones((2, 3)))
    with pytest.raises(AnomalyError) as info, dl.autograd.detect_anomaly():
        model(x)
    assert info.value.op == "log" and info.value.module_path == "model.2.1"
    assert "module: model.2.1" in str(info.value)


def test_sqrt_of_zero_norm_is_blamed_in_backward_not_pow():
    x = dl.tensor(np.zeros(4), requires_grad=True)
    with pytest.raises(AnomalyError) as info, dl.autograd.detect_anomaly():
        ((x ** 2).sum().sqrt()).backward()
    assert (info.value.phase, info.value.op) == ("backward", "sqrt")


def test_nan_from_data_is_reported_at_first_use():
    data = dl.tensor(np.array([1.0, np.nan]))
    w = dl.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(AnomalyError, match="NaN input that no checked op produced") as info:
        with dl.autograd.detect_anomaly():
            (data * w).sum()
    assert info.value.op == "mul"


def test_intentional_inf_mask_is_not_an_anomaly_but_all_masked_row_is():
    scores = dl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mask = np.array([[False, True, True], [False, False, True]])
    with dl.autograd.detect_anomaly():
        dl.softmax(scores.masked_fill(dl.tensor(mask), -np.inf), dim=1).sum().backward()
    assert np.isfinite(scores.grad.numpy()).all()
    with pytest.raises(AnomalyError) as info, dl.autograd.detect_anomaly():
        dl.softmax(scores.masked_fill(dl.tensor(np.ones((2, 3), bool)), -np.inf), dim=1)
    assert info.value.op == "softmax"


def test_additive_inf_mask_from_outside_is_fine():
    scores = dl.tensor(np.ones((3, 3)), requires_grad=True)
    mask = dl.tensor(np.triu(np.full((3, 3), -np.inf), 1))   # causal mask, as in attention
    with dl.autograd.detect_anomaly():
        dl.softmax(scores + mask, dim=-1).sum().backward()
    assert np.isfinite(scores.grad.numpy()).all()


def test_off_by_default_and_restored():
    assert not state.anomaly_enabled
    with dl.autograd.detect_anomaly():
        assert state.anomaly_enabled
        with dl.autograd.detect_anomaly(check_nan=False):
            dl.log(dl.tensor(np.zeros(2)))  # unchecked
    assert not state.anomaly_enabled
    # outside anomaly mode nothing is recorded or raised
    y = dl.log(dl.tensor(np.zeros(2), requires_grad=True))
    assert not hasattr(y.grad_fn, "trace") or y.grad_fn.trace is None


def test_numpy_float_warnings_are_replaced_then_restored():
    with np.errstate(all="warn"):
        with dl.autograd.detect_anomaly():
            assert np.geterr()["divide"] == "ignore" and np.geterr()["over"] == "ignore"
        assert np.geterr()["divide"] == "warn" and np.geterr()["over"] == "warn"


def test_describe_counts():
    text = describe(np.array([np.nan, np.inf, -np.inf, 1.0, 2.0]))
    assert "min 1, max 2" in text and "non-finite 3 (nan 1, +inf 1, -inf 1) of 5" in text


def _line_of(snippet):
    for k, line in enumerate(open(__file__, encoding="utf-8"), 1):
        if snippet in line and "_line_of" not in line:
            return k
    raise AssertionError(snippet)
