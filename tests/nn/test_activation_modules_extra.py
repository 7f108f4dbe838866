"""The activation modules PReLU Hardswish Hardsigmoid GLU Softsign Softmin CELU against
PyTorch's (same weights, float64: forward, input and weight gradients, repr, state_dict), and
gumbel_softmax (seeded noise, the straight-through estimator)."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn.functional as DF
from deltaflow import nn

from .helpers import compare_module, rand, torch

MODULES = [  # deltaflow module, torch module, input shape
    (lambda: nn.PReLU(), lambda: torch.nn.PReLU(), (4, 3, 5)),
    (lambda: nn.PReLU(3, 0.1), lambda: torch.nn.PReLU(3, 0.1), (4, 3, 5)),
    (lambda: nn.PReLU(3), lambda: torch.nn.PReLU(3), (2, 3)),
    (lambda: nn.Hardswish(), lambda: torch.nn.Hardswish(), (4, 6)),
    (lambda: nn.Hardsigmoid(), lambda: torch.nn.Hardsigmoid(), (4, 6)),
    (lambda: nn.GLU(), lambda: torch.nn.GLU(), (3, 8)),
    (lambda: nn.GLU(1), lambda: torch.nn.GLU(1), (3, 4, 5)),
    (lambda: nn.Softsign(), lambda: torch.nn.Softsign(), (3, 5)),
    (lambda: nn.Softmin(dim=1), lambda: torch.nn.Softmin(dim=1), (3, 5)),
    (lambda: nn.CELU(), lambda: torch.nn.CELU(), (3, 5)),
    (lambda: nn.CELU(0.5, inplace=True), lambda: torch.nn.CELU(0.5), (3, 5)),
]


@pytest.mark.parametrize("make_d, make_t, shape", MODULES)
def test_module_matches_torch(make_d, make_t, shape):
    d, t = make_d(), make_t()
    x = rand(*shape) * 3
    compare_module(d, t, x)
    assert list(d.state_dict()) == list(t.state_dict())


def test_prelu_weights_and_reprs_match_torch():
    p = nn.PReLU(4, init=0.3)
    assert p.weight.shape == (4,) and p.weight.tolist() == pytest.approx([0.3] * 4)
    assert p.weight.requires_grad and p.weight.dtype == dl.float32
    assert nn.PReLU(dtype=dl.float64).weight.dtype == dl.float64
    for d, t in [(nn.PReLU(), torch.nn.PReLU()), (nn.PReLU(3), torch.nn.PReLU(3)),
                 (nn.Hardswish(), torch.nn.Hardswish()), (nn.Hardsigmoid(True),
                                                          torch.nn.Hardsigmoid(True)),
                 (nn.GLU(), torch.nn.GLU()), (nn.Softsign(), torch.nn.Softsign()),
                 (nn.Softmin(), torch.nn.Softmin()), (nn.Softmin(1), torch.nn.Softmin(1)),
                 (nn.CELU(), torch.nn.CELU()), (nn.CELU(0.5, True), torch.nn.CELU(0.5, True))]:
        assert repr(d) == repr(t)


def test_prelu_and_glu_errors():
    with pytest.raises(RuntimeError, match="prelu: weight has 2 parameters but the input of "
                                           "shape \\(2, 3\\) has 3 channels"):
        DF.prelu(dl.ones(2, 3), dl.ones(2))
    with pytest.raises(RuntimeError, match="prelu: expected weight to be a scalar or 1-D"):
        DF.prelu(dl.ones(2, 3), dl.ones(3, 1))
    with pytest.raises(RuntimeError, match="prelu: input \\(float64\\) and weight \\(float32\\)"):
        DF.prelu(dl.ones(3, dtype=dl.float64), dl.ones(1))
    with pytest.raises(RuntimeError, match="glu: halving dimension must be even, but "
                                           "dimension 1 is size 3"):
        DF.glu(dl.ones(2, 3), 1)
    with pytest.raises(RuntimeError, match="glu: does not support scalars"):
        DF.glu(dl.tensor(1.0))
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        DF.celu(dl.ones(2), 0.0)
    with pytest.raises(TypeError, match="hardswish: expected a floating point input"):
        DF.hardswish(dl.ones(2, dtype=dl.int64))


def test_prelu_of_a_scalar_and_a_1d_input_match_torch():
    for x, w in [(np.array(-2.0), np.array([0.1])), (np.array([-1.0, 2.0, -3.0]),
                                                       np.array([0.2]))]:
        d = DF.prelu(dl.tensor(x), dl.tensor(w))
        t = torch.nn.functional.prelu(torch.tensor(x), torch.tensor(w))
        assert d.shape == tuple(t.shape)
        np.testing.assert_allclose(d.numpy(), t.numpy())


def test_softmin_dim_none_and_dtype_follow_torch():
    x = rand(2, 3, 4)
    d = DF.softmin(dl.tensor(x, dtype=dl.float32), dtype=dl.float64)
    with pytest.warns(UserWarning):
        t = torch.nn.functional.softmin(torch.tensor(x, dtype=torch.float32), dtype=torch.float64)
    assert d.dtype == dl.float64
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-6)


def test_cosine_similarity_and_pairwise_distance_errors():
    with pytest.raises(RuntimeError, match="cosine_similarity: x1 of shape \\(2, 3\\) and x2 "
                                           "of shape \\(4, 3\\) cannot be broadcast"):
        DF.cosine_similarity(dl.ones(2, 3), dl.ones(4, 3))
    with pytest.raises(TypeError, match="cosine_similarity: expected floating point inputs"):
        DF.cosine_similarity(dl.ones(3, dtype=dl.int64), dl.ones(3, dtype=dl.int64), dim=0)
    assert DF.cosine_similarity(dl.ones(3, dtype=dl.int64), dl.ones(3), dim=0).item() \
        == pytest.approx(1.0)
    assert DF.pairwise_distance(dl.ones(3), dl.zeros(3)).shape == ()
    with pytest.raises(TypeError, match="normalize: expected a floating point input"):
        DF.normalize(dl.ones(2, dtype=dl.int64))


# ------------------------------------------------------------------------ gumbel_softmax
def gumbel_noise(logits, seed):
    """The noise gumbel_softmax draws after ``dl.manual_seed(seed)``: −log E, E ~ Exp(1)."""
    dl.manual_seed(seed)
    return -np.log(dl.empty_like(logits).exponential_().numpy())


@pytest.mark.parametrize("tau, dim", [(1.0, -1), (0.5, 0), (2.0, 1)])
def test_gumbel_softmax_is_softmax_of_noisy_logits_with_torchs_gradient(tau, dim):
    x = rand(3, 4, seed=1)
    d_in = dl.tensor(x, requires_grad=True)
    g = gumbel_noise(d_in, seed=7)
    dl.manual_seed(7)
    y = DF.gumbel_softmax(d_in, tau=tau, dim=dim)
    t_in = torch.tensor(x, requires_grad=True)
    t_y = torch.softmax((t_in + torch.tensor(g)) / tau, dim)
    np.testing.assert_allclose(y.numpy(), t_y.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(y.sum(dim).numpy(), 1.0)
    w = rand(3, 4, seed=2)
    (y * dl.tensor(w)).sum().backward()
    (t_y * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(d_in.grad.numpy(), t_in.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient():
    x = rand(5, 6, seed=3)
    hard_in = dl.tensor(x, requires_grad=True)
    dl.manual_seed(11)
    hard = DF.gumbel_softmax(hard_in, tau=0.7, hard=True)
    soft_in = dl.tensor(x, requires_grad=True)
    dl.manual_seed(11)
    soft = DF.gumbel_softmax(soft_in, tau=0.7)
    assert set(np.unique(hard.numpy())) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.numpy().argmax(-1), soft.numpy().argmax(-1))
    np.testing.assert_array_equal(hard.sum(-1).numpy(), np.ones(5))
    w = rand(5, 6, seed=4)
    (hard * dl.tensor(w)).sum().backward()
    (soft * dl.tensor(w)).sum().backward()
    np.testing.assert_allclose(hard_in.grad.numpy(), soft_in.grad.numpy(), rtol=1e-12)
    dl.manual_seed(11)
    again = DF.gumbel_softmax(dl.tensor(x), tau=0.7, hard=True)
    np.testing.assert_array_equal(again.numpy(), hard.numpy())


def test_gumbel_softmax_samples_follow_the_softmax_of_the_logits():
    dl.manual_seed(0)
    logits = dl.tensor(np.log([0.1, 0.3, 0.6])).reshape(1, 3).expand(20_000, 3)
    picks = DF.gumbel_softmax(logits, hard=True).numpy().mean(0)
    np.testing.assert_allclose(picks, [0.1, 0.3, 0.6], atol=0.015)
