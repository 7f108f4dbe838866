"""Margin, embedding and likelihood losses against PyTorch (float64): values and the
gradients of every floating input, for every reduction and option; the modules with
PyTorch's arguments; the weighted regression losses' means."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F
from opcheck import assert_gradcheck, assert_matches_torch

from .helpers import rand, torch

TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def signs(n, seed=0):
    return np.random.default_rng(seed).choice([-1.0, 1.0], n)


def same(dl_fn, torch_fn, *arrays):
    assert_matches_torch(dl_fn, torch_fn, *arrays, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------- margin and embedding losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_margin_ranking_loss(reduction, margin, shape):
    y = signs(int(np.prod(shape))).reshape(shape)
    kw = dict(margin=margin, reduction=reduction)
    same(lambda a, b, t: F.margin_ranking_loss(a, b, t, **kw),
         lambda a, b, t: TF.margin_ranking_loss(a, b, t, **kw),
         rand(*shape), rand(*shape, seed=1), y)


def test_margin_ranking_loss_needs_equal_dims():
    with pytest.raises(RuntimeError, match="margin_ranking_loss: .*same number of dimensions"):
        F.margin_ranking_loss(dl.randn(3, 1), dl.randn(3), dl.ones(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_hinge_embedding_loss(reduction, margin):
    y = signs(20, seed=2).reshape(4, 5)
    kw = dict(margin=margin, reduction=reduction)
    same(lambda x, t: F.hinge_embedding_loss(x, t, **kw),
         lambda x, t: TF.hinge_embedding_loss(x, t, **kw), rand(4, 5), y)
    same(lambda x: F.hinge_embedding_loss(x, y.astype(np.int64), **kw),
         lambda x: TF.hinge_embedding_loss(x, torch.tensor(y.astype(np.int64)), **kw),
         rand(4, 5))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.2])
def test_cosine_embedding_loss(reduction, margin):
    kw = dict(margin=margin, reduction=reduction)
    same(lambda a, b, t: F.cosine_embedding_loss(a, b, t, **kw),
         lambda a, b, t: TF.cosine_embedding_loss(a, b, t, **kw),
         rand(6, 4), rand(6, 4, seed=1), signs(6, seed=3))
    for y in (1.0, -1.0):                                 # one pair: (D,) inputs, 0-d target
        same(lambda a, b, y=y: F.cosine_embedding_loss(a, b, dl.tensor(y), **kw),
             lambda a, b, y=y: TF.cosine_embedding_loss(a, b, torch.tensor(y), **kw),
             rand(4, seed=4), rand(4, seed=5))


def test_cosine_embedding_loss_shape_errors():
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected"):
        F.cosine_embedding_loss(dl.randn(3, 4), dl.randn(3, 4), dl.ones(3, 1))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(dl.randn(4), dl.randn(4), dl.ones(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_loss(reduction, p, swap):
    kw = dict(margin=1.5, p=p, eps=1e-6, swap=swap, reduction=reduction)
    a, pos, neg = rand(5, 4), rand(5, 4, seed=1), rand(5, 4, seed=2) * 0.7
    same(lambda a, b, c: F.triplet_margin_loss(a, b, c, **kw),
         lambda a, b, c: TF.triplet_margin_loss(a, b, c, **kw), a, pos, neg)
    same(lambda a, b, c: nn.TripletMarginLoss(**kw)(a, b, c),
         lambda a, b, c: torch.nn.TripletMarginLoss(**kw)(a, b, c), a[0], pos[0], neg[0])


def test_triplet_margin_loss_errors():
    x = dl.randn(3, 4)
    with pytest.raises(ValueError, match="margin must be greater than 0, got 0"):
        F.triplet_margin_loss(x, x, x, margin=0)
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater"):
        nn.TripletMarginLoss(margin=-1.0)
    with pytest.raises(RuntimeError, match="anchor 2D, positive 2D, and negative 1D inputs"):
        F.triplet_margin_loss(x, x, x[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (5,)])
def test_multilabel_soft_margin_loss(reduction, weighted, shape):
    rng = np.random.default_rng(6)
    y = (rng.random(shape) > 0.5).astype(np.float64)
    w = rng.uniform(0.2, 2.0, 5) if weighted else None
    kw = dict(reduction=reduction)
    same(lambda x, t: F.multilabel_soft_margin_loss(x, t, weight=None if w is None
                                                    else dl.tensor(w), **kw),
         lambda x, t: TF.multilabel_soft_margin_loss(x, t, weight=None if w is None
                                                     else torch.tensor(w), **kw),
         rand(*shape) * 4, y)


# --------------------------------------------------------------------- likelihood losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss(reduction, log_input, full):
    rng = np.random.default_rng(7)
    y = rng.poisson(3.0, (4, 5)).astype(np.float64) + 0.5      # includes y <= 1 and y > 1
    x = rand(4, 5) if log_input else rng.uniform(0.1, 4.0, (4, 5))
    kw = dict(log_input=log_input, full=full, eps=1e-8, reduction=reduction)
    same(lambda x, t: F.poisson_nll_loss(x, t, **kw),
         lambda x, t: TF.poisson_nll_loss(x, t, **kw), x, y)
    same(lambda x, t: nn.PoissonNLLLoss(**kw)(x, t),
         lambda x, t: torch.nn.PoissonNLLLoss(**kw)(x, t), x, y)


VAR_SHAPES = [(4, 3), (4,), (4, 1), (1, 3)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", VAR_SHAPES)
def test_gaussian_nll_loss(reduction, full, var_shape):
    rng = np.random.default_rng(8)
    var = rng.uniform(0.05, 2.0, var_shape)        # entries below eps = 0.1 are clamped
    kw = dict(full=full, eps=0.1, reduction=reduction)
    same(lambda x, t, v: F.gaussian_nll_loss(x, t, v, **kw),
         lambda x, t, v: TF.gaussian_nll_loss(x, t, v, **kw), rand(4, 3), rand(4, 3, seed=1),
         var)
    same(lambda x, t: nn.GaussianNLLLoss(**kw)(x, t, 0.7),
         lambda x, t: torch.nn.GaussianNLLLoss(**kw)(x, t, 0.7), rand(4, 3), rand(4, 3, seed=1))


def test_gaussian_nll_loss_var_errors():
    x = dl.randn(4, 3)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(x, x, dl.tensor([-1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"var is of incorrect size.*got \(3,\)"):
        F.gaussian_nll_loss(x, x, dl.ones(3))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(x, x, dl.ones(2, 3))


def test_composed_losses_gradcheck():
    a, b, c = rand(3, 4), rand(3, 4, seed=1), rand(3, 4, seed=2)
    y = signs(3)
    assert_gradcheck(lambda a, b: F.cosine_embedding_loss(a, b, y, margin=-0.5), a, b)
    assert_gradcheck(lambda a, b, c: F.triplet_margin_loss(a, b, c, margin=3.0, swap=True),
                     a, b, c)
    var = np.random.default_rng(3).uniform(0.5, 2.0, (3, 4))
    assert_gradcheck(lambda x, v: F.gaussian_nll_loss(x, b, v, full=True), a, var)
    assert_gradcheck(lambda x: F.poisson_nll_loss(x, np.abs(b), full=True), a)


# ---------------------------------------------------------------------------- the modules
MODULES = [
    ("MarginRankingLoss", dict(margin=0.3), lambda: (rand(6), rand(6, seed=1), signs(6))),
    ("HingeEmbeddingLoss", dict(margin=0.5), lambda: (rand(6), signs(6))),
    ("CosineEmbeddingLoss", dict(margin=0.1),
     lambda: (rand(6, 3), rand(6, 3, seed=1), signs(6))),
    ("MultiLabelSoftMarginLoss", dict(), lambda: (rand(4, 3), (rand(4, 3, seed=2) > 0) * 1.0)),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, kw, draw", MODULES, ids=[m[0] for m in MODULES])
def test_modules_match_torch(name, kw, draw, reduction):
    d_mod = getattr(nn, name)(reduction=reduction, **kw)
    t_mod = getattr(torch.nn, name)(reduction=reduction, **kw)
    same(d_mod, t_mod, *draw())


def test_multilabel_soft_margin_module_weight_is_a_buffer():
    w = np.array([0.5, 1.0, 2.0])
    d_mod, t_mod = nn.MultiLabelSoftMarginLoss(weight=w), torch.nn.MultiLabelSoftMarginLoss(
        weight=torch.tensor(w))
    assert list(d_mod.state_dict()) == list(t_mod.state_dict()) == ["weight"]
    same(d_mod.double(), t_mod, rand(4, 3), (rand(4, 3, seed=2) > 0) * 1.0)


@pytest.mark.parametrize("size_average, reduce", [(False, None), (None, False), (True, True)])
def test_legacy_reduction_flags(size_average, reduce):
    kw = dict(size_average=size_average, reduce=reduce)
    y = signs(5)
    same(lambda a, b: nn.MarginRankingLoss(**kw)(a, b, y),
         lambda a, b: torch.nn.MarginRankingLoss(**kw)(a, b, torch.tensor(y)),
         rand(5), rand(5, seed=1))
    same(lambda x: F.poisson_nll_loss(x, np.abs(y), **kw),
         lambda x: TF.poisson_nll_loss(x, torch.tensor(np.abs(y)), **kw), rand(5))


def test_new_losses_reject_bad_reductions():
    x = dl.randn(3, 4)
    with pytest.raises(ValueError, match="hinge_embedding_loss: 'avg' is not a valid value"):
        F.hinge_embedding_loss(x, dl.ones(3, 4), reduction="avg")
    with pytest.raises(ValueError, match="gaussian_nll_loss: 'avg' is not a valid value"):
        F.gaussian_nll_loss(x, x, 1.0, reduction="avg")


# ----------------------------------------------------- weighted regression losses (PyTorch)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses(fn, reduction):
    """mse_loss and l1_loss divide Σ wℓ by Σ w for "mean"; huber_loss takes the plain mean."""
    w = np.random.default_rng(9).uniform(0.1, 3.0, (3, 4))
    same(lambda x, t: getattr(F, fn)(x, t, reduction=reduction, weight=dl.tensor(w)),
         lambda x, t: getattr(TF, fn)(x, t, reduction=reduction, weight=torch.tensor(w)),
         rand(3, 4) * 2, rand(3, 4, seed=1))


def test_weight_must_have_the_input_shape():
    x = dl.randn(3, 4)
    with pytest.raises(ValueError, match=r"mse_loss: weight must have the input's shape "
                                         r"\(3, 4\), got \(4,\)"):
        F.mse_loss(x, x, weight=dl.ones(4))
