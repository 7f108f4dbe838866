"""Backward refuses to use an input that was written in place after the forward pass saved
it (PyTorch's version-counter rule), and only then."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn, optim


def _pair():
    w = dl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = dl.tensor([4.0, 5.0, 6.0])
    return w, x


@pytest.mark.parametrize("write", [
    lambda x: x.mul_(2),
    lambda x: x.zero_(),
    lambda x: x.fill_(1.0),
    lambda x: x.copy_(dl.ones(3)),
    lambda x: x.__setitem__(0, 7.0),
], ids=["mul_", "zero_", "fill_", "copy_", "setitem"])
def test_write_to_a_saved_input_is_refused(write):
    w, x = _pair()
    y = w * x                                  # mul saves x to compute dL/dw = x
    with dl.no_grad():
        write(x)
    with pytest.raises(RuntimeError, match=r"mul: input 1 \(shape \(3,\)\) was modified in "
                                           r"place after the forward pass saved it"):
        y.sum().backward()


def test_write_to_an_input_the_op_did_not_save_is_fine():
    w, x = _pair()
    y = w + x                                  # add keeps no input
    x.mul_(2)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0, 1.0])


def test_writes_before_the_forward_pass_are_fine_and_stamps_grow():
    w, x = _pair()
    assert x._version == 0
    x.mul_(1)
    first = x._version
    x[1] = 5.0
    assert 0 < first < x._version
    y = w * x                                  # recorded after the writes: fine
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 5.0, 6.0])


def test_optimizer_step_between_forward_and_backward_is_caught():
    """The classic mistake (e.g. a GAN's second loss reusing a graph through weights the
    first optimizer step already changed): PyTorch raises, so does deltaflow."""
    dl.manual_seed(0)
    layer = nn.Linear(3, 2)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    x = dl.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    loss = layer(x).sum()
    loss.backward(retain_graph=True)
    opt.step()                                 # writes the weight that linear saved
    with pytest.raises(RuntimeError, match="linear: input 1 .* modified in place"):
        loss.backward()


def test_matches_torch_on_the_same_program():
    torch = pytest.importorskip("torch")
    tw = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tx = torch.tensor([4.0, 5.0, 6.0])
    ty = tw * tx
    tx.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()
    tw2, tx2 = torch.tensor([1.0], requires_grad=True), torch.tensor([4.0])
    ty2 = tw2 + tx2
    tx2.mul_(2)
    ty2.sum().backward()                       # torch allows it too

