"""The PyTorch-parity nn additions against torch (float64): Threshold, Hardshrink,
Softshrink, Tanhshrink, RReLU, Softmax2d, CosineSimilarity, PairwiseDistance, LPPool1d/2d,
LocalResponseNorm, the margin losses (SoftMarginLoss, MultiMarginLoss, MultiLabelMarginLoss,
TripletMarginWithDistanceLoss), each with its functional form; Dropout3d and AlphaDropout by
their masks and statistics."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F
from opcheck import assert_matches_torch

from .helpers import compare_module, rand, torch

TN, TF = torch.nn, torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def same(dl_fn, torch_fn, *arrays):
    assert_matches_torch(dl_fn, torch_fn, *arrays, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda m: m.Threshold(0.1, -2.0), lambda m: m.Hardshrink(), lambda m: m.Hardshrink(0.3),
    lambda m: m.Softshrink(), lambda m: m.Softshrink(0.2), lambda m: m.Tanhshrink(),
    lambda m: m.Softmax2d(),
    lambda m: m.LocalResponseNorm(3), lambda m: m.LocalResponseNorm(2, 0.1, 0.5, 2.0)])
def test_elementwise_and_channel_modules(make):
    compare_module(make(nn), make(TN), rand(2, 3, 4, 5))


def test_rrelu_eval_matches_torch_and_training_draws_slopes():
    compare_module(nn.RReLU(0.1, 0.4), TN.RReLU(0.1, 0.4), rand(3, 4), train=False)
    x = dl.tensor(rand(200), requires_grad=True)
    dl.manual_seed(0)
    y = nn.RReLU(0.1, 0.4)(x)
    y.sum().backward()
    negative = x.numpy() < 0
    slopes = y.numpy()[negative] / x.numpy()[negative]
    assert (slopes >= 0.1).all() and (slopes <= 0.4).all() and slopes.std() > 0
    np.testing.assert_allclose(x.grad.numpy()[negative], slopes)
    np.testing.assert_array_equal(y.numpy()[~negative], x.numpy()[~negative])


def test_distance_modules():
    a, b = rand(3, 4), rand(3, 4, seed=1)
    compare_module(nn.CosineSimilarity(), TN.CosineSimilarity(), a, b)
    compare_module(nn.CosineSimilarity(dim=0), TN.CosineSimilarity(dim=0), a, b)
    compare_module(nn.PairwiseDistance(), TN.PairwiseDistance(), a, b)
    compare_module(nn.PairwiseDistance(1.0, keepdim=True), TN.PairwiseDistance(1.0, keepdim=True),
                   a, b)
    same(F.pdist, TF.pdist, rand(5, 3))
    same(lambda x: F.pdist(x, 3.0), lambda x: TF.pdist(x, 3.0), rand(5, 3))


@pytest.mark.parametrize("make, shape", [
    (lambda m: m.LPPool1d(2, 3), (2, 3, 7)), (lambda m: m.LPPool1d(3, 2, stride=1), (2, 3, 6)),
    (lambda m: m.LPPool2d(2, 2), (2, 3, 4, 6)),
    (lambda m: m.LPPool2d(1.5, (2, 3), 1), (1, 2, 4, 5)),
])
def test_lp_pool(make, shape):
    x = np.abs(rand(*shape)) + 0.1   # fractional powers need positive inputs
    compare_module(make(nn), make(TN), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss(reduction):
    y = np.random.default_rng(0).choice([-1.0, 1.0], (3, 4))
    same(lambda x: nn.SoftMarginLoss(reduction=reduction)(x, dl.tensor(y)),
         lambda x: TN.SoftMarginLoss(reduction=reduction)(x, torch.tensor(y)), rand(3, 4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p, margin, weighted", [(1, 1.0, False), (2, 0.5, False), (1, 1.0, True)])
def test_multi_margin_loss(reduction, p, margin, weighted):
    target = np.array([0, 3, 1, 3])
    weight = np.array([0.5, 1.0, 2.0, 0.3]) if weighted else None
    kw = dict(p=p, margin=margin, reduction=reduction)
    d = nn.MultiMarginLoss(weight=None if weight is None else dl.tensor(weight), **kw)
    t = TN.MultiMarginLoss(weight=None if weight is None else torch.tensor(weight), **kw)
    compare_module(d, t, rand(4, 4), target)
    same(lambda x: F.multi_margin_loss(x, target[1:2], **kw),
         lambda x: TF.multi_margin_loss(x, torch.tensor(target[1:2]), **kw), rand(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss(reduction):
    target = np.array([[3, 0, -1, 1], [0, 1, 2, 3], [2, 2, -1, -1]])
    compare_module(nn.MultiLabelMarginLoss(reduction=reduction),
                   TN.MultiLabelMarginLoss(reduction=reduction), rand(3, 4), target)
    same(lambda x: F.multilabel_margin_loss(x, target[0], reduction=reduction),
         lambda x: TF.multilabel_margin_loss(x, torch.tensor(target[0]), reduction=reduction),
         rand(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_with_distance_loss(reduction, swap):
    a, p, n = rand(4, 3), rand(4, 3, seed=1), rand(4, 3, seed=2)
    compare_module(nn.TripletMarginWithDistanceLoss(swap=swap, reduction=reduction),
                   TN.TripletMarginWithDistanceLoss(swap=swap, reduction=reduction), a, p, n)
    kw = dict(margin=0.5, swap=swap, reduction=reduction)
    same(lambda a, p, n: F.triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda x, y: (x - y).abs().sum(-1), **kw),
         lambda a, p, n: TF.triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda x, y: (x - y).abs().sum(-1), **kw), a, p, n)


def test_dropout3d_zeroes_whole_channels():
    dl.manual_seed(0)
    x = dl.ones(4, 6, 2, 3, 2)
    y = nn.Dropout3d(0.5)(x).numpy()
    per_channel = y.reshape(4, 6, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()
    assert nn.Dropout3d(0.5).eval()(x) is x
    assert F.dropout3d(dl.ones(6, 2, 2, 2), 0.5).shape == (6, 2, 2, 2)


def test_alpha_dropout_keeps_mean_and_variance():
    dl.manual_seed(0)
    x = dl.tensor(np.random.default_rng(0).standard_normal(200_000))
    y = nn.AlphaDropout(0.2)(x).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    alpha, p = 1.7580993408473766, 0.2
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped = y == -alpha * a * (1 - p)      # SELU's saturation, rescaled
    assert 0.19 < dropped.mean() < 0.21
    assert nn.AlphaDropout(0.2).eval()(x) is x
    channels = nn.FeatureAlphaDropout(0.5)(dl.ones(3, 8, 4)).numpy()
    assert (channels.min(-1) == channels.max(-1)).all()


def test_reprs():
    assert repr(nn.Threshold(0.1, 20)) == repr(TN.Threshold(0.1, 20))
    assert repr(nn.Hardshrink(0.3)) == repr(TN.Hardshrink(0.3))
    assert repr(nn.LocalResponseNorm(2)) == repr(TN.LocalResponseNorm(2))
    assert repr(nn.RReLU()) == repr(TN.RReLU())
    assert repr(nn.LPPool2d(2, 3)) == repr(TN.LPPool2d(2, 3))
