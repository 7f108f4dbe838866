"""conv1d / conv2d / conv_transpose1d / conv_transpose2d / unfold / fold equal PyTorch's in
float64 -- output and the gradients of input, weight and bias -- over a grid of kernel sizes,
strides, paddings, dilations and groups with non-square inputs and kernels; float64
gradcheck of each op on small cases; float32 stays float32; clear argument errors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn.functional as F
from opcheck import SECOND_ORDER, OpCase, assert_gradcheck, check_op

torch = pytest.importorskip("torch")
TF = torch.nn.functional

GRADCHECKED = ("Convolution", "TransposedConvolution", "Im2Col", "Col2Im")
GRADGRADCHECKED = ("Convolution", "TransposedConvolution", "Im2Col", "Col2Im")


def check(dl_fn, torch_fn, *arrays, seed=0):
    """Forward and every input gradient of ``dl_fn`` equal ``torch_fn``'s (float64)."""
    d_in = [dl.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    d_out, t_out = dl_fn(*d_in), torch_fn(*t_in)
    assert d_out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-11)
    w = np.random.default_rng(seed).standard_normal(d_out.shape)
    (d_out * dl.tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for k, (d, t) in enumerate(zip(d_in, t_in)):
        np.testing.assert_allclose(d.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-11,
                                   err_msg=f"gradient of input {k}")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------------ conv2d
KERNELS = [(1, 1), (3, 3), (2, 3), (5, 2)]
STRIDES = [1, (2, 1), (2, 3)]
PADDINGS = [0, (1, 2), "valid"]
DILATIONS = [1, (2, 1)]
GROUPS = [1, 2, 4]   # 4 = depthwise for 4 input channels
CONV2D_GRID = [c for c in itertools.product(KERNELS, STRIDES, PADDINGS, DILATIONS, GROUPS)]


@pytest.mark.parametrize("kernel,stride,padding,dilation,groups", CONV2D_GRID)
def test_conv2d_matches_torch(kernel, stride, padding, dilation, groups):
    x = rand(2, 4, 9, 11, seed=1)
    w = rand(groups * 2, 4 // groups, *kernel, seed=2)
    b = rand(groups * 2, seed=3)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
          x, w, b)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((2, 4), 1), ((3, 2), (2, 3)),
                                             ((4, 4), 2)])
def test_conv2d_same_padding_matches_torch(kernel, dilation):
    x, w = rand(2, 3, 8, 7), rand(5, 3, *kernel, seed=1)
    check(lambda x, w: F.conv2d(x, w, padding="same", dilation=dilation),
          lambda x, w: TF.conv2d(x, w, padding="same", dilation=dilation), x, w)


def test_conv2d_depthwise_with_multiplier_and_no_bias():
    x, w = rand(3, 6, 10, 5), rand(12, 1, 3, 3, seed=1)
    check(lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=6),
          lambda x, w: TF.conv2d(x, w, stride=2, padding=1, groups=6), x, w)


def test_conv2d_unbatched_input():
    x, w, b = rand(3, 6, 7), rand(4, 3, 2, 2, seed=1), rand(4, seed=2)
    check(lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(
        x, w, b, padding=1), x, w, b)


def test_conv2d_on_non_contiguous_input_and_chained():
    """The channel-major output of one conv feeds the next (and a transposed input works)."""
    x = rand(2, 3, 8, 9)
    w1, w2, b2 = rand(4, 3, 3, 3, seed=1), rand(5, 4, 2, 3, seed=2), rand(5, seed=3)

    def net(lib, x, w1, w2, b2):
        conv, relu = (F.conv2d, dl.relu) if lib == "dl" else (TF.conv2d, torch.relu)
        h = relu(conv(x.transpose(2, 3), w1, padding=1))
        return conv(h, w2, b2, stride=(2, 1)) * 2.0

    check(lambda *a: net("dl", *a), lambda *a: net("torch", *a), x, w1, w2, b2)


def test_conv2d_gradcheck():
    x, w, b = rand(2, 4, 5, 6), rand(4, 2, 2, 3, seed=1), rand(4, seed=2)
    assert_gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2),
                                              dilation=(1, 2), groups=2), x, w, b)


# ------------------------------------------------------------------------------ conv1d
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("k,stride,padding,dilation,groups", [
    (1, 1, 0, 1, 1), (3, 1, 1, 1, 1), (4, 2, 2, 1, 2), (3, 3, 0, 2, 4), (2, 1, "same", 3, 1),
    (5, 2, "valid", 1, 2)])
