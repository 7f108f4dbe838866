"""``dl.warnings``: each classic mistake warns with its snippet, once, attributed to the
user's line, silenced by Python's filters or marked deliberate with ``dl.warnings.allow``;
and the correct forms of the same loops, ``deltaflow train`` of every task included, warn
about nothing (docs/reliability.md, "Warnings for the classic mistakes")."""
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.cli import main
from deltaflow.nn import functional as F

W = dl.warnings
MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def rearmed():
    W.reset()
    yield
    W.reset()


def data(n=16):
    rng = np.random.default_rng(0)
    return dl.tensor(rng.standard_normal((n, 4)).astype(np.float32)), dl.tensor(np.arange(n) % 2)


def model_of(*extra):
    dl.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), *extra, nn.ReLU(), nn.Linear(8, 2))


def caught(fn):
    """The DeltaflowWarnings ``fn()`` issues (all of them: no "once" filter in between)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn()
    return [w for w in record if issubclass(w.category, W.DeltaflowWarning)]


# ------------------------------------------------------------------ the snippets
def forgot_eval_dropout():
    model, (x, _) = model_of(nn.Dropout(0.5)), data()
    with dl.no_grad():
        model(x)


def forgot_eval_batchnorm():
    model, (x, _) = model_of(nn.BatchNorm1d(8)), data()
    with dl.no_grad():
        model(x)


def kept_graph():
    model, (x, y) = model_of(), data()
    opt = dl.optim.SGD(model.parameters(), lr=0.01)
    total_loss = 0
    for _ in range(16):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        total_loss += loss            # the mistake: loss.item()


def scheduler_first():
    model = model_of()
    opt = dl.optim.SGD(model.parameters(), lr=0.1)
    scheduler = dl.optim.lr_scheduler.StepLR(opt, step_size=1)
    scheduler.step()                  # the mistake: before opt.step()


def unused_parameter():
    model, (x, y) = model_of(), data()
    head = nn.Linear(2, 2)            # forgotten in forward
    opt = dl.optim.Adam(list(model.parameters()) + list(head.parameters()))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def no_zero_grad():
    model, (x, y) = model_of(), data()
    opt = dl.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):
        F.cross_entropy(model(x), y).backward()   # the mistake: no opt.zero_grad()
        opt.step()


def batch_of_one():
    bn = nn.BatchNorm2d(3)
    bn(dl.randn(1, 3, 4, 4))


SNIPPETS = {
    "eval-dropout": (forgot_eval_dropout, W.EvalModeWarning,
                     "Dropout '.*' is in training mode inside no_grad\\(\\).*model.eval\\(\\)"),
    "eval-batchnorm": (forgot_eval_batchnorm, W.EvalModeWarning,
                       "BatchNorm1d '.*' is in training mode inside no_grad"),
    "kept-graph": (kept_graph, W.GraphKeptWarning,
                   "graphs of earlier steps are still alive.*total_loss \\+= loss.*loss.item"),
    "scheduler-first": (scheduler_first, W.SchedulerOrderWarning,
                        "StepLR.step\\(\\) was called before the first optimizer.step\\(\\)"),
    "unused-parameter": (unused_parameter, W.UnusedParameterWarning,
                         "2 of the optimizer's 6 parameters received no gradient in its first "
                         "3 steps: weight \\(Linear, shape \\(2, 2\\)\\), bias \\(Linear"),
    "no-zero-grad": (no_zero_grad, W.GradAccumulationWarning,
                     "same gradients as the step before.*optimizer.zero_grad\\(\\)"),
    "batch-of-one": (batch_of_one, W.BatchOfOneWarning,
                     "BatchNorm2d '.*' is in training mode and got a batch of one sample "
                     "\\(input shape \\(1, 3, 4, 4\\)\\).*drop_last=True"),
}


@pytest.mark.parametrize("name", SNIPPETS)
def test_each_mistake_warns_once_at_the_users_line(name):
    snippet, category, message = SNIPPETS[name]
    record = caught(snippet)
    assert [w.category for w in record] == [category]
    assert record[0].filename == __file__
    assert re.search(message, str(record[0].message)), str(record[0].message)
    assert caught(snippet) == []                     # once per process
    W.reset()
    assert len(caught(snippet)) == 1                 # re-armed


@pytest.mark.parametrize("name", SNIPPETS)
def test_each_can_be_silenced_or_marked_deliberate(name):
    snippet, category, _ = SNIPPETS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=category)
        snippet()
        W.reset()
        warnings.filterwarnings("ignore", category=W.DeltaflowWarning)
        snippet()
    W.reset()
    with W.allow(category):
        assert caught(snippet) == []
    assert len(caught(snippet)) == 1                 # allow() left it armed
    W.reset()
    with W.allow():                                  # every kind
        assert caught(snippet) == []


def test_allow_takes_only_deltaflow_warnings():
    with pytest.raises(TypeError, match="DeltaflowWarning subclasses"):
        with W.allow(UserWarning):
            pass


# ------------------------------------------------------------------ the correct forms
def correct_loop(steps=20, accumulate=1):
    model, (x, y) = model_of(nn.BatchNorm1d(8), nn.Dropout(0.2)), data()
    opt = dl.optim.Adam(model.parameters(), lr=0.01)
    scheduler = dl.optim.lr_scheduler.StepLR(opt, step_size=5)
    total = 0.0
    for _ in range(steps):
        for _k in range(accumulate):         # deliberate accumulation: backward k times
            (F.cross_entropy(model(x), y) / accumulate).backward()
        opt.step()
        opt.zero_grad()
        scheduler.step()
        total += F.cross_entropy(model(x), y).item()
    model.eval()
    with dl.no_grad():
        model(x[:1])                         # one sample, in eval mode
    plateau = dl.optim.lr_scheduler.ReduceLROnPlateau(opt)
    plateau.step(total)


@pytest.mark.parametrize("accumulate", [1, 4])
def test_correct_loops_warn_about_nothing(accumulate):
    assert caught(lambda: correct_loop(accumulate=accumulate)) == []


def test_two_optimizers_and_update_bn_warn_about_nothing():
    def gan_like():
        g, d = model_of(), nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
        opt_g, opt_d = dl.optim.Adam(g.parameters()), dl.optim.Adam(d.parameters())
        x, _ = data()
        for _ in range(20):
            fake = g(x)
            opt_d.zero_grad()
            d(fake.detach()).mean().backward()
            opt_d.step()
            opt_g.zero_grad()
            (-d(fake).mean()).backward()
            opt_g.step()
        dl.optim.swa_utils.update_bn([x], nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    assert caught(gan_like) == []


TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 30


def _task_args(task, tmp_path):
    if task == "classify":
        pytest.importorskip("sklearn")
        return ["--hidden", "16", "--epochs", "2", "--dropout", "0.2"]
    if task == "charlm":
        text = tmp_path / "tiny.txt"
        text.write_text(TEXT)
        return ["--task", "charlm", "--data", f"text:{text}", "--hidden-size", "16",
                "--embed-dim", "8", "--seq-len", "16", "--batch-size", "8", "--epochs", "2",
                "--steps-per-epoch", "20", "--eval-chars", "200", "--sample-tokens", "10"]
    if not MNIST.is_dir():
        pytest.skip("MNIST IDX files not in ../shared/data/mnist")
    return ["--task", "gan", "--data-dir", str(MNIST.parent), "--batch-size", "2048",
            "--epochs", "1"]


@pytest.mark.parametrize("task", ["classify", "charlm", "gan"])
def test_deltaflow_train_warns_about_nothing(task, tmp_path):
    argv = _task_args(task, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", W.DeltaflowWarning)
        assert main(["train", *argv, "--out", str(tmp_path), "--name", "r", "--no-progress",
                     "--no-plot"]) == 0
