"""Shared helpers for op tests: one table row per op case, and one helper that checks it.

An op table is a list of :class:`OpCase` rows; ``check_op(case, check)`` runs one check:

* ``"numpy"``     the forward equals the NumPy reference (shapes, dtypes, values within ``tol``);
* ``"gradcheck"`` backprop gradients equal float64 central differences (``dl.autograd.gradcheck``);
* ``"torch"``     forward values and input gradients equal PyTorch's (float64, rtol 1e-6),
                  skipped when PyTorch is not installed;
* ``"cuda"``      forward values and input gradients on the GPU equal the CPU's (rtol 1e-9);
* ``"gradgradcheck"`` second derivatives (the gradient of the gradient, ``create_graph``)
                  equal float64 central differences of the gradient (``dl.autograd.gradgradcheck``);
* ``"torch2"``    second derivatives equal PyTorch's (float64, rtol 1e-6).

``op_params(cases)`` gives the ``(case, check)`` pytest parameters of a table, one per row
and check that applies to it. Each ``tests/test_ops_*.py`` module lists all its rows in a
module-level ``CASES`` list and runs them in one ``test_op``; ``tests/test_tensor.py`` reruns
every module's ``CASES`` on CUDA.

Convention: a test module that gradchecks ops lists their ``Function`` class names in a
module-level tuple ``GRADCHECKED``, and those whose second derivatives it checks (the
``SECOND_ORDER`` checks, or its own double-backward tests) in ``GRADGRADCHECKED``;
``tests/test_op_coverage.py`` fails for any Function subclass in deltaflow that no test
module lists in either.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest

import deltaflow as dl

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

CHECKS = ("numpy", "gradcheck", "torch")
SECOND_ORDER = ("gradgradcheck", "torch2")


def normal(rng, shape):
    """Standard normal float64 values: the default input draw."""
    return rng.standard_normal(shape)


def distinct(rng, shape):
    """Distinct values with |x| in [0.5, 1.5] (no ties, no zero: sorting, selection and every
    reduction are smooth there)."""
    n = int(np.prod(shape))
    magnitudes = rng.permutation(np.linspace(0.5, 1.5, n)).reshape(shape)
    return magnitudes * rng.choice([-1.0, 1.0], shape)


@dataclass(frozen=True)
class OpCase:
    """One op-table row: an op in deltaflow, NumPy and PyTorch, and the arrays it runs on.

    ``fn`` takes Tensors and returns a Tensor or a tuple of Tensors (``Split``, ``sort``'s
    values and indices); ``numpy_fn`` computes the same outputs from the NumPy arrays (None:
    no NumPy check); ``torch_fn`` from torch tensors (None: ``fn`` itself, for the operators
    and methods PyTorch shares). Floating input arrays become float64 tensors that require
    grad; bool and integer ones (conditions, masks, indices) become constant tensors.
    ``grad=False`` marks an op without a gradient: no gradcheck, no gradient comparison, and
    its outputs must not require grad. ``gradcheck=False`` keeps the gradient comparison with
    PyTorch but skips finite differences (ties, kinks, ±inf, where they mean nothing).
    ``tol`` is the rtol and atol of the NumPy comparison (0: bit-identical).
    ``gradgrad=False`` skips the second-derivative checks (an op whose first derivative is
    piecewise constant at the row's points still runs them: its second derivative is 0).
    """

    name: str
    fn: Callable
    numpy_fn: Callable | None
    torch_fn: Callable | None = None
    draw: Callable | tuple = normal    # rng, shape -> array; or one such per input
    values: tuple = ()                 # the input arrays
    grad: bool = True
    gradcheck: bool = True
    gradgrad: bool = True
    tol: float = 1e-12

    def at(self, *shapes, seed=0):
        """This op on inputs of ``shapes``, drawn by ``draw`` from ``default_rng(seed)``."""
        rng = np.random.default_rng(seed)
        draws = self.draw if isinstance(self.draw, tuple) else (self.draw,) * len(shapes)
        return replace(self, values=tuple(np.asarray(d(rng, s)) for d, s in zip(draws, shapes)))

    def __str__(self):
        return self.name + "".join(str(np.shape(v)) for v in self.values)


def special(name, fn, *values, torch_fn=None):
    """A row at special points (0·∞, 0/0, ±inf, NaN, ties, kinks), compared with PyTorch
    only: no NumPy reference, no finite differences. First derivatives only: at poles and
    kinks a second derivative is whatever the formula gives (PyTorch's own double-backward
    formulas give nan in one op and -inf in another there)."""
    return OpCase(name, fn, None, torch_fn, values=tuple(map(np.array, values)),
                  gradcheck=False, gradgrad=False)


def op_params(cases):
    """``pytest.param(case, check)`` for every row and every check that applies to it."""
    def applies(case, check):
        second = case.grad and case.gradgrad
        return {"numpy": case.numpy_fn is not None, "gradcheck": case.grad and case.gradcheck,
                "torch": True, "gradgradcheck": second and case.gradcheck,
                "torch2": second}[check]
    return [pytest.param(case, check, id=f"{check}-{case}")
            for case in cases for check in CHECKS + SECOND_ORDER if applies(case, check)]


def check_op(case, check):
    """Run one of ``CHECKS`` (or ``"cuda"``) on the table row ``case``."""
    with np.errstate(all="ignore"):  # special-value rows divide by zero on purpose
        if check == "numpy":
            assert_matches_numpy(case.fn, case.numpy_fn, *case.values, tol=case.tol,
                                 grad=case.grad)
        elif check == "gradcheck":
            assert_gradcheck(case.fn, *case.values)
        elif check == "torch":
            assert_matches_torch(case.fn, case.torch_fn or case.fn, *case.values, grad=case.grad)
        elif check == "gradgradcheck":
            assert_gradgradcheck(case.fn, *case.values)
        elif check == "torch2":
            assert_second_order_matches_torch(case.fn, case.torch_fn or case.fn, *case.values)
        elif check == "cuda":
            if not case.values:
                pytest.skip("a creation row: no input to put on the GPU (creation on the GPU "
                            "is test_tensor.py's test_cuda_creation_seeding_and_in_place)")
            cpu, gpu = run_on("cpu", case), run_on("cuda", case)
            assert len(cpu) == len(gpu)
            for k, (c, g) in enumerate(zip(cpu, gpu)):
                assert_same(g, c, rtol=1e-9, atol=1e-12, what=f"array {k} (outputs, then grads)")
        else:
            raise ValueError(f"unknown check {check!r}")


# ------------------------------------------------------------------------ the checks
def in_layout(array, order):
    """``array``'s values laid out in memory in ``order``: "C", "F", or "K", the layout of
    a convolution's output (its values in a batch-first-last copy, seen in the original
    axis order: neither C- nor F-contiguous, but dense)."""
    if order == "K":
        return np.ascontiguousarray(np.moveaxis(array, 0, -1)).transpose(
            (array.ndim - 1,) + tuple(range(array.ndim - 1)))
    return np.asarray(array, order=order)


def is_floating(array):
    return np.issubdtype(np.asarray(array).dtype, np.floating)


def leaf(array, requires_grad=True):
    """A float64 deltaflow leaf from a NumPy array."""
    return dl.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def input_tensor(array, device="cpu"):
    """A float64 leaf that requires grad for a floating array; a constant tensor for a bool or
    integer one."""
    if is_floating(array):
        return dl.tensor(np.asarray(array, np.float64), device=device, requires_grad=True)
    return dl.tensor(np.asarray(array), device=device)


def as_outputs(out):
    """An op's outputs as a tuple (a single Tensor, or a tuple/list/named tuple of them)."""
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def assert_same(actual, expected, rtol, atol, what):
    """Equal shapes and dtypes, and values within tolerance (exactly, for bool/int arrays)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if is_floating(expected):
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def assert_matches_numpy(dl_fn, numpy_fn, *arrays, tol=1e-12, grad=True):
    """The outputs of ``dl_fn`` equal ``numpy_fn``'s on the same arrays."""
    outs = as_outputs(dl_fn(*[input_tensor(a) for a in arrays]))
    refs = as_outputs(numpy_fn(*arrays))
    assert len(outs) == len(refs), f"{len(outs)} outputs, NumPy gives {len(refs)}"
    for k, (out, ref) in enumerate(zip(outs, refs)):
        assert_same(out.numpy(), ref, rtol=tol, atol=tol, what=f"output {k}")
        assert grad or not out.requires_grad, f"output {k} of an op without gradient"


