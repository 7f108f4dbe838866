"""Losses against PyTorch (float64): every option, every reduction, extreme logits."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F
from deltaflow.ops import loss as L
from opcheck import SECOND_ORDER, OpCase, assert_gradcheck, check_op

from .helpers import rand, torch

TF = torch.nn.functional

# _Pointwise is the shared forward/backward of the six pointwise losses gradchecked below
GRADCHECKED = ("CrossEntropy", "CrossEntropyProbs", "NLLLoss", "MSELoss", "L1Loss", "HuberLoss",
               "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "_Pointwise")
GRADGRADCHECKED = ("CrossEntropy", "CrossEntropyProbs", "NLLLoss", "MSELoss", "L1Loss",
                   "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "_Pointwise")

REDUCTIONS = ["mean", "sum", "none"]


def compare(d_fn, t_fn, *arrays, rtol=1e-9, atol=1e-12, seed=0):
    d_in = [dl.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    d_out, t_out = d_fn(*d_in), t_fn(*t_in)
    assert d_out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=rtol, atol=atol)
    assert np.all(np.isfinite(d_out.numpy()))
    w = np.random.default_rng(seed).standard_normal(t_out.shape)
    (d_out * dl.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for k, (d, t) in enumerate(zip(d_in, t_in)):
        if t.requires_grad:
            np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {k}")
            assert np.all(np.isfinite(d.grad.numpy()))
    return d_out


# ------------------------------------------------------------------------- gradchecks
def test_gradcheck_cross_entropy_ops():
    z, y = rand(4, 3, 2), np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    w = np.array([0.5, 2.0, 1.0])
    for red in REDUCTIONS:
        assert_gradcheck(lambda z, red=red: L.CrossEntropy.apply(z, target=y, weight=w,
                                                        label_smoothing=0.2, reduction=red), z)
    p = np.random.default_rng(1).dirichlet(np.ones(3), size=4)
    assert_gradcheck(lambda z, p: L.CrossEntropyProbs.apply(z, p, weight=w, label_smoothing=0.1,
                                                            reduction="mean"), rand(4, 3), p)
    assert_gradcheck(lambda x: L.NLLLoss.apply(x, target=y, weight=w), z)


def test_gradcheck_pointwise_losses():
    x, y = rand(3, 4), rand(3, 4, seed=1)
    assert_gradcheck(lambda a, b: L.MSELoss.apply(a, b), x, y)
    assert_gradcheck(lambda a, b: L.L1Loss.apply(a, b, reduction="sum"), x, y)
    assert_gradcheck(lambda a, b: L.HuberLoss.apply(a, b, delta=0.5), x, y)
    assert_gradcheck(lambda a, b: L.HuberLoss.apply(a, b, delta=0.5, scale=2.0), x, y)
    pr = np.random.default_rng(2).uniform(0.1, 0.9, (3, 4))
    t = np.random.default_rng(3).uniform(0, 1, (3, 4))
    assert_gradcheck(lambda a, b: L.BCELoss.apply(a, b, weight=np.arange(1.0, 5.0)), pr, t)
    assert_gradcheck(lambda a, b: L.BCEWithLogitsLoss.apply(a, b, pos_weight=np.array(
        [0.5, 1.0, 2.0, 3.0])), x, t)
    assert_gradcheck(lambda a, b: L.KLDivLoss.apply(a, b, reduction="batchmean", batch=3),
                     np.log(pr), t)
    assert_gradcheck(lambda a, b: L.KLDivLoss.apply(a, b, log_target=True), np.log(pr), x)


# ------------------------------------------------------------------------ cross-entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4), (2, 5, 3, 2)])
def test_cross_entropy_class_indices(reduction, label_smoothing, weighted, shape):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(shape) * 3
    y = rng.integers(0, 5, (shape[0],) + shape[2:])
    y.reshape(-1)[::4] = -100
    w = rng.uniform(0.2, 2.0, 5) if weighted else None
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    compare(lambda z, y: F.cross_entropy(z, y, weight=None if w is None else dl.tensor(w), **kw),
            lambda z, y: TF.cross_entropy(z, y, weight=None if w is None else torch.tensor(w),
                                          **kw), z, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(reduction):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 3, 2))
    p = rng.dirichlet(np.ones(3), size=(4, 2)).transpose(0, 2, 1).copy()
    w = rng.uniform(0.5, 1.5, 3)
    compare(lambda z, p: F.cross_entropy(z, p, weight=dl.tensor(w), reduction=reduction,
                                         label_smoothing=0.1),
            lambda z, p: TF.cross_entropy(z, p, weight=torch.tensor(w), reduction=reduction,
                                          label_smoothing=0.1), z, p)


def test_cross_entropy_extreme_logits_are_finite():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]])
    y = np.array([1, 0, 2])
    for ls in (0.0, 0.1):
        compare(lambda z, y, ls=ls: F.cross_entropy(z, y, label_smoothing=ls),
                lambda z, y, ls=ls: TF.cross_entropy(z, y, label_smoothing=ls), z, y, rtol=1e-7)
    p = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    compare(F.cross_entropy, TF.cross_entropy, z, p, rtol=1e-7)
    out = F.cross_entropy(dl.tensor(z.astype(np.float32), requires_grad=True), dl.tensor(y))
    assert out.dtype == dl.float32 and np.isfinite(out.item())


def test_cross_entropy_unbatched_and_float32():
    compare(lambda z, y: F.cross_entropy(z, y, reduction="none"),
            lambda z, y: TF.cross_entropy(z, y, reduction="none"), rand(5), np.array(3))
    z = dl.randn(8, 10, requires_grad=True)
    loss = nn.CrossEntropyLoss()(z, dl.tensor(np.arange(8)))
    loss.backward()
    assert loss.dtype == dl.float32 and z.grad.dtype == dl.float32


def test_cross_entropy_errors():
    z = dl.randn(4, 3)
    with pytest.raises(IndexError, match="target 3 is out of bounds for 3 classes"):
        F.cross_entropy(z, dl.tensor(np.array([0, 1, 3, 0])))
    with pytest.raises(ValueError, match=r"expected target of shape \(4,\)"):
        F.cross_entropy(z, dl.tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(z, dl.tensor(np.array([0, 1, 2, 0])), reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(z, dl.tensor(np.array([0, 1, 2, 0])), weight=dl.ones(4))
    with pytest.raises(ValueError, match="class probabilities"):
        F.cross_entropy(z, dl.randn(4, 2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    rng = np.random.default_rng(3)
    x = np.log(rng.dirichlet(np.ones(4), size=6))
    y = np.array([0, 3, -100, 2, 1, 1])
    w = rng.uniform(0.5, 2, 4)
    compare(lambda x, y: F.nll_loss(x, y, weight=dl.tensor(w), reduction=reduction),
            lambda x, y: TF.nll_loss(x, y, weight=torch.tensor(w), reduction=reduction), x, y)
    compare(lambda x, y: F.nll_loss(x, y, ignore_index=3, reduction=reduction),
            lambda x, y: TF.nll_loss(x, y, ignore_index=3, reduction=reduction), x,
            np.array([0, 3, 1, 2, 1, 1]))


# ------------------------------------------------------------------ regression losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction):
    x, y = rand(4, 5) * 2, rand(4, 5, seed=1)
    compare(lambda a, b: F.mse_loss(a, b, reduction=reduction),
            lambda a, b: TF.mse_loss(a, b, reduction=reduction), x, y)
    compare(lambda a, b: F.l1_loss(a, b, reduction=reduction),
            lambda a, b: TF.l1_loss(a, b, reduction=reduction), x, y)
    for beta in (0.0, 0.5, 2.0):
        compare(lambda a, b, beta=beta: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                lambda a, b, beta=beta: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                x, y)
    for delta in (0.3, 1.0, 3.0):
        compare(lambda a, b, d=delta: F.huber_loss(a, b, reduction=reduction, delta=d),
                lambda a, b, d=delta: TF.huber_loss(a, b, reduction=reduction, delta=d), x, y)


def test_mse_broadcast_and_python_target_and_legacy_flags():
    x = rand(3, 4)
    d = F.mse_loss(dl.tensor(x), 0.5)
    np.testing.assert_allclose(d.item(), np.mean((x - 0.5) ** 2))
    assert F.mse_loss(dl.tensor(x), dl.tensor(x), size_average=False).item() == 0
    assert F.l1_loss(dl.tensor(x), dl.zeros(3, 4).double(), reduce=False).shape == (3, 4)
    with pytest.raises(ValueError, match="mse_loss: target of shape"):
        F.mse_loss(dl.tensor(x), dl.randn(5))


# ------------------------------------------------------------------ binary losses, KL
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.01, 0.99, (5, 3))
    p[0, 0], p[1, 1] = 0.0, 1.0  # log clamped at -100 like PyTorch
    t = rng.uniform(0, 1, (5, 3))
    w = rng.uniform(0.5, 2, 3)
    compare(lambda a, b: F.binary_cross_entropy(a, b, weight=dl.tensor(w), reduction=reduction),
            lambda a, b: TF.binary_cross_entropy(a, b, weight=torch.tensor(w),
                                                 reduction=reduction),
            p[2:], t[2:])
    d = F.binary_cross_entropy(dl.tensor(p), dl.tensor(t), reduction=reduction)
    e = TF.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction=reduction)
    np.testing.assert_allclose(d.numpy(), e.numpy(), rtol=1e-9)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(dl.tensor(p + 1), dl.tensor(t))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3)) * 3
    x[0] = [1e4, -1e4, 0.0]
    t = rng.uniform(0, 1, (5, 3))
    w, pw = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 3, 3)
    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), lambda
            a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction), x, t, rtol=1e-8)
    compare(lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, weight=dl.tensor(w), pos_weight=dl.tensor(pw), reduction=reduction),
        lambda a, b: TF.binary_cross_entropy_with_logits(
            a, b, weight=torch.tensor(w), pos_weight=torch.tensor(pw), reduction=reduction),
        x, t, rtol=1e-8)


@pytest.mark.filterwarnings("ignore:reduction")
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    rng = np.random.default_rng(6)
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    t = rng.dirichlet(np.ones(4), size=3)
    t = np.log(t) if log_target else t
    compare(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
            lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target), x, t)


def test_kl_div_zero_target_gives_zero_loss():
    x = dl.tensor(np.log(np.full((2, 2), 0.5)))
    t = dl.tensor(np.array([[0.0, 1.0], [1.0, 0.0]]))
    np.testing.assert_allclose(F.kl_div(x, t, reduction="sum").item(), 2 * np.log(2))


# ----------------------------------------------------------------------- loss modules
MODULES = [
    ("L1Loss", {}), ("MSELoss", {"reduction": "sum"}), ("SmoothL1Loss", {"beta": 0.5}),
    ("HuberLoss", {"delta": 0.5, "reduction": "none"}),
]


@pytest.mark.parametrize("name,kw", MODULES)
def test_regression_loss_modules(name, kw):
    d, t = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    compare(d, t, rand(3, 4), rand(3, 4, seed=1))
    assert repr(d) == repr(t)


def test_kl_div_module():
    p = np.random.default_rng(7).dirichlet(np.ones(4), size=3)
    compare(nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"),
            np.log(p), p[::-1].copy())


def test_classification_loss_modules_with_buffers():
    w = np.array([0.3, 1.0, 2.0])
    d = nn.CrossEntropyLoss(weight=dl.tensor(w), ignore_index=1, label_smoothing=0.1)
    t = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1, label_smoothing=0.1)
    assert list(d.state_dict()) == list(t.state_dict()) == ["weight"]
    compare(d, t, rand(5, 3), np.array([0, 1, 2, 2, 0]))
    compare(nn.NLLLoss(weight=dl.tensor(w)), torch.nn.NLLLoss(weight=torch.tensor(w)),
            np.log(np.full((2, 3), 1 / 3)), np.array([2, 0]))
    p = np.random.default_rng(0).uniform(0.1, 0.9, (4, 3))
    compare(nn.BCELoss(), torch.nn.BCELoss(), p, p[::-1].copy())
    d = nn.BCEWithLogitsLoss(pos_weight=dl.tensor(w))
    t = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w))
    assert list(d.state_dict()) == list(t.state_dict())
    compare(d, t, rand(4, 3), p)
    assert nn.CrossEntropyLoss(reduction="sum").reduction == "sum"
    assert nn.MSELoss(size_average=False).reduction == "sum"


def test_bce_with_logits_float32_extremes_are_finite():
    x = dl.tensor(np.array([[1e4, -1e4, 0.0, 88.0, -88.0]], dtype=np.float32),
                  requires_grad=True)
    t = dl.tensor(np.array([[0.0, 1.0, 0.5, 0.0, 1.0]], dtype=np.float32))
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="sum")
    loss.backward()
    assert loss.dtype == dl.float32 and np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), 1e4 + 1e4 + np.log(2) + 88 + 88, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [[1, -1, 0, 1, -1]], atol=1e-6)


def test_cross_entropy_properties():
    """Shifting a row of logits changes nothing; each row's gradient sums to zero."""
    pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    @settings(max_examples=40, deadline=None)
    @given(arrays(np.float64, (4, 5), elements=st.floats(-50, 50)),
           st.lists(st.integers(0, 4), min_size=4, max_size=4), st.floats(-1e3, 1e3),
           st.floats(0, 1))
    def check(z, y, shift, ls):
        y = dl.tensor(np.array(y))
        a = dl.tensor(z, requires_grad=True)
        la = F.cross_entropy(a, y, label_smoothing=ls)
        lb = F.cross_entropy(dl.tensor(z + shift), y, label_smoothing=ls)
        np.testing.assert_allclose(la.item(), lb.item(), rtol=1e-9, atol=1e-9)
        la.backward()
        np.testing.assert_allclose(a.grad.numpy().sum(1), 0, atol=1e-12)
        assert la.item() >= 0

    check()