def test_conv1d_matches_torch(k, stride, padding, dilation, groups):
    x, w, b = rand(3, 4, 13), rand(2 * groups, 4 // groups, k, seed=1), rand(2 * groups, seed=2)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw),
          x, w, b)


def test_conv1d_gradcheck():
    assert_gradcheck(lambda x, w: F.conv1d(x, w, stride=2, padding=1), rand(2, 3, 7),
                     rand(2, 3, 3, seed=1))


# -------------------------------------------------------------------- conv_transpose
TRANSPOSE_GRID = [
    # kernel, stride, padding, output_padding, groups, dilation
    ((3, 3), 1, 0, 0, 1, 1),
    ((3, 3), 2, 1, 1, 1, 1),
    ((4, 4), 2, 1, 0, 1, 1),          # the DCGAN generator block
    ((2, 3), (2, 3), (1, 0), (1, 2), 2, 1),
    ((3, 2), (3, 1), (2, 1), (2, 0), 4, (1, 2)),
    ((3, 3), 2, 2, 1, 1, 2),
    ((1, 1), 1, 0, 0, 2, 1),
    ((5, 3), (1, 2), (2, 1), (0, 1), 1, (2, 1)),
]


@pytest.mark.parametrize("kernel,stride,padding,output_padding,groups,dilation",
                         TRANSPOSE_GRID)
def test_conv_transpose2d_matches_torch(kernel, stride, padding, output_padding, groups,
                                        dilation):
    x, w, b = rand(2, 4, 5, 6), rand(4, 3, *kernel, seed=1), rand(3 * groups, seed=2)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
              dilation=dilation)
    check(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
          lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw), x, w, b)


def test_conv_transpose1d_matches_torch():
    x, w, b = rand(2, 4, 7), rand(4, 3, 3, seed=1), rand(6, seed=2)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    check(lambda x, w, b: F.conv_transpose1d(x, w, b, **kw),
          lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw), x, w, b)


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    """⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩ (the adjoint identity)."""
    x, w = rand(2, 3, 7, 8), rand(5, 3, 3, 2, seed=1)
    y = rand(2, 5, 4, 5, seed=2)
    lhs = (F.conv2d(dl.tensor(x), dl.tensor(w), stride=2, padding=1).numpy() * y).sum()
    rhs = (x * F.conv_transpose2d(dl.tensor(y), dl.tensor(w), stride=2,
                                  padding=1).numpy()).sum()
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


def test_conv_transpose2d_gradcheck():
    x, w, b = rand(2, 4, 3, 4), rand(4, 1, 3, 2, seed=1), rand(2, seed=2)
    assert_gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=(2, 1), padding=1,
                                                        output_padding=(1, 0), groups=2),
                     x, w, b)


# ------------------------------------------------------------------------ unfold / fold
BLOCK_GRID = [((2, 3), 1, 0, 1), ((3, 3), (2, 1), 1, 1), ((2, 2), 2, (1, 0), (2, 1)),
              ((1, 4), (1, 3), (0, 2), 1)]


@pytest.mark.parametrize("kernel,stride,padding,dilation", BLOCK_GRID)
def test_unfold_and_fold_match_torch(kernel, stride, padding, dilation):
    x = rand(2, 3, 7, 9)
    kw = dict(dilation=dilation, padding=padding, stride=stride)
    check(lambda x: F.unfold(x, kernel, **kw), lambda x: TF.unfold(x, kernel, **kw), x)
    L = TF.unfold(torch.tensor(x), kernel, **kw).shape[-1]
    cols = rand(2, 3 * kernel[0] * kernel[1], L, seed=1)
    check(lambda c: F.fold(c, (7, 9), kernel, **kw),
          lambda c: TF.fold(c, (7, 9), kernel, **kw), cols)


def test_unfold_fold_gradcheck():
    assert_gradcheck(lambda x: F.unfold(x, (2, 3), padding=1, stride=(1, 2)), rand(1, 2, 4, 5))
    assert_gradcheck(lambda c: F.fold(c, (4, 5), (2, 2), padding=1, stride=2),
                     rand(1, 8, 9))


