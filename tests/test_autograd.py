"""The backward engine, grad mode, hooks, dl.autograd.grad and gradcheck."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.autograd import Function
from opcheck import leaf, torch

GRADCHECKED = ()  # the engine's own tests; ops are gradchecked in tests/test_ops_*.py


# --------------------------------------------------------------------- graph walking
def test_100k_op_chain_backprops_without_recursion():
    x = dl.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for k in range(100_000):
        y = y * 1.0 if k % 2 else y + 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(y.numpy(), [50_001.0, 50_002.0])


def test_diamond_graph_sums_both_paths_and_runs_each_node_once():
    calls = []

    class Twice(Function):
        """y = 2x;  ∂y/∂x = 2 (counts its backward calls)."""

        def forward(self, x):
            return 2 * x

        def backward(self, g):
            calls.append(1)
            return 2 * g

    x = leaf([1.0, 2.0])
    h = Twice.apply(x)
    (h * h + h.exp()).sum().backward()
    h_val = 2 * np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * (2 * h_val + np.exp(h_val)))
    assert len(calls) == 1


def test_gradients_accumulate_into_leaves():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2 + 3, 4 + 3])
    x.grad = None
    (x + x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_leaf_grads_are_private_copies():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    g = dl.tensor(np.array([1.0, 1.0]))
    (a + b).backward(gradient=g)
    assert a.grad.data is not b.grad.data and a.grad.data is not g.data
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), [1, 1])
    np.testing.assert_array_equal(g.numpy(), [1, 1])


def test_graph_is_freed_and_second_backward_fails_clearly():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    assert y._ctx.released and x.grad is not None
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*"
                                           "retain_graph=True"):
        y.backward()


def test_saved_arrays_are_released_after_backward():
    x = leaf([1.0, 2.0])
    z = x * x
    assert "a" in z._ctx.__dict__
    z.sum().backward()
    assert not z._ctx.__dict__


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_non_scalar_backward_needs_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"implicitly created only for scalar outputs.*"
                                           r"shape \(2,\).*gradient="):
        (x * 2).backward()
    (x * 2).backward(gradient=dl.tensor(np.array([1.0, 10.0])))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the output has "
                                           r"shape \(2,\)"):
        (x * 2).backward(gradient=np.ones(3))


def test_backward_on_tensor_without_grad_fails_clearly():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dl.ones(2).sum().backward()


def test_backward_from_a_leaf():
    x = dl.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


# ------------------------------------------------------------------------- grad mode
def test_no_grad_and_enable_grad_as_context_managers():
    x = leaf([1.0])
    with dl.no_grad():
        y = x * 2
        assert not dl.is_grad_enabled()
        with dl.enable_grad():
            z = x * 2
        w = x * 2
    assert dl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and not w.requires_grad
    assert z.requires_grad and z.grad_fn is not None


def test_grad_mode_decorators_with_and_without_parentheses():
    x = leaf([1.0])

    @dl.no_grad()
    def f(t):
        return t * 2

    @dl.no_grad
    def g(t):
        return t * 2

    @dl.enable_grad()
    def h(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert f.__name__ == "f" and g.__name__ == "g"
    with dl.no_grad():
        assert h(x).requires_grad
    with dl.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert dl.is_grad_enabled()


def test_grad_mode_is_per_thread():
    started, done = threading.Event(), threading.Event()

    def loader():
        with dl.no_grad():
            started.set()
            done.wait(5)

    thread = threading.Thread(target=loader)
    thread.start()
    started.wait(5)
    assert (leaf([1.0]) * 2).requires_grad and dl.is_grad_enabled()
    done.set()
    thread.join()
    seen = []
    with dl.no_grad():
        worker = threading.Thread(target=lambda: seen.append(dl.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError), dl.no_grad():
        raise ZeroDivisionError
    assert dl.is_grad_enabled()


# ----------------------------------------------------------- detach and requires_grad
def test_detach_shares_data_and_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_requires_grad_rules():
    x = dl.ones(2)
    assert not x.requires_grad and x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad_(False)
    for bad in (dl.tensor([1, 2]), dl.tensor([True]), dl.arange(3)):
        with pytest.raises(RuntimeError, match="only floating point tensors can require"):
            bad.requires_grad_()
    with pytest.raises(RuntimeError, match="dtype int64"):
        dl.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        dl.zeros(2, dtype=dl.int32, requires_grad=True)


def test_integer_results_never_require_grad():
    x = leaf([1.5, -2.5])
    assert not x.long().requires_grad and x.long().grad_fn is None
    assert not (x > 0).requires_grad
    assert not x.argmax().requires_grad
    assert not x.max(0).indices.requires_grad


# ------------------------------------------------------------------------------ hooks
def test_leaf_hook_sees_the_total_gradient_once_and_can_replace_it():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    x.register_hook(lambda g: g * 10)
    (x * 2 + x * 3).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])
    np.testing.assert_array_equal(x.grad.numpy(), [50.0, 50.0])


def test_non_leaf_hook_replaces_the_gradient_flowing_back():
    x = leaf([1.0, 2.0])
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = h.register_hook(lambda g: g * 0 + 1)
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(seen[0], 2 * np.array([3.0, 6.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    handle.remove()
    handle.remove()  # removing twice is harmless
    x.grad = None
    (h * h).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 3 * 2 * np.array([3.0, 6.0]))
    assert len(seen) == 2


def test_hook_on_one_output_of_a_multi_output_op():
    x = leaf(np.arange(4.0))
    a, b = x.split(2)
    b.register_hook(lambda g: g * 100)
    (a + b).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 100, 100])


def test_removed_leaf_hook_no_longer_runs():
    x = leaf([1.0])
    handle = x.register_hook(lambda g: g * 2)
    handle.remove()
    (x * 1).sum().backward()
    assert x.grad.item() == 1.0


def test_a_hook_may_not_change_the_gradient_shape():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"hook '<lambda>' changed the gradient's shape "
                                           r"from \(2,\) to \(\)"):
        y.sum().backward()
    z = leaf([1.0])
    z.register_hook(lambda g: dl.ones(3))
    with pytest.raises(RuntimeError, match=r"from \(1,\) to \(3,\)"):
        (z * 1).sum().backward()


def test_register_hook_needs_requires_grad():
    with pytest.raises(RuntimeError, match="does not require gradient"):
        dl.ones(2).register_hook(lambda g: g)


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])


# --------------------------------------------------------------------- autograd.grad
def test_autograd_grad_returns_gradients_without_touching_dot_grad():
    x, y = leaf([1.0, 2.0]), leaf([3.0])
    h = x * 3
    out = (h * h * y).sum()
    gx, gh = dl.autograd.grad(out, [x, h], retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), 18 * np.array([1.0, 2.0]) * 3)
    np.testing.assert_allclose(gh.numpy(), 2 * np.array([3.0, 6.0]) * 3)
    assert x.grad is None and y.grad is None
    (gy,) = dl.autograd.grad(out, y)
    np.testing.assert_allclose(gy.numpy(), [9.0 + 36.0])
    if torch is not None:
        tx, ty = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True), \
            torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
        (tgx,) = torch.autograd.grad(((tx * 3) ** 2 * ty).sum(), tx)
        np.testing.assert_allclose(gx.numpy(), tgx.numpy())


def test_autograd_grad_unused_inputs():
    x, z = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        dl.autograd.grad((x * 2).sum(), [x, z], retain_graph=True)
    gx, gz = dl.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gx.item() == 2.0 and gz is None


def test_autograd_grad_with_grad_outputs():
    x = leaf([1.0, 2.0])
    (g,) = dl.autograd.grad(x * x, x, grad_outputs=[dl.tensor(np.array([1.0, -1.0]))])
    np.testing.assert_array_equal(g.numpy(), [2.0, -4.0])


# ------------------------------------------------------------------- Function contract
class Scale(Function):
    """y = s·x (s a keyword option);  ∂y/∂x = s."""

    def forward(self, x, s=1.0):
        self.s = s
        return x * s

    def backward(self, g):
        return g * self.s


def test_function_apply_records_only_when_needed():
    x = leaf([1.0, 2.0])
    y = Scale.apply(x, s=3.0)
    assert y.grad_fn is not None and y._ctx.needs_input_grad == (True,)
    assert "ScaleBackward" in repr(y)
    with dl.no_grad():
        assert Scale.apply(x, s=3.0).grad_fn is None
    assert Scale.apply(dl.ones(2), s=2.0).grad_fn is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_needs_input_grad_lets_backward_skip_work():
    seen = []

    class Both(Function):
        """z = a·b;  ∂z/∂a = b, ∂z/∂b = a."""

        def forward(self, a, b):
            self.a, self.b = a, b
            return a * b

        def backward(self, g):
            seen.append(self.needs_input_grad)
            need = self.needs_input_grad
            return (g * self.b if need[0] else None), (g * self.a if need[1] else None)

    a = leaf([2.0])
    Both.apply(a, dl.tensor(np.array([5.0]))).sum().backward()
    assert seen == [(True, False)] and a.grad.item() == 5.0


def test_forward_value_error_names_op_and_shapes():
    class Broken(Function):
        """y = a + b without checks."""

        def forward(self, a, b):
            return a + b

        def backward(self, g):
            return g, g

    with pytest.raises(ValueError, match=r"^broken: invalid input with shapes \(2,\) and "
                                         r"\(3,\)"):
        Broken.apply(dl.ones(2), dl.ones(3))


def test_forward_type_error_names_op_shapes_dtypes_and_devices():
    class Picky(Function):
        """y = a (refuses mixed dtypes)."""

        def forward(self, a, b):
            raise TypeError("mixed dtypes")

        def backward(self, g):
            return g, None

    with pytest.raises(TypeError, match=r"^picky: invalid input with shapes \(2,\) and \(2,\) "
                                        r"\(float32 on cpu and int64 on cpu\): mixed dtypes"):
        Picky.apply(dl.ones(2), dl.tensor([1, 2]))
    with pytest.raises(TypeError, match=r"^sub: invalid input with shapes \(1,\) and \(1,\): "
                                        r"numpy boolean subtract"):
        dl.tensor([True]) - dl.tensor([False])


def test_gradients_are_cast_back_to_each_leaf_dtype():
    a = dl.ones(3, requires_grad=True)                      # float32
    b = dl.ones(3, dtype=dl.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == dl.float32 and b.grad.dtype == dl.float64


def test_broadcast_gradient_is_reduced_to_the_input_shape():
    a, b = leaf(np.ones((2, 1, 3))), leaf(np.ones(3))
    (a + b).expand(4, 2, 5, 3).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 1, 3), 20.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(3, 40.0))


# -------------------------------------------------------------------------- gradcheck
class WrongSquare(Function):
    """y = x², with a deliberately wrong backward (x instead of 2x)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return g * self.x


def test_gradcheck_passes_on_a_correct_op():
    x = leaf(np.random.default_rng(0).standard_normal((2, 3)))
    result = dl.autograd.gradcheck(lambda t: (t * t).sum(1), [x])
    assert result and result.passed and "passed" in str(result)


def test_gradcheck_names_the_worst_element_of_a_wrong_op():
    x = leaf([[0.1, -0.2], [3.0, 0.4]])
    y = leaf([0.5, 0.25])
    result = dl.autograd.gradcheck(lambda a, b: (WrongSquare.apply(a) + b).sum(), [x, y])
    assert not result
    assert result.worst.startswith("input 0 element (1, 0): analytic 3, numeric 6")
    assert "FAILED" in str(result) and "(1, 0)" in str(result)
    assert len(result.details) == 4 and result.max_abs_error == pytest.approx(3.0, rel=1e-6)
    with pytest.raises(AssertionError, match=r"element \(1, 0\)"):
        dl.autograd.gradcheck(WrongSquare.apply, [x], raise_exception=True)


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        dl.autograd.gradcheck(lambda t: t * 2, [dl.ones(2, requires_grad=True)])
