"""F.embedding_bag and nn.EmbeddingBag equal PyTorch's in float64 (output, weight and
per_sample_weights gradients): modes sum/mean/max, 2-D input, 1-D input with offsets (with
and without include_last_offset, empty bags), padding_idx, per_sample_weights,
scale_grad_by_freq, max_norm; float64 gradcheck of the EmbeddingBag op."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn as nn
import deltaflow.nn.functional as F
from opcheck import OpCase, check_op, op_params

from .helpers import compare_module, rand, torch

tnn, TF = torch.nn, torch.nn.functional

GRADCHECKED = ("EmbeddingBag",)
GRADGRADCHECKED = ("EmbeddingBag",)  # the table's second-order checks

INDEX = np.array([1, 4, 4, 0, 2, 5, 3, 1, 0])
OFFSETS = np.array([0, 2, 2, 5])          # bags [1 4] [] [4 0 2] [5 3 1 0]
MATRIX = np.array([[1, 2, 2], [0, 5, 3], [4, 4, 1]])
PADDED = np.array([[1, 2, 2, 0], [2, 2, 2, 2], [4, 0, 2, 5]])    # padding 2; bag 1 all of it


def bag_case(name, draw_shapes, index, offsets=None, **kw):
    def d_fn(w, *rest):
        psw = {"per_sample_weights": rest[0]} if rest else {}
        return F.embedding_bag(dl.tensor(index), w, None if offsets is None
                               else dl.tensor(offsets), **kw, **psw)

    def t_fn(w, *rest):
        psw = {"per_sample_weights": rest[0]} if rest else {}
        return TF.embedding_bag(torch.tensor(index), w, None if offsets is None
                                else torch.tensor(offsets), **kw, **psw)
    return OpCase(name, d_fn, None, t_fn).at(*draw_shapes)


CASES = [
    bag_case(f"{mode}_offsets", [(6, 3)], INDEX, OFFSETS, mode=mode)
    for mode in ("sum", "mean", "max")
] + [
    bag_case(f"{mode}_2d", [(6, 4)], MATRIX, mode=mode) for mode in ("sum", "mean", "max")
] + [
    bag_case(f"{mode}_padding_idx", [(6, 3)], INDEX, OFFSETS, mode=mode, padding_idx=4)
    for mode in ("sum", "mean", "max")
] + [
    bag_case(f"{mode}_include_last_offset", [(6, 3)], INDEX, np.array([0, 2, 2, 9]),
             mode=mode, include_last_offset=True) for mode in ("sum", "mean", "max")
] + [
    bag_case("sum_per_sample_weights", [(6, 3), (9,)], INDEX, OFFSETS, mode="sum"),
    bag_case("sum_per_sample_weights_2d_padding", [(6, 2), (3, 3)], MATRIX, mode="sum",
             padding_idx=2),
    bag_case("sum_per_sample_weights_2d_padding_only_bag", [(6, 2), (3, 4)], PADDED,
             mode="sum", padding_idx=2),
] + [
    bag_case(f"{mode}_2d_padding", [(6, 3)], PADDED, mode=mode, padding_idx=2)
    for mode in ("sum", "mean", "max")
]


def test_scale_grad_by_freq_divides_by_the_batch_count_like_embedding():
    """As F.embedding's (PyTorch's documented meaning): sum-bags of a 2-D input are sums of
    F.embedding rows. (PyTorch's CPU embedding_bag divides by other counts: a bug there.)"""
    w = rand(6, 3)
    d_w, t_w = dl.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.embedding_bag(dl.tensor(MATRIX), d_w, mode="sum", scale_grad_by_freq=True).sum().backward()
    TF.embedding(torch.tensor(MATRIX), t_w, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(d_w.grad.numpy(), t_w.grad.numpy(), rtol=1e-12)
    d_w.grad = None
    F.embedding_bag(dl.tensor(MATRIX.ravel()), d_w, dl.tensor([0, 3, 6]), mode="mean",
                    scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(d_w.grad.numpy(), t_w.grad.numpy() / 3, rtol=1e-12)


def test_padding_left_out_of_the_work_equals_every_entry_with_weight_0():
    """The op drops the padding_idx entries before its gathers and scatters: the same as
    summing every entry with the padding's weights 0 (output; ∂L/∂W, its padding row 0;
    ∂L/∂w, 0 at the padding) and as PyTorch's, float64."""
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 6, (6, 7))
    idx[rng.random(idx.shape) < 0.5] = 2
    idx[3] = 2                                                  # a bag of padding only
    w, psw, g = rand(6, 3), rand(6, 7, seed=2), rand(6, 3, seed=3)
    keep = dl.tensor((idx != 2).astype(np.float64))
    results = []
    for padding_idx in (2, None):
        d_w, d_p = dl.tensor(w, requires_grad=True), dl.tensor(psw, requires_grad=True)
        p = d_p if padding_idx is not None else d_p * keep
        out = F.embedding_bag(dl.tensor(idx), d_w, mode="sum", per_sample_weights=p,
                              padding_idx=padding_idx)
        (out * dl.tensor(g)).sum().backward()
        results.append([out.numpy(), d_w.grad.numpy(), d_p.grad.numpy()])
    t_w, t_p = torch.tensor(w, requires_grad=True), torch.tensor(psw, requires_grad=True)
    out = TF.embedding_bag(torch.tensor(idx), t_w, mode="sum", per_sample_weights=t_p,
                           padding_idx=2)
    (out * torch.tensor(g)).sum().backward()
    want = [out.detach().numpy(), t_w.grad.numpy(), t_p.grad.numpy()]
    for got in results:
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert not results[0][1][2].any() and not results[0][2][idx == 2].any()


@pytest.mark.parametrize("case,check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


def test_max_ties_send_the_gradient_to_the_first_row():
    w = np.array([[1.0, 2.0], [1.0, 3.0], [0.0, 3.0]])
    d_w, t_w = dl.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    idx = np.array([[0, 1, 2]])
    F.embedding_bag(dl.tensor(idx), d_w, mode="max").sum().backward()
    TF.embedding_bag(torch.tensor(idx), t_w, mode="max").sum().backward()
    np.testing.assert_array_equal(d_w.grad.numpy(), t_w.grad.numpy())


@pytest.mark.parametrize("kw", [{}, dict(mode="sum"), dict(mode="max", padding_idx=2),
                                dict(mode="sum", include_last_offset=True)])
def test_module_matches_torch(kw):
    d, t = nn.EmbeddingBag(6, 3, **kw), tnn.EmbeddingBag(6, 3, **kw)
    assert repr(d) == repr(t)
    offsets = np.array([0, 3, 3, 7]) if kw.get("include_last_offset") else np.array([0, 3, 3])
    idx = np.array([1, 2, 2, 0, 5, 3, 4])

    class Wrap(nn.Module):
        def __init__(self, bag):
            super().__init__()
            self.bag = bag

        def forward(self, i, o):
            return self.bag(i, o)

    class TWrap(tnn.Module):
        def __init__(self, bag):
            super().__init__()
            self.bag = bag

        def forward(self, i, o):
            return self.bag(i, o)
    compare_module(Wrap(d), TWrap(t), idx, offsets)


def test_module_per_sample_weights_and_padding_row_is_zero():
    bag = nn.EmbeddingBag(5, 2, mode="sum", padding_idx=-1)
    assert bag.padding_idx == 4 and not bag.weight.numpy()[4].any()
    t = tnn.EmbeddingBag(5, 2, mode="sum", padding_idx=-1).double()
    bag.double().load_state_dict({"weight": t.weight.detach().numpy()})
    idx, psw = np.array([[0, 4, 1], [2, 2, 3]]), rand(2, 3)
    np.testing.assert_allclose(
        bag(dl.tensor(idx), per_sample_weights=dl.tensor(psw)).numpy(),
        t(torch.tensor(idx), per_sample_weights=torch.tensor(psw)).detach().numpy(), rtol=1e-12)


def test_max_norm_renormalises_like_torch():
    w = rand(6, 3) * 3
    d_w, t_w = dl.tensor(w.copy()), torch.tensor(w.copy())
    F.embedding_bag(dl.tensor(MATRIX), d_w, max_norm=1.0)
    TF.embedding_bag(torch.tensor(MATRIX), t_w, max_norm=1.0)
    np.testing.assert_allclose(d_w.numpy(), t_w.numpy(), rtol=1e-6)


def test_from_pretrained_freezes():
    bag = nn.EmbeddingBag.from_pretrained(dl.tensor(rand(4, 2)), mode="sum")
    assert not bag.weight.requires_grad and bag.mode == "sum"


@pytest.mark.parametrize("call,error,message", [
    (lambda: F.embedding_bag(dl.tensor([1, 2]), dl.randn(4, 2)), ValueError, "needs offsets"),
    (lambda: F.embedding_bag(dl.tensor([[1, 2]]), dl.randn(4, 2), dl.tensor([0])), ValueError,
     "offsets has to be None"),
    (lambda: F.embedding_bag(dl.tensor([1, 2]), dl.randn(4, 2), dl.tensor([1])), ValueError,
     "must start at 0"),
    (lambda: F.embedding_bag(dl.tensor([[1, 2]]), dl.randn(4, 2), mode="max",
                             per_sample_weights=dl.ones(1, 2)), NotImplementedError,
     "only supported for mode='sum'"),
    (lambda: F.embedding_bag(dl.tensor([[1, 2]]), dl.randn(4, 2), per_sample_weights=dl.ones(2)),
     ValueError, "expected the input's shape"),
    (lambda: F.embedding_bag(dl.tensor([[1, 7]]), dl.randn(4, 2)), IndexError, "out of range"),
    (lambda: F.embedding_bag(dl.tensor([[1, 2]]), dl.randn(4, 2), mode="prod"), ValueError,
     "mode has to be one of"),
    (lambda: F.embedding_bag(dl.tensor([1, 2]), dl.randn(4, 2), dl.tensor([0, 1]),
                             include_last_offset=True), ValueError, "CSR format"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_scale_grad_by_freq_second_order(mode):
    """The 1/count factor of ∂L/∂W carries into the double backward (exactly: float64
    finite differences of the gradient), with per-sample weights in sum mode. (The bag
    itself, not a function of it: with the factor, ∂L/∂W is no longer the derivative of
    the output, so a nonlinear function of the output has no consistent second order.)"""
    from opcheck import assert_gradgradcheck
    psw = (rand(9, seed=1),) if mode == "sum" else ()
    assert_gradgradcheck(lambda w, *p: F.embedding_bag(
        dl.tensor(INDEX), w, dl.tensor(OFFSETS), mode=mode, scale_grad_by_freq=True,
        per_sample_weights=p[0] if p else None), rand(6, 3), *psw)