def test_conv2d_equals_unfold_matmul():
    """The definition: conv2d = Wᵀ · unfold(x), reshaped."""
    x, w = rand(2, 3, 6, 5), rand(4, 3, 3, 3, seed=1)
    cols = F.unfold(dl.tensor(x), 3, padding=1).numpy()
    ref = np.einsum("ok,nkl->nol", w.reshape(4, -1), cols).reshape(2, 4, 6, 5)
    np.testing.assert_allclose(F.conv2d(dl.tensor(x), dl.tensor(w), padding=1).numpy(), ref,
                               rtol=1e-12)


# --------------------------------------------------------------- dtype, graph, errors
def test_float32_stays_float32():
    x = dl.tensor(rand(2, 3, 8, 8).astype(np.float32), requires_grad=True)
    w = dl.tensor(rand(4, 3, 3, 3, seed=1).astype(np.float32), requires_grad=True)
    b = dl.tensor(rand(4, seed=2).astype(np.float32), requires_grad=True)
    y = F.conv_transpose2d(F.conv2d(x, w, b, padding=1), dl.tensor(
        rand(4, 2, 2, 2, seed=3).astype(np.float32)), stride=2)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_no_grad_records_nothing():
    x, w = dl.tensor(rand(1, 2, 5, 5)), dl.tensor(rand(3, 2, 3, 3, seed=1), requires_grad=True)
    with dl.no_grad():
        y = F.conv2d(x, w)
    assert y.grad_fn is None and not y.requires_grad


def test_only_needed_gradients_are_computed():
    x = dl.tensor(rand(2, 2, 5, 5))
    w = dl.tensor(rand(3, 2, 3, 3, seed=1), requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad is not None


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(dl.zeros(1, 3, 5, 5), dl.zeros(4, 2, 3, 3)), "input has 3 channels"),
    (lambda: F.conv2d(dl.zeros(1, 4, 5, 5), dl.zeros(3, 2, 3, 3), groups=2),
     "divisible by groups"),
    (lambda: F.conv2d(dl.zeros(1, 3, 2, 2), dl.zeros(4, 3, 3, 3)), "larger than the padded"),
    (lambda: F.conv2d(dl.zeros(1, 3, 5, 5), dl.zeros(4, 3, 3, 3, dtype=dl.float64)),
     "dtype"),
    (lambda: F.conv2d(dl.zeros(1, 3, 5, 5), dl.zeros(4, 3, 3, 3), padding="same", stride=2),
     "strided"),
    (lambda: F.conv2d(dl.zeros(3, 5), dl.zeros(4, 3, 3, 3)), "expected a 4-D input"),
    (lambda: F.conv2d(dl.zeros(1, 3, 5, 5), dl.zeros(4, 3, 3, 3), dl.zeros(3)), "bias"),
    (lambda: F.conv_transpose2d(dl.zeros(1, 3, 5, 5), dl.zeros(3, 2, 3, 3), stride=2,
                                output_padding=2), "output_padding"),
    (lambda: F.fold(dl.zeros(1, 12, 5), (4, 4), 2), "blocks"),
])
def test_errors_name_the_op_and_the_shapes(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_bias_gradient_alone_and_with_weight():
    """The bias gradient comes out of the weight GEMM (constant-1 row) or, when the weight
    needs none, from a plain sum; both equal PyTorch's."""
    x, w, b = rand(2, 4, 6, 5), rand(6, 2, 3, 3, seed=1), rand(6, seed=2)
    for w_grad in (False, True):
        d_w, d_b = dl.tensor(w, requires_grad=w_grad), dl.tensor(b, requires_grad=True)
        t_w, t_b = torch.tensor(w, requires_grad=w_grad), torch.tensor(b, requires_grad=True)
        F.conv2d(dl.tensor(x), d_w, d_b, padding=1, groups=2).sum().backward()
        TF.conv2d(torch.tensor(x), t_w, t_b, padding=1, groups=2).sum().backward()
        np.testing.assert_allclose(d_b.grad.numpy(), t_b.grad.numpy(), rtol=1e-10)
        assert (d_w.grad is None) == (not w_grad)
    d_w, d_b = dl.tensor(w, requires_grad=True), dl.tensor(b)     # a frozen bias
    F.conv2d(dl.tensor(x), d_w, d_b, padding=1, groups=2).sum().backward()
    assert d_b.grad is None and d_w.grad is not None


def test_at_most_one_column_buffer_is_alive():
    """Forward allocates one column buffer (plus the output and the padded input); backward
    drops it after the weight gradient, before the input gradient's columns exist."""
    import tracemalloc
    rng = np.random.default_rng(0)
    x = dl.tensor(rng.random((32, 16, 20, 20), dtype=np.float32), requires_grad=True)
    w = dl.tensor(rng.random((32, 16, 3, 3), dtype=np.float32), requires_grad=True)
    b = dl.tensor(rng.random(32, dtype=np.float32), requires_grad=True)
    cols = (16 * 9 + 1) * (20 * 20 * 32) * 4          # bytes of the column buffer
    out, padded = 32 * 20 * 20 * 32 * 4, 16 * 22 * 22 * 32 * 4
    g = dl.tensor(np.ones((32, 32, 20, 20), np.float32))
    F.conv2d(x, w, b, padding=1).backward(g)     # load the compiled kernels before tracing
    tracemalloc.start()
    try:
        y = F.conv2d(x, w, b, padding=1)
        assert tracemalloc.get_traced_memory()[1] <= 1.05 * (cols + out + padded)
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]      # the saved column buffer included
        y.backward(g)
        assert tracemalloc.get_traced_memory()[1] - start < 0.9 * cols
    finally:
        tracemalloc.stop()


