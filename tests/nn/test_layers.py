"""Layers against PyTorch: same weights (via state_dict), same outputs and gradients."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F
from deltaflow.ops import dropout as D
from deltaflow.ops import embedding as E
from deltaflow.ops import linear as L
from deltaflow.ops import norm as N
from opcheck import SECOND_ORDER, OpCase, assert_gradcheck, assert_gradgradcheck, check_op

from .helpers import compare_module, load_from_torch, rand, torch

tnn = torch.nn

GRADCHECKED = ("Linear", "BatchNorm", "LayerNorm", "Embedding", "Dropout")
GRADGRADCHECKED = ("Linear", "BatchNorm", "LayerNorm", "Embedding", "Dropout")


# ------------------------------------------------------------------------- gradchecks
def test_gradcheck_linear():
    x, w, b = rand(3, 4), rand(5, 4, seed=1), rand(5, seed=2)
    assert_gradcheck(lambda x, w, b: L.Linear.apply(x, w, b), x, w, b)
    assert_gradcheck(lambda x, w: L.Linear.apply(x, w), rand(2, 3, 4), w)
    assert_gradcheck(lambda x, w: L.Linear.apply(x, w), rand(4), w)


def test_gradcheck_batch_norm_train_and_eval():
    x, w, b = rand(4, 3, 2, 2), rand(3, seed=1), rand(3, seed=2)
    assert_gradcheck(lambda x, w, b: N.BatchNorm.apply(x, w, b), x, w, b)
    assert_gradcheck(lambda x: N.BatchNorm.apply(x, has_weight=False, has_bias=False), rand(5, 3))
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([1.5, 0.5, 2.0])
    assert_gradcheck(lambda x, w, b: N.BatchNorm.apply(x, w, b, training=False, running_mean=rm,
                                                       running_var=rv), x, w, b)


def test_gradcheck_layer_norm():
    x = rand(3, 2, 4)
    assert_gradcheck(lambda x, w, b: N.LayerNorm.apply(x, w, b, n_axes=2), x, rand(2, 4, seed=1),
                     rand(2, 4, seed=2))
    assert_gradcheck(lambda x, w: N.LayerNorm.apply(x, w, has_bias=False), x, rand(4, seed=1))
    assert_gradcheck(lambda x: N.LayerNorm.apply(x, has_weight=False, has_bias=False), x)


def test_gradcheck_embedding_and_dropout():
    idx = np.array([[0, 2, 2], [4, 0, 1]])
    # (padding_idx and scale_grad_by_freq change the gradient on purpose: checked vs torch)
    assert_gradcheck(lambda w: E.Embedding.apply(w, index=idx), rand(5, 3))
    mask = (np.random.default_rng(0).random((4, 3)) > 0.5) * 2.0
    assert_gradcheck(lambda x: D.Dropout.apply(x, mask=mask), rand(4, 3))


# ----------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    compare_module(nn.Linear(4, 3, bias=bias), tnn.Linear(4, 3, bias=bias), rand(*shape))


def test_linear_keeps_float32_and_default_init_bounds():
    dl.manual_seed(0)
    lin = nn.Linear(200, 50)
    assert lin.weight.dtype == dl.float32 and lin.bias.dtype == dl.float32
    bound = 1 / np.sqrt(200)
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert np.abs(lin.bias.numpy()).max() <= bound
    y = lin(dl.randn(8, 200))
    y.sum().backward()
    assert y.dtype == dl.float32 and lin.weight.grad.dtype == dl.float32


def test_linear_shape_error_names_layer():
    with pytest.raises(ValueError, match=r"Linear\(in_features=4.*\(\.\.\., 4\).*\(2, 3\)"):
        nn.Linear(4, 2)(dl.randn(2, 3))
    with pytest.raises(ValueError, match="linear"):
        F.linear(dl.randn(2, 3), dl.randn(2, 4))


def test_bilinear_matches_torch():
    compare_module(nn.Bilinear(3, 4, 2), tnn.Bilinear(3, 4, 2), rand(5, 3), rand(5, 4, seed=1))


# ------------------------------------------------------------------------ activations
ACTIVATIONS = [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {"alpha": 0.7}),
    ("SELU", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Mish", {}),
    ("Sigmoid", {}), ("Tanh", {}), ("Softplus", {"beta": 2.0, "threshold": 5.0}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 0.8}), ("LogSigmoid", {}),
    ("Softmax", {"dim": 1}), ("LogSoftmax", {"dim": -1}),
]


@pytest.mark.parametrize("name,kw", ACTIVATIONS)
def test_activation_modules_match_torch(name, kw):
    x = rand(4, 5) * 3
    d_out, _ = compare_module(getattr(nn, name)(**kw), getattr(tnn, name)(**kw), x)
    assert repr(getattr(nn, name)(**kw)) == repr(getattr(tnn, name)(**kw))


def test_activation_repr_with_inplace():
    for name, kw in [("ReLU", {"inplace": True}), ("LeakyReLU", {"inplace": True}),
                     ("ELU", {"alpha": 0.5, "inplace": True}), ("Hardtanh", {"inplace": True})]:
        assert repr(getattr(nn, name)(**kw)) == repr(getattr(tnn, name)(**kw))


def test_softmax_without_dim_uses_pytorch_legacy_rule():
    x = rand(2, 3, 4)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.nn.functional.softmax(torch.tensor(x)).numpy()
    np.testing.assert_allclose(F.softmax(dl.tensor(x)).numpy(), expected, rtol=1e-12)


# ------------------------------------------------------------------- flatten, identity
def test_flatten_unflatten_identity():
    x = rand(2, 3, 4, 5)
    compare_module(nn.Flatten(), tnn.Flatten(), x)
    compare_module(nn.Flatten(0, 2), tnn.Flatten(0, 2), x)
    compare_module(nn.Unflatten(1, (2, 10)), tnn.Unflatten(1, (2, 10)), rand(3, 20))
    assert repr(nn.Unflatten(1, (2, 10))) == repr(tnn.Unflatten(1, (2, 10)))
    assert repr(nn.Flatten()) == repr(tnn.Flatten())
    t = dl.randn(3)
    assert nn.Identity(54, unused="x")(t) is t
    with pytest.raises(ValueError, match="Unflatten"):
        nn.Unflatten(1, (3, 3))(dl.randn(2, 10))


# ------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_running_stats_train_and_eval(momentum, affine):
    d = nn.BatchNorm1d(3, momentum=momentum, affine=affine)
    t = tnn.BatchNorm1d(3, momentum=momentum, affine=affine)
    if affine:
        with torch.no_grad():
            t.weight.copy_(torch.tensor([0.5, 1.5, -2.0]))
            t.bias.copy_(torch.tensor([0.1, 0.0, 0.3]))
    load_from_torch(d, t)
    for step in range(4):
        x = rand(6, 3, seed=step) * (step + 1) + step
        compare_module(d, t, x) if step == 0 else None
        if step:
            d(dl.tensor(x))
            t(torch.tensor(x))
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(getattr(d, name).numpy(), getattr(t, name).numpy(),
                                       rtol=1e-12, err_msg=f"{name} after step {step}")
        assert int(d.num_batches_tracked.item()) == int(t.num_batches_tracked) == step + 1
    d.eval()
    t.eval()
    x = rand(4, 3, seed=9)
    d_in = dl.tensor(x, requires_grad=True)
    t_in = torch.tensor(x, requires_grad=True)
    dy, ty = d(d_in), t(t_in)
    np.testing.assert_allclose(dy.numpy(), ty.detach().numpy(), rtol=1e-10)
    w = rand(4, 3, seed=3)
    (dy * dl.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(d_in.grad.numpy(), t_in.grad.numpy(), rtol=1e-10)
    if affine:
        np.testing.assert_allclose(d.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-10)
    assert int(d.num_batches_tracked.item()) == 4  # eval does not count


def test_batchnorm1d_3d_and_batchnorm2d_match_torch():
    compare_module(nn.BatchNorm1d(3), tnn.BatchNorm1d(3), rand(4, 3, 5))
    d, t = nn.BatchNorm2d(3, eps=1e-3), tnn.BatchNorm2d(3, eps=1e-3)
    compare_module(d, t, rand(2, 3, 4, 5) * 2 + 1)
    np.testing.assert_allclose(d.running_var.numpy(), t.running_var.numpy(), rtol=1e-12)
    compare_module(d, t, rand(2, 3, 4, 5, seed=4), train=False)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    d, t = nn.BatchNorm1d(3, track_running_stats=False), tnn.BatchNorm1d(3,
                                                                          track_running_stats=False)
    assert list(d.state_dict()) == list(t.state_dict()) == ["weight", "bias"]
    compare_module(d, t, rand(5, 3), train=False)


def test_batchnorm_state_dict_keys_and_repr():
    d, t = nn.BatchNorm2d(4), tnn.BatchNorm2d(4)
    assert list(d.state_dict()) == list(t.state_dict())
    assert d.state_dict()["num_batches_tracked"].dtype == dl.int64
    assert repr(d) == repr(t)
    assert repr(nn.BatchNorm1d(2, momentum=None, affine=False)) == repr(
        tnn.BatchNorm1d(2, momentum=None, affine=False))


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected 4D input, got 2D"):
        nn.BatchNorm2d(3)(dl.randn(2, 3))
    with pytest.raises(ValueError, match="3 channels"):
        nn.BatchNorm1d(3)(dl.randn(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(dl.randn(1, 3))


def test_batchnorm_float32_stays_float32():
    bn = nn.BatchNorm1d(4)
    y = bn(dl.randn(8, 4))
    assert y.dtype == dl.float32 and bn.running_mean.dtype == dl.float32


# ------------------------------------------------------------------------- layer norm
@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False},
                                {"eps": 1e-3}])
def test_layernorm_matches_torch(kw):
    d, t = nn.LayerNorm((3, 4), **kw), tnn.LayerNorm((3, 4), **kw)
    if kw.get("elementwise_affine", True):
        with torch.no_grad():
            t.weight.copy_(torch.tensor(rand(3, 4, seed=5)))
    compare_module(d, t, rand(2, 5, 3, 4))
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict())


def test_layernorm_int_shape_and_error():
    compare_module(nn.LayerNorm(6), tnn.LayerNorm(6), rand(4, 6))
    with pytest.raises(ValueError, match="layer_norm"):
        nn.LayerNorm(5)(dl.randn(2, 4))


# -------------------------------------------------------------------------- embedding
def test_embedding_matches_torch_with_padding_idx():
    idx = np.array([[1, 2, 0, 2], [3, 0, 0, 1]])
    d, t = nn.Embedding(5, 3, padding_idx=0), tnn.Embedding(5, 3, padding_idx=0)
    compare_module(d, t, idx)
    assert not np.any(d.weight.grad.numpy()[0])
    assert repr(d) == repr(t)
    assert not np.any(nn.Embedding(4, 2, padding_idx=-1).weight.numpy()[3])


def test_embedding_scale_grad_by_freq_and_max_norm():
    idx = np.array([1, 2, 1, 1, 4])
    compare_module(nn.Embedding(5, 3, scale_grad_by_freq=True),
                   tnn.Embedding(5, 3, scale_grad_by_freq=True), idx)
    d, t = nn.Embedding(5, 3, max_norm=0.5), tnn.Embedding(5, 3, max_norm=0.5)
    compare_module(d, t, idx, rtol=1e-6)
    np.testing.assert_allclose(d.weight.numpy(), t.weight.detach().numpy(), rtol=1e-6)


def test_embedding_from_pretrained_and_errors():
    w = dl.tensor(rand(4, 2))
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad
    np.testing.assert_array_equal(e(dl.tensor(np.array([3]))).numpy(), w.numpy()[[3]])
    with pytest.raises(IndexError, match="index 7 is out of range for 4"):
        e(dl.tensor(np.array([7])))
    with pytest.raises(TypeError, match="integers"):
        e(dl.randn(2))


def test_one_hot():
    out = F.one_hot(dl.tensor(np.array([0, 2, 1])), 4)
    np.testing.assert_array_equal(out.numpy(), torch.nn.functional.one_hot(
        torch.tensor([0, 2, 1]), 4).numpy())
    assert out.dtype == dl.int64 and F.one_hot(dl.tensor(np.array([3]))).shape == (1, 4)


# ---------------------------------------------------------------------------- dropout
def test_dropout_statistics_scaling_and_gradient():
    dl.manual_seed(0)
    drop = nn.Dropout(0.3)
    x = dl.ones(200, 500, requires_grad=True)
    y = drop(x)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    assert y.dtype == dl.float32


def test_dropout_eval_identity_p0_p1_and_seeded():
    x = dl.randn(10, 10)
    drop = nn.Dropout(0.5).eval()
    assert drop(x) is x
    assert F.dropout(x, 0.0) is x
    assert not np.any(F.dropout(x, 1.0).numpy())
    dl.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    dl.manual_seed(3)
    np.testing.assert_array_equal(a, F.dropout(x, 0.5).numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout(0.2)) == repr(tnn.Dropout(0.2))


def test_dropout2d_zeroes_whole_channels():
    dl.manual_seed(1)
    y = nn.Dropout2d(0.5)(dl.ones(8, 16, 3, 3)).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    y3 = nn.Dropout2d(0.5)(dl.ones(4, 6, 5)).numpy()
    assert np.all((y3 == 0).all(-1) | (y3 == 2).all(-1))
    with pytest.raises(ValueError, match="dropout2d"):
        F.dropout2d(dl.ones(4, 6))


# ------------------------------------------------------------------- second derivatives
RUNNING = np.array([0.1, -0.2, 0.3]), np.array([1.5, 0.5, 2.0])
INDEX = np.array([[0, 2, 2], [4, 0, 1]])
KEEP = (np.random.default_rng(0).random((4, 3)) > 0.5) * 2.0
SECOND_ORDER_CASES = [
    OpCase("linear", F.linear, None, torch.nn.functional.linear).at((2, 3, 4), (5, 4), (5,)),
    OpCase("linear_no_bias", F.linear, None, torch.nn.functional.linear).at((4,), (2, 4)),
    OpCase("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, True), None,
           lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, True)).at(
        (4, 3, 2), (3,), (3,)),
    OpCase("batch_norm_train_plain", lambda x: F.batch_norm(x, None, None, training=True),
           None, lambda x: torch.nn.functional.batch_norm(x, None, None, training=True)
           ).at((5, 3)),
    OpCase("batch_norm_eval", lambda x, w, b: F.batch_norm(
        x, *map(dl.tensor, RUNNING), w, b), None,
        lambda x, w, b: torch.nn.functional.batch_norm(x, *map(torch.tensor, RUNNING), w, b)
    ).at((4, 3, 2), (3,), (3,)),
    OpCase("layer_norm", lambda x, w, b: F.layer_norm(x, (2, 3), w, b), None,
           lambda x, w, b: torch.nn.functional.layer_norm(x, (2, 3), w, b)).at(
        (4, 2, 3), (2, 3), (2, 3)),
    OpCase("layer_norm_plain", lambda x: F.layer_norm(x, (5,)), None,
           lambda x: torch.nn.functional.layer_norm(x, (5,))).at((3, 5)),
    OpCase("embedding", lambda w: F.embedding(dl.tensor(INDEX), w), None,
           lambda w: torch.nn.functional.embedding(torch.tensor(INDEX), w)).at((5, 3)),
    OpCase("embedding_padding_idx", lambda w: F.embedding(dl.tensor(INDEX), w, padding_idx=2),
           None, lambda w: torch.nn.functional.embedding(torch.tensor(INDEX), w,
                                                         padding_idx=2)).at((5, 3)),
    OpCase("dropout", lambda x: D.Dropout.apply(x, mask=KEEP), None,
           lambda x: x * torch.tensor(KEEP)).at((4, 3)),
]


@pytest.mark.parametrize("check", SECOND_ORDER)
@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=str)
def test_second_order(case, check):
    check_op(case, check)


def test_second_order_of_norms_through_a_nonlinearity_matches_torch():
    """tanh(norm(x))²: the normalisation's own second derivative (x̂ is not linear in x)."""
    from opcheck import assert_second_order_matches_torch
    TF = torch.nn.functional
    x, w, b = rand(4, 3, 2), rand(3, seed=1), rand(3, seed=2)
    assert_second_order_matches_torch(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, True).tanh() ** 2,
        lambda x, w, b: TF.batch_norm(x, None, None, w, b, True).tanh() ** 2, x, w, b)
    assert_second_order_matches_torch(
        lambda x, w, b: F.layer_norm(x, (2,), w[:2], b[:2]).tanh() ** 2,
        lambda x, w, b: TF.layer_norm(x, (2,), w[:2], b[:2]).tanh() ** 2, x, w, b)


def test_embedding_scale_grad_by_freq_second_order_is_exact():
    """With scale_grad_by_freq, ∂L/∂W = (1/count)·scatter(g) and its derivative in g is the
    gather of (1/count)·u: gradgradcheck (PyTorch's double backward leaves out 1/count)."""
    assert_gradgradcheck(lambda w: F.embedding(dl.tensor(INDEX), w, scale_grad_by_freq=True),
                         rand(5, 3))
