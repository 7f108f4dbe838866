"""``.grad`` is always a private array (safe to change in place), and the engine takes a
gradient without copying it when nothing else refers to it (the MLP's weight gradients)."""
import sys
import tracemalloc

import numpy as np
import pytest

import deltaflow as dl

refcounts_checked = sys.implementation.name == "cpython" and sys.version_info < (3, 14)


@pytest.mark.skipif(not refcounts_checked, reason="gradients are always copied here")
def test_fresh_weight_gradient_is_not_copied():
    x = dl.tensor(np.ones((4, 1000)))
    w = dl.tensor(np.ones((1000, 1000)), requires_grad=True)  # 8 MB of float64
    loss = (x @ w).sum()
    tracemalloc.start()
    try:
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * w.data.nbytes, f"backward allocated {peak} bytes: the gradient was copied"
    np.testing.assert_array_equal(w.grad.numpy(), 4.0)


def test_user_gradient_is_not_aliased():
    w = dl.tensor(np.ones(3), requires_grad=True)
    gradient = np.array([1.0, 2.0, 3.0])
    (w + 0.0).backward(gradient)
    w.grad.data *= 10
    np.testing.assert_array_equal(gradient, [1.0, 2.0, 3.0])


def test_gradient_flowing_to_two_leaves_is_not_shared():
    a, b, c = (dl.tensor(np.full(3, v), requires_grad=True) for v in (1.0, 1.0, 2.0))
    ((a + b) * c).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data += 1
    np.testing.assert_array_equal(b.grad.numpy(), 2.0)


def test_gradient_kept_by_a_hook_is_not_aliased():
    w = dl.tensor(np.ones((2, 2)), requires_grad=True)
    x = dl.tensor(np.ones((3, 2)))
    seen = []
    w.register_hook(lambda g: seen.append(g) or None)
    (x @ w).sum().backward()
    assert not np.shares_memory(seen[0].data, w.grad.data)


def test_read_only_gradient_is_copied():
    w = dl.tensor(np.ones((2, 3)), requires_grad=True)
    w.sum().backward()  # sum's backward is a read-only broadcast view of one number
    assert w.grad.data.flags.writeable and w.grad.data.base is None
    w.grad.data[0, 0] = 5.0
    np.testing.assert_array_equal(w.grad.numpy().ravel()[1:], 1.0)