ROWS_GRID = list(itertools.product([(3, 3), (2, 3), (1, 1)], [1, (2, 1)], [0, (1, 2)],
                                   [1, (1, 2)], [True, False]))


@pytest.mark.parametrize("kernel,stride,padding,dilation,bias", ROWS_GRID)
def test_conv2d_inference_by_rows_matches_torch(kernel, stride, padding, dilation, bias):
    """Under no_grad a convolution of few images of many channels gathers channels-last
    rows (ops.conv.im2row) instead of batch-last columns: same values as PyTorch in float64
    (K summed in another order: to rounding)."""
    from deltaflow.ops import conv as C
    x, w, b = rand(1, 40, 6, 7, seed=1), rand(5, 40, *kernel, seed=2), rand(5, seed=3)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    with dl.no_grad():
        y = F.conv2d(dl.tensor(x), dl.tensor(w), dl.tensor(b) if bias else None, **kw)
    ref = TF.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b) if bias else None, **kw)
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)
    stride, dilation = ((v, v) if isinstance(v, int) else v for v in (stride, dilation))
    assert C.rows_pay(x.shape, kernel, stride, dilation, y.shape[2:], 1)


def test_conv1d_inference_by_rows_matches_torch():
    from deltaflow.ops import conv as C
    x, w = rand(1, 16, 9, seed=1), rand(4, 16, 3, seed=2)
    assert C.rows_pay((1, 16, 1, 9), (1, 3), (1, 2), (1, 1), (1, 5), 1)   # as an image
    with dl.no_grad():
        y = F.conv1d(dl.tensor(x), dl.tensor(w), stride=2, padding=1)
    np.testing.assert_allclose(y.numpy(), TF.conv1d(torch.tensor(x), torch.tensor(w), stride=2,
                                                    padding=1).numpy(), rtol=1e-12, atol=1e-12)


def test_conv2d_by_rows_equals_by_columns_in_float32():
    """The batch-1 CNN's second layer: the rows path (no_grad) against the columns path
    (the same call recording a graph), float32. The products sum K = 289 terms in another
    order; the bound is 2·K·ε32 times Σ|w|·|x| of each output."""
    from deltaflow.ops import conv as C
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 32, 14, 14)).astype(np.float32)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    assert C.rows_pay(x.shape, (3, 3), (1, 1), (1, 1), (14, 14), 1)
    with dl.no_grad():
        rows = F.conv2d(dl.tensor(x), dl.tensor(w), dl.tensor(b), padding=1).numpy()
    cols = F.conv2d(dl.tensor(x, requires_grad=True), dl.tensor(w), dl.tensor(b),
                    padding=1).detach().numpy()
    assert rows.dtype == np.float32
    scale = TF.conv2d(torch.tensor(np.abs(x)), torch.tensor(np.abs(w)), torch.tensor(np.abs(b)),
                      padding=1).numpy()
    assert np.all(np.abs(rows - cols) <= 2 * 289 * np.finfo(np.float32).eps * scale)
    assert not np.array_equal(rows, np.zeros_like(rows))


