"""gradcheck_model and `deltaflow gradcheck`: pass on correct models, fail on a wrong backward."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow.cli import main
from deltaflow.diagnostics import gradcheck_model

BAD_MODULE = '''
import deltaflow as dl
from deltaflow.autograd import Function


class BadSquare(Function):
    """y = x²; the deliberately wrong backward forgets the factor 2 (returns g·x)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return g * self.x


class Net(dl.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = dl.nn.Linear(3, 5)
        self.fc2 = dl.nn.Linear(5, 2)

    def forward(self, x):
        return self.fc2(BadSquare.apply(self.fc1(x)))


def build():
    dl.manual_seed(0)
    return Net()
'''

GRADCHECKED = ()  # BadSquare and Scaled are planted faults, not library ops


def mse(out, y):
    return ((out - y) ** 2).mean()


def test_tiny_derivatives_beside_a_large_loss_are_not_failures():
    """A directional derivative of ~1e-7 beside a loss of 4: the central difference's
    rounding (u·|L|/ε ≈ 1e-9) is a relative error of ~1e-2 there, which is no fault of
    the backward pass; a gradient wrong by 1 % at that size must still fail."""
    dl.manual_seed(0)
    model = dl.nn.Linear(5, 3)
    x = dl.randn(4, 5)

    def loss(out):
        return 1e-7 * (out ** 2).sum() + 4.0

    report = gradcheck_model(model, loss, x)
    assert report.passed, report.table()

    class Scaled(dl.autograd.Function):          # y = x, backward off by 1 %
        def forward(self, x):
            return x.copy()

        def backward(self, g):
            return 1.01 * g

    def wrong(out):
        return 1e-3 * (Scaled.apply(out) ** 2).sum() + 4.0

    report = gradcheck_model(model, wrong, x)
    assert not report.passed and {p.status for p in report.params} == {"FAIL"}


def test_correct_mlp_passes_on_a_float64_copy():
    dl.manual_seed(0)
    nn = dl.nn
    model = nn.Sequential(nn.Linear(6, 40), nn.Tanh(), nn.Linear(40, 3))
    x, y = dl.randn(8, 6), dl.randn(8, 3)
    report = gradcheck_model(model, mse, (x, y))
    assert report.passed, report.table()
    assert model[0].weight.dtype == np.float32            # the original is untouched
    names = [p.name for p in report.params]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    full = {p.name: p.full for p in report.params}
    assert full["2.bias"] and not full["0.weight"]        # 240 elements: directions only
    assert max(p.max_rel_error for p in report.params) < 1e-6
    assert "passed" in report.verdict


def test_relu_exactly_at_zero_is_reported_as_kink_not_failure():
    dl.manual_seed(0)
    nn = dl.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].bias.data[...] = 0
    report = gradcheck_model(model, mse, (dl.zeros(2, 3), dl.randn(2, 2)))
    assert report.passed
    assert sum(p.kinks for p in report.params) > 0
    assert "non-differentiable" in report.verdict
    status = {p.name: p.status for p in report.params}
    assert status["0.bias"] == "unverified" and "unverified" in report.table()


def test_dropout_is_replayed_identically():
    dl.manual_seed(0)
    nn = dl.nn
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
    report = gradcheck_model(model, mse, (dl.randn(4, 5), dl.randn(4, 2)))
    assert report.passed, report.table()


def test_wrong_backward_fails(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(BAD_MODULE)
    from deltaflow.cli.targets import resolve
    t = resolve(f"{path}:build")
    report = gradcheck_model(t.model, t.loss_fn, (t.x, t.y))
    assert not report.passed
    status = {p.name: p.status for p in report.params}
    assert status["fc1.weight"] == "FAIL" and status["fc1.bias"] == "FAIL"
    assert status["fc2.weight"] == "ok" and status["fc2.bias"] == "ok"


def test_cli_exit_status(tmp_path, capsys):
    path = tmp_path / "bad.py"
    path.write_text(BAD_MODULE)
    assert main(["gradcheck", f"{path}:build"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "fc1.weight" in out and "FAILED" in out
    assert main(["gradcheck", "4,8,3", "--activation", "sigmoid"]) == 0
    assert "passed" in capsys.readouterr().out
    assert main(["gradcheck", "textbook", "--format", "json"]) == 0
    assert '"passed": true' in capsys.readouterr().out
    assert main(["gradcheck", str(tmp_path / "missing.py") + ":build"]) != 0


def test_params_filter_and_errors():
    dl.manual_seed(0)
    model = dl.nn.Sequential(dl.nn.Linear(2, 3), dl.nn.Tanh(), dl.nn.Linear(3, 1))
    batch = (dl.randn(4, 2), dl.randn(4, 1))
    report = gradcheck_model(model, mse, batch, params=["2.bias"])
    assert [p.name for p in report.params] == ["2.bias"] and report.passed
    with pytest.raises(ValueError, match="no trainable parameter named 9.weight"):
        gradcheck_model(model, mse, batch, params=["9.weight"])
    with pytest.raises(ValueError, match="scalar"):
        gradcheck_model(model, lambda out, y: out - y, batch)


class TiedMax(dl.nn.Module):
    """max over [a(x), b(x)] with b a copy of a: every element is a tie (the gradient goes to
    the first arg-max, as in PyTorch)."""

    def __init__(self):
        super().__init__()
        self.a = dl.nn.Linear(3, 2)
        self.b = dl.nn.Linear(3, 2)
        self.b.load_state_dict(self.a.state_dict())

    def forward(self, x):
        values, _ = dl.stack([self.a(x), self.b(x)]).max(dim=0)
        return values


def test_max_ties_are_reported_as_kinks():
    dl.manual_seed(0)
    report = gradcheck_model(TiedMax(), mse, (dl.randn(4, 3), dl.randn(4, 2)))
    assert report.passed, report.table()
    assert all(p.kinks > 0 for p in report.params)
    assert "non-differentiable" in report.verdict


def test_symmetric_tie_split_agrees_with_central_differences():
    """dl.maximum splits a tie ½–½: exactly the central difference, so no kink to report."""
    class TiedMaximum(TiedMax):
        def forward(self, x):
            return dl.maximum(self.a(x), self.b(x))

    dl.manual_seed(0)
    report = gradcheck_model(TiedMaximum(), mse, (dl.randn(4, 3), dl.randn(4, 2)))
    assert report.passed and sum(p.kinks for p in report.params) == 0