# ------------------------------------------------------------------- second derivatives
def loss_case(name, op, shapes, draw=None, **kw):
    """``F.<op>(input, *rest, **kw)`` against PyTorch's; tensor-valued options (weights,
    targets) given as arrays in ``kw`` become constant tensors of either library."""
    def call(lib, fn):
        def run(*a):
            options = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v
                       for k, v in kw.items()}
            return fn(*a, **options)
        return run
    case = OpCase(name, call(dl, getattr(F, op)), None, call(torch, getattr(TF, op)))
    return case.at(*shapes) if draw is None else OpCase(
        name, case.fn, None, case.torch_fn, draw=draw).at(*shapes)


def probabilities(rng, shape):
    return rng.uniform(0.1, 0.9, shape)


TARGET = np.array([1, 0, 3, 2])
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
SECOND_ORDER_CASES = [
    loss_case("cross_entropy", "cross_entropy", [(4, 4)], target=TARGET),
    loss_case("cross_entropy_all_options", "cross_entropy", [(4, 4)],
              target=np.array([1, -100, 3, 2]), weight=CLASS_WEIGHT, label_smoothing=0.2),
    loss_case("cross_entropy_nd_sum", "cross_entropy", [(2, 3, 3)],
              target=np.array([[1, 0, 2], [2, 2, 0]]), reduction="sum", label_smoothing=0.1),
    loss_case("cross_entropy_none_weight", "cross_entropy", [(4, 4)], target=TARGET,
              weight=CLASS_WEIGHT, reduction="none"),
    loss_case("cross_entropy_probs", "cross_entropy", [(3, 4), (3, 4)],
              (lambda rng, s: rng.standard_normal(s), probabilities),
              weight=CLASS_WEIGHT, label_smoothing=0.1),
    loss_case("nll_loss", "nll_loss", [(4, 4)], target=np.array([1, -100, 3, 2]),
              weight=CLASS_WEIGHT),
    loss_case("mse_loss", "mse_loss", [(3, 4), (3, 4)]),
    loss_case("l1_loss", "l1_loss", [(3, 4), (3, 4)], reduction="sum"),
    loss_case("huber_loss", "huber_loss", [(3, 4), (3, 4)], delta=0.7),
    loss_case("smooth_l1_loss", "smooth_l1_loss", [(3, 4), (3, 4)], beta=0.5),
    loss_case("binary_cross_entropy", "binary_cross_entropy", [(3, 4), (3, 4)],
              probabilities, weight=CLASS_WEIGHT),
    loss_case("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
              [(3, 4), (3, 4)], (lambda rng, s: rng.standard_normal(s), probabilities),
              pos_weight=CLASS_WEIGHT),
    loss_case("kl_div", "kl_div", [(3, 4), (3, 4)],
              (lambda rng, s: rng.standard_normal(s), probabilities), reduction="batchmean"),
    loss_case("kl_div_log_target", "kl_div", [(3, 4), (3, 4)], reduction="sum",
              log_target=True),
]


@pytest.mark.parametrize("check", SECOND_ORDER)
@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=str)
def test_second_order(case, check):
    """create_graph: each loss's gradient is differentiable again (the pointwise losses
    run their own ∂ℓ/∂x, ∂ℓ/∂y formulas on Tensors; the cross-entropies recompute
    log-softmax)."""
    check_op(case, check)