def test_rows_pay_only_for_long_channel_runs():
    from deltaflow.ops import conv as C
    assert C.rows_pay((1, 32, 14, 14), (3, 3), (1, 1), (1, 1), (14, 14), 1)      # 96 > 14
    assert not C.rows_pay((1, 1, 28, 28), (3, 3), (1, 1), (1, 1), (28, 28), 1)   # 3 < 28
    assert C.rows_pay((2, 32, 14, 14), (3, 3), (1, 1), (1, 1), (14, 14), 1)      # 96 ≥ 3·28
    assert not C.rows_pay((3, 32, 14, 14), (3, 3), (1, 1), (1, 1), (14, 14), 1)  # 96 < 3·42
    assert not C.rows_pay((64, 32, 14, 14), (3, 3), (1, 1), (1, 1), (14, 14), 1)  # batch 64
    assert not C.rows_pay((1, 32, 14, 14), (3, 3), (1, 1), (1, 1), (14, 14), 2)  # groups


@pytest.mark.parametrize("kernel,stride,padding", [(1, 1, 0), (2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool_inference_path_equals_training_path(kernel, stride, padding):
    """Under no_grad max pooling takes a max-only path (no argmax); same values, NaN
    included (NaN propagates through the max)."""
    x = rand(2, 3, 7, 7, seed=4).astype(np.float32)
    x[0, 0, 3, 3] = np.nan
    trained = F.max_pool2d(dl.tensor(x, requires_grad=True), kernel, stride, padding)
    with dl.no_grad():
        inferred = F.max_pool2d(dl.tensor(x), kernel, stride, padding)
    np.testing.assert_array_equal(inferred.numpy(), trained.detach().numpy())


# ------------------------------------------------------------------- second derivatives
def second_order_case(name, op, **kw):
    """``F.<op>`` and ``torch.nn.functional.<op>`` with the same options, as a table row."""
    return OpCase(name, lambda *a: getattr(F, op)(*a, **kw), None,
                  lambda *a: getattr(TF, op)(*a, **kw))


SECOND_ORDER_CASES = [
    second_order_case("conv2d", "conv2d", stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                      groups=2).at((2, 4, 5, 6), (4, 2, 2, 3), (4,)),
    second_order_case("conv2d_same", "conv2d", padding="same").at((1, 2, 4, 5), (3, 2, 3, 2)),
    second_order_case("conv1d", "conv1d", stride=2, padding=1).at((2, 3, 7), (2, 3, 3)),
    second_order_case("conv3d", "conv3d", stride=(2, 1, 1), padding=1).at(
        (1, 2, 3, 4, 3), (2, 2, 2, 2, 2), (2,)),
    second_order_case("conv_transpose2d", "conv_transpose2d", stride=(2, 1), padding=1,
                      output_padding=(1, 0), groups=2, dilation=(1, 2)).at(
        (2, 4, 3, 4), (4, 1, 3, 2), (2,)),
    second_order_case("conv_transpose1d", "conv_transpose1d", stride=2, padding=1,
                      output_padding=1).at((2, 3, 4), (3, 2, 3)),
    second_order_case("conv_transpose3d", "conv_transpose3d", stride=2, padding=1).at(
        (1, 2, 2, 3, 2), (2, 2, 2, 2, 3)),
    OpCase("unfold", lambda x: F.unfold(x, (2, 3), padding=1, stride=(1, 2)), None,
           lambda x: TF.unfold(x, (2, 3), padding=1, stride=(1, 2))).at((1, 2, 4, 5)),
    OpCase("fold", lambda c: F.fold(c, (4, 5), (2, 2), padding=1, stride=2), None,
           lambda c: TF.fold(c, (4, 5), (2, 2), padding=1, stride=2)).at((2, 8, 9)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("check", SECOND_ORDER)
@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=str)
def test_second_order(case, check):
    """create_graph: gradgradcheck, and second derivatives equal PyTorch's (a convolution
    is bilinear: the cross terms of x and w are what it checks)."""
    check_op(case, check)


def test_second_order_through_a_nonlinearity_matches_torch():
    """The gradient of ‖∂L/∂x‖² for L = Σ tanh(conv2d(x, w) + b): every op's double
    backward on a path that is not linear."""
    from opcheck import assert_second_order_matches_torch
    assert_second_order_matches_torch(
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1).tanh(),
        lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1).tanh(),
        rand(2, 3, 5, 5), rand(4, 3, 3, 3, seed=1), rand(4, seed=2))
