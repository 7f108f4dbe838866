"""Double backward (``create_graph=True``): the API's semantics, the indexing adjoint pair,
and ``dl.autograd.functional`` against ``torch.autograd.functional`` (float64)."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.autograd.function import Alias
from deltaflow.ops.index import PutAddFlat, TakeFlat
from opcheck import assert_gradcheck, assert_gradgradcheck, torch

GRADCHECKED = ("TakeFlat", "PutAddFlat", "Alias")
GRADGRADCHECKED = GRADCHECKED

rng = np.random.default_rng(0)


def leaf(*shape):
    return dl.tensor(rng.standard_normal(shape), requires_grad=True)


# ------------------------------------------------------------------ the API
def test_grad_with_create_graph_is_differentiable():
    x = leaf(4)
    (g,) = dl.autograd.grad((x ** 3).sum(), x, create_graph=True)
    assert g.requires_grad and g._ctx is not None
    np.testing.assert_allclose(g.numpy(), 3 * x.data ** 2)
    (h,) = dl.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.data)
    assert not h.requires_grad


def test_backward_create_graph_gives_grad_with_a_graph_and_keeps_the_graph():
    x = leaf(3)
    y = (dl.sin(x) * x).sum()
    y.backward(create_graph=True)            # retain_graph defaults to create_graph
    y.backward(create_graph=True)            # so a second one runs (and accumulates)
    assert x.grad.requires_grad
    x.grad = None
    y.backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    xt = torch.tensor(x.data, requires_grad=True)
    (gt,) = torch.autograd.grad((torch.sin(xt) * xt).sum(), xt, create_graph=True)
    gt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_backward_inputs_accumulates_only_into_those():
    x, w = leaf(3), leaf(3)
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), x.data)


def test_unused_input_is_named_and_allow_unused_gives_none():
    x, unused = leaf(2), leaf(3)
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(3,\)\) was not used"):
        dl.autograd.grad((x * x).sum(), [x, unused])
    g = dl.autograd.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert g[1] is None
    g = dl.autograd.grad((x * x).sum(), [x, unused], materialize_grads=True)
    np.testing.assert_array_equal(g[1].numpy(), np.zeros(3))


def test_freed_graph_says_how_to_fix_it():
    x = leaf(2)
    y = (dl.exp(x)).sum()
    dl.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        dl.autograd.grad(y, x)


def test_grad_runs_only_what_leads_to_the_inputs():
    """autograd.grad leaves other leaves' hooks and .grad alone (PyTorch's rule)."""
    x, w = leaf(3), leaf(3)
    seen = []
    w.register_hook(lambda g: seen.append(g))
    dl.autograd.grad((x * w).sum(), x)
    assert seen == [] and w.grad is None and x.grad is None


def test_hooks_see_tensors_under_create_graph():
    x = leaf(3)
    seen = []
    x.register_hook(lambda g: seen.append(g.requires_grad))
    dl.autograd.grad((x ** 2).sum(), x, create_graph=True)
    assert seen == [True]


def test_double_backward_through_an_in_place_write():
    """x.sigmoid().mul_(3): the write keeps sigmoid's saved output; second derivatives hold."""
    def f(x):
        y = x.sigmoid()
        y.mul_(3)
        return y
    assert_gradgradcheck(f, rng.standard_normal(5))


# ------------------------------------------------------------------ the adjoint pair
POSITIONS = np.array([[4, 0], [4, 2]])


def test_take_flat_and_put_add_flat_are_checked_to_second_order():
    take = lambda x: TakeFlat.apply(x, positions=POSITIONS)           # noqa: E731
    put = lambda g: PutAddFlat.apply(g, positions=POSITIONS, shape=(2, 3))  # noqa: E731
    alias = lambda x: Alias.apply(x) * x                               # noqa: E731
    for fn, shape in ((take, (2, 3)), (put, (2, 2)), (alias, (3,))):
        x = rng.standard_normal(shape)
        assert_gradcheck(fn, x)
        assert_gradgradcheck(lambda t, fn=fn: fn(t) ** 2, x)


