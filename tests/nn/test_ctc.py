"""CTC loss: the op's gradient against finite differences, values and gradients against
PyTorch's (float64) for padded and concatenated targets, every reduction, blanks, repeats,
different lengths, impossible alignments (``zero_infinity``), unbatched input; errors."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F
from deltaflow.ops import ctc
from opcheck import assert_gradcheck, assert_gradgradcheck

from .helpers import torch

TF = torch.nn.functional
GRADCHECKED = ("CTCLoss",)
# PyTorch has no double backward for CTC: second derivatives vs finite differences
GRADGRADCHECKED = ("CTCLoss",)
REDUCTIONS = ["mean", "sum", "none"]


def log_probs(T, N, C, seed=0):
    return np.log(np.random.default_rng(seed).dirichlet(np.ones(C), size=(T, N)))


def batch(seed=0, T=12, N=4, C=5, blank=0):
    """Random padded targets (no blanks), lengths from 0 to 4, input lengths from 8 to T."""
    rng = np.random.default_rng(seed)
    labels = [c for c in range(C) if c != blank]
    target_lengths = rng.integers(0, 5, N)
    target_lengths[0] = 4
    targets = rng.choice(labels, (N, 4))
    targets[0, 1] = targets[0, 0]                          # a repeat: needs a blank between
    input_lengths = rng.integers(8, T + 1, N)
    input_lengths[0] = T
    return rng.standard_normal((T, N, C)), targets, input_lengths, target_lengths


def compare(z, targets, input_lengths, target_lengths, rtol=1e-9, **kw):
    """Loss of log_softmax(z) and its gradient for z: deltaflow's equal PyTorch's."""
    dz, tz = dl.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    d = F.ctc_loss(F.log_softmax(dz, -1), dl.tensor(targets), dl.tensor(input_lengths),
                   dl.tensor(target_lengths), **kw)
    t = TF.ctc_loss(tz.log_softmax(-1), torch.tensor(targets), torch.tensor(input_lengths),
                    torch.tensor(target_lengths), **kw)
    assert d.shape == tuple(t.shape) and d.dtype == dl.float64
    np.testing.assert_allclose(d.numpy(), t.detach().numpy(), rtol=rtol, atol=1e-12)
    w = np.random.default_rng(1).standard_normal(tuple(t.shape))
    (d * dl.tensor(w)).sum().backward()
    (t * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(dz.grad.numpy(), tz.grad.numpy(), rtol=rtol, atol=1e-12)
    return d


# ------------------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_op_gradcheck(blank):
    lp = log_probs(5, 3, 4)
    targets = np.array([[1, 1], [2, 0], [0, 0]]) if blank == 3 else np.array(
        [[1, 1], [3, 0], [2, 0]])
    for lengths in ([5, 4, 3], [5, 2, 5]):
        assert_gradcheck(lambda x, lengths=lengths: ctc.CTCLoss.apply(
            x, targets=targets, input_lengths=np.array(lengths),
            target_lengths=np.array([2, 1, 0]), blank=blank), lp)


def test_ctc_loss_gradcheck_through_the_reductions():
    lp = log_probs(4, 2, 3)
    for reduction in REDUCTIONS:
        assert_gradcheck(lambda x, r=reduction: F.ctc_loss(x, np.array([1, 2, 2]), [4, 3],
                                                           [2, 1], reduction=r), lp)


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_op_gradgradcheck(zero_infinity):
    """create_graph: the α recursion recomputed on Tensors, differentiated twice; lengths 0
    (an empty input), a repeat, a blank-only target and (with ``zero_infinity``) a target
    too long for its input."""
    lp = log_probs(5, 4, 4)
    targets = np.array([[1, 1], [3, 0], [2, 2], [2, 0]])
    lengths, labels = np.array([5, 4, 2, 0]), np.array([2, 1, 2 if zero_infinity else 1, 0])
    assert_gradgradcheck(lambda x: ctc.CTCLoss.apply(
        x, targets=targets, input_lengths=lengths, target_lengths=labels,
        zero_infinity=zero_infinity), lp)


def test_ctc_loss_gradgradcheck_through_log_softmax():
    assert_gradgradcheck(lambda z: F.ctc_loss(F.log_softmax(z, -1), np.array([1, 2, 2]),
                                              [4, 3], [2, 1]),
                         np.random.default_rng(0).standard_normal((4, 2, 3)))


# ------------------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("blank", [0, 4])
def test_ctc_loss_matches_torch_padded(reduction, blank):
    compare(*batch(blank=blank), blank=blank, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_loss_matches_torch_concatenated(reduction):
    z, targets, input_lengths, target_lengths = batch(seed=2)
    flat = np.concatenate([t[:n] for t, n in zip(targets, target_lengths)])
    padded = compare(z, targets, input_lengths, target_lengths, reduction=reduction)
    concatenated = compare(z, flat, input_lengths, target_lengths, reduction=reduction)
    np.testing.assert_array_equal(padded.numpy(), concatenated.numpy())


def test_ctc_loss_longer_sequences_match_torch():
    rng = np.random.default_rng(3)
    T, N, C = 40, 3, 7
    target_lengths = np.array([12, 5, 9])
    targets = rng.integers(1, C, (N, 12))
    compare(rng.standard_normal((T, N, C)) * 3, targets, np.array([40, 33, 20]),
            target_lengths, reduction="none")


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_impossible_alignments(zero_infinity):
    """A target longer than its input (or needing more steps for repeats) has ℓ = ∞; with
    ``zero_infinity`` its loss and gradient are 0, as in PyTorch."""
    z = np.random.default_rng(4).standard_normal((4, 3, 4))
    targets = np.array([[1, 1, 0], [1, 2, 3], [2, 0, 0]])
    input_lengths, target_lengths = np.array([2, 4, 4]), np.array([2, 3, 1])
    kw = dict(reduction="none", zero_infinity=zero_infinity)
    if zero_infinity:
        loss = compare(z, targets, input_lengths, target_lengths, **kw)
        assert loss.numpy()[0] == 0
        return
    d = F.ctc_loss(F.log_softmax(dl.tensor(z), -1), targets, input_lengths, target_lengths,
                   **kw)
    t = TF.ctc_loss(torch.tensor(z).log_softmax(-1), torch.tensor(targets),
                    torch.tensor(input_lengths), torch.tensor(target_lengths), **kw)
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-9)
    assert np.isinf(d.numpy()[0])


def test_ctc_loss_empty_targets_and_inputs():
    z = np.random.default_rng(5).standard_normal((3, 3, 3))
    compare(z, np.zeros((3, 0), np.int64), np.array([3, 1, 2]), np.array([0, 0, 0]),
            reduction="none")
    d = F.ctc_loss(F.log_softmax(dl.tensor(z), -1), np.array([[1], [1], [1]]), [0, 3, 3],
                   [0, 1, 1], reduction="none")
    t = TF.ctc_loss(torch.tensor(z).log_softmax(-1), torch.tensor([[1], [1], [1]]),
                    torch.tensor([0, 3, 3]), torch.tensor([0, 1, 1]), reduction="none")
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-9)


def test_ctc_loss_unbatched_matches_torch():
    z = np.random.default_rng(6).standard_normal((6, 4))
    for reduction in REDUCTIONS:
        d = compare(z, np.array([1, 3, 3]), np.array(6), np.array(3), reduction=reduction)
        assert d.shape == ()


def test_ctc_loss_float32_and_module():
    z, targets, input_lengths, target_lengths = batch(seed=7)
    lp = dl.tensor(z.astype(np.float32)).log_softmax(-1)
    loss = nn.CTCLoss(blank=0, reduction="sum")(lp, targets, input_lengths, target_lengths)
    expected = torch.nn.CTCLoss(blank=0, reduction="sum")(
        torch.tensor(z.astype(np.float32)).log_softmax(-1), torch.tensor(targets),
        torch.tensor(input_lengths), torch.tensor(target_lengths))
    assert loss.dtype == dl.float32
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-5)


def test_ctc_gradient_is_the_true_derivative_of_log_probs():
    """PyTorch returns exp(lp) − posterior as ∂ℓ/∂lp (its gradient for the logits of a
    log_softmax); deltaflow returns the derivative itself, −posterior. Through log_softmax
    the two are equal (the tests above); on raw log_probs they differ by exp(lp), for t < Tₙ."""
    lp = log_probs(5, 2, 4)
    targets, input_lengths, target_lengths = np.array([[1, 2], [3, 0]]), [5, 3], [2, 1]
    d = dl.tensor(lp, requires_grad=True)
    t = torch.tensor(lp, requires_grad=True)
    F.ctc_loss(d, targets, input_lengths, target_lengths, reduction="sum").backward()
    TF.ctc_loss(t, torch.tensor(targets), torch.tensor(input_lengths),
                torch.tensor(target_lengths), reduction="sum").backward()
    active = (np.arange(5)[:, None] < np.array(input_lengths))[:, :, None]
    np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy() - np.exp(lp) * active,
                               rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------- errors
def test_ctc_loss_argument_errors():
    lp = dl.tensor(log_probs(5, 2, 4))
    targets = np.array([[1, 2], [3, 0]])
    with pytest.raises(RuntimeError, match="input_lengths must be at most T = 5, got 6"):
        F.ctc_loss(lp, targets, [6, 3], [2, 1])
    with pytest.raises(RuntimeError, match=r"targets of shape \(N=2, S >= 3\)"):
        F.ctc_loss(lp, targets, [5, 3], [3, 1])
    with pytest.raises(RuntimeError, match=r"concatenated targets must have "
                                           r"sum\(target_lengths\) = 4 entries, got 3"):
        F.ctc_loss(lp, np.array([1, 2, 3]), [5, 3], [2, 2])
    with pytest.raises(RuntimeError, match=r"blank must be in label range \[0, 4\), got 4"):
        F.ctc_loss(lp, targets, [5, 3], [2, 1], blank=4)
    with pytest.raises(IndexError, match="target 7 is out of bounds for 4 classes"):
        F.ctc_loss(lp, np.array([[1, 7], [3, 0]]), [5, 3], [2, 1])
    with pytest.raises(RuntimeError, match=r"input_lengths must have one entry per sequence "
                                           r"\(2\), got 3"):
        F.ctc_loss(lp, targets, [5, 3, 3], [2, 1])
    with pytest.raises(ValueError, match="ctc_loss: 'avg' is not a valid value"):
        F.ctc_loss(lp, targets, [5, 3], [2, 1], reduction="avg")
    with pytest.raises(ValueError, match=r"log_probs must be a floating point Tensor of shape "
                                         r"\(T, N, C\)"):
        F.ctc_loss(dl.ones(5, 2, 4, 1), targets, [5, 3], [2, 1])