def assert_gradcheck(fn, *arrays, **kw):
    """Run float64 finite-difference gradcheck of ``fn`` at ``arrays`` (bool and integer
    arrays are passed as constants)."""
    result = dl.autograd.gradcheck(fn, [input_tensor(a) for a in arrays], **kw)
    assert result, str(result)


def assert_gradgradcheck(fn, *arrays, **kw):
    """Run float64 finite-difference gradgradcheck of ``fn`` at ``arrays``."""
    result = dl.autograd.gradgradcheck(fn, [input_tensor(a) for a in arrays], **kw)
    assert result, str(result)


def assert_second_order_matches_torch(dl_fn, torch_fn, *arrays, rtol=1e-6, atol=1e-9):
    """Second derivatives equal PyTorch's (float64): the gradients ``gᵢ = ∂(Σ out ⊙ w)/∂xᵢ``
    computed with ``create_graph``, then ``∂(Σᵢ gᵢ ⊙ uᵢ)/∂xⱼ`` and ``∂/∂w``, with ``w`` and
    ``u`` fixed random."""
    if torch is None:
        pytest.skip("PyTorch not installed")
    rng = np.random.default_rng(1)
    d_in = [input_tensor(a) for a in arrays]
    t_in = [torch.tensor(np.asarray(a, np.float64) if is_floating(a) else np.asarray(a),
                         requires_grad=is_floating(a)) for a in arrays]
    d_outs, t_outs = as_outputs(dl_fn(*d_in)), as_outputs(torch_fn(*t_in))
    pairs = [(d, t) for d, t in zip(d_outs, t_outs) if t.requires_grad]
    ws = [rng.standard_normal(tuple(t.shape)) for _, t in pairs]
    d_w = [dl.tensor(w, requires_grad=True) for w in ws]
    t_w = [torch.tensor(w, requires_grad=True) for w in ws]
    d_x = [d for d, t in zip(d_in, t_in) if t.requires_grad]
    t_x = [t for t in t_in if t.requires_grad]
    t_g = torch.autograd.grad([t for _, t in pairs], t_x, t_w, create_graph=True,
                              allow_unused=True)
    live = [k for k, t in enumerate(t_g) if t is not None and t.requires_grad]
    try:
        torch.autograd.grad([t_g[k] for k in live], t_x + t_w,
                            [torch.ones_like(t_g[k]) for k in live], allow_unused=True,
                            retain_graph=True)
    except (NotImplementedError, RuntimeError) as err:
        if "not implemented" not in str(err) and "unsupported" not in str(err):
            raise
        pytest.skip(f"PyTorch has no double backward here: {str(err).splitlines()[0]}")
    d_g = dl.autograd.grad([d for d, _ in pairs], d_x, d_w, create_graph=True,
                           allow_unused=True)
    for k, (d, t) in enumerate(zip(d_g, t_g)):
        if t is None:
            assert d is None or not np.any(d.numpy()), f"gradient of input {k}"
            continue
        np.testing.assert_allclose(d.numpy(), _numpy(t), rtol=rtol, atol=atol,
                                   err_msg=f"first-order gradient of input {k}")
    if not live:
        return
    us = {k: rng.standard_normal(tuple(t_g[k].shape)) for k in live}
    targets_d, targets_t = d_x + d_w, t_x + t_w
    second_t = torch.autograd.grad([t_g[k] for k in live], targets_t,
                                   [torch.tensor(us[k]) for k in live], allow_unused=True)
    recorded = [k for k in live if d_g[k] is not None and d_g[k].requires_grad]
    second_d = (dl.autograd.grad([d_g[k] for k in recorded], targets_d,
                                 [dl.tensor(us[k]) for k in recorded], allow_unused=True)
                if recorded else [None] * len(targets_d))
    for k, (d, t) in enumerate(zip(second_d, second_t)):
        what = (f"second derivative w.r.t. input {k}" if k < len(d_x)
                else f"second derivative w.r.t. output weight {k - len(d_x)}")
        if t is None:
            assert d is None or not np.any(d.numpy()), what
            continue
        if d is None:
            np.testing.assert_allclose(0 * _numpy(t), _numpy(t), atol=atol, err_msg=what)
            continue
        np.testing.assert_allclose(d.numpy(), _numpy(t), rtol=rtol, atol=atol, err_msg=what)