def test_take_flat_and_put_add_flat_equal_torch():
    x = rng.standard_normal((2, 3))
    d, t = dl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dy = TakeFlat.apply(d, positions=POSITIONS)
    ty = t.reshape(-1)[torch.tensor(POSITIONS)]
    np.testing.assert_array_equal(dy.numpy(), ty.detach().numpy())
    g = rng.standard_normal((2, 2))
    put = PutAddFlat.apply(dl.tensor(g), positions=POSITIONS, shape=(2, 3))
    ref = torch.zeros(6, dtype=torch.float64).index_put_(
        (torch.tensor(POSITIONS.reshape(-1)),), torch.tensor(g.reshape(-1)), accumulate=True)
    np.testing.assert_allclose(put.numpy(), ref.reshape(2, 3).numpy())


# ------------------------------------------------------------------ autograd.functional
W1, B1, W2 = rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((2, 4))
LABELS = np.array([1, 0, 1])


def mlp(lib, x):
    """A 3-4-2 tanh MLP, as written in deltaflow or torch."""
    t = lib.tensor
    return lib.tanh(x @ t(W1.T) + t(B1)) @ t(W2.T)


def softmax_ce(lib, logits):
    logp = lib.log_softmax(logits, -1) if lib is dl else torch.log_softmax(logits, -1)
    return -logp[np.arange(3), LABELS].mean() if lib is dl else \
        -logp[torch.arange(3), torch.tensor(LABELS)].mean()


X = rng.standard_normal((3, 3))
V_IN, V_OUT = rng.standard_normal((3, 3)), rng.standard_normal((3, 2))
CASES = {
    "mlp": (lambda lib: (lambda x: mlp(lib, x))),
    "loss": (lambda lib: (lambda x: softmax_ce(lib, mlp(lib, x)))),
}


def both(name):
    return CASES[name](dl), CASES[name](torch)


@pytest.mark.parametrize("name", ["mlp", "loss"])
def test_jacobian_equals_torch(name):
    f, g = both(name)
    J = dl.autograd.functional.jacobian(f, dl.tensor(X))
    Jt = torch.autograd.functional.jacobian(g, torch.tensor(X))
    np.testing.assert_allclose(J.numpy(), Jt.numpy(), rtol=1e-10, atol=1e-12)


def test_hessian_equals_torch():
    f, g = both("loss")
    H = dl.autograd.functional.hessian(f, dl.tensor(X))
    Ht = torch.autograd.functional.hessian(g, torch.tensor(X))
    assert H.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(H.numpy(), Ht.numpy(), rtol=1e-10, atol=1e-12)


def test_hessian_of_several_inputs_is_a_tuple_of_tuples():
    def f(a, b):
        return (a * a * b).sum() + (b ** 3).sum()
    a, b = rng.standard_normal(2), rng.standard_normal(2)
    H = dl.autograd.functional.hessian(f, (dl.tensor(a), dl.tensor(b)))
    Ht = torch.autograd.functional.hessian(f, (torch.tensor(a), torch.tensor(b)))
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(H[i][j].numpy(), Ht[i][j].numpy(), rtol=1e-12)


@pytest.mark.parametrize("what", ["vjp", "jvp", "hvp", "vhp"])
def test_products_equal_torch(what):
    name = "mlp" if what in ("vjp", "jvp") else "loss"
    f, g = both(name)
    v = V_OUT if what == "vjp" else V_IN
    out, res = getattr(dl.autograd.functional, what)(f, dl.tensor(X), dl.tensor(v))
    out_t, res_t = getattr(torch.autograd.functional, what)(g, torch.tensor(X), torch.tensor(v))
    np.testing.assert_allclose(out.numpy(), out_t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.numpy(), res_t.numpy(), rtol=1e-10, atol=1e-12)
    assert not res.requires_grad


def test_create_graph_results_stay_differentiable():
    x = dl.tensor(X, requires_grad=True)
    f, _ = both("loss")
    _, hv = dl.autograd.functional.hvp(f, x, dl.tensor(V_IN), create_graph=True)
    assert hv.requires_grad
    (third,) = dl.autograd.grad(hv.sum(), x)
    xt = torch.tensor(X, requires_grad=True)
    _, hvt = torch.autograd.functional.hvp(both("loss")[1], xt, torch.tensor(V_IN),
                                           create_graph=True)
    (third_t,) = torch.autograd.grad(hvt.sum(), xt)
    np.testing.assert_allclose(third.numpy(), third_t.numpy(), rtol=1e-9, atol=1e-12)