def _numpy(t):
    """A torch tensor's values (also of the ZeroTensor torch returns for a zero gradient)."""
    return (torch.zeros_like(t) + t.detach()).numpy()


def assert_matches_torch(dl_fn, torch_fn, *arrays, rtol=1e-6, atol=1e-9, grad=True):
    """Forward values, dtypes and input gradients of ``dl_fn`` equal ``torch_fn``'s (float64).

    The gradients are those of ``Σ out ⊙ w`` over the floating outputs, ``w`` fixed random.
    """
    if torch is None:
        pytest.skip("PyTorch not installed")
    d_in = [input_tensor(a) for a in arrays]
    t_in = [torch.tensor(np.asarray(a, np.float64) if is_floating(a) else np.asarray(a),
                         requires_grad=is_floating(a)) for a in arrays]
    d_outs, t_outs = as_outputs(dl_fn(*d_in)), as_outputs(torch_fn(*t_in))
    assert len(d_outs) == len(t_outs), f"{len(d_outs)} outputs, PyTorch gives {len(t_outs)}"
    for k, (d, t) in enumerate(zip(d_outs, t_outs)):
        assert_same(d.numpy(), t.detach().numpy(), rtol, atol, what=f"output {k}")
    if not grad:
        assert not any(d.requires_grad for d in d_outs), "outputs of an op without gradient"
        return
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(d.shape) for d in d_outs]
    pairs = [(d, t, w) for d, t, w in zip(d_outs, t_outs, weights) if t.requires_grad]
    sum((d * dl.tensor(w)).sum() for d, _, w in pairs).backward()
    sum((t * torch.tensor(w)).sum() for _, t, w in pairs).backward()
    for k, (d, t) in enumerate(zip(d_in, t_in)):
        if not t.requires_grad:
            continue
        if t.grad is None:
            assert d.grad is None or not np.any(d.grad.numpy()), f"gradient of input {k}"
            continue
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {k}")


def run_on(device, case):
    """Outputs and (unless ``case.grad`` is False) floating-input gradients of a row, run on
    ``device``, as NumPy arrays."""
    ins = [input_tensor(a, device) for a in case.values]
    outs = as_outputs(case.fn(*ins))
    assert all(o.device == device for o in outs), "an output left the device"
    if not case.grad:
        return [o.numpy() for o in outs]
    rng = np.random.default_rng(0)
    loss = sum((o * dl.tensor(rng.standard_normal(o.shape), device=device)).sum()
               for o in outs if o.requires_grad)
    loss.backward()
    grads = [t.grad for t in ins if t.requires_grad]
    assert all(g is None or g.device == device for g in grads), "a gradient left the device"
    return [o.numpy() for o in outs] + [None if g is None else g.numpy() for g in grads]
