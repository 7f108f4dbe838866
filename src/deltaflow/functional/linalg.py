"""Linear algebra: products (``matmul mm bmm mv dot vdot inner outer``, ``einsum tensordot kron
cross``), the fused ``addmm baddbmm addbmm addmv addr``, triangles and diagonals (``tril triu
tril_indices triu_indices diagonal diag_embed diag diagflat trace block_diag``),
``matrix_power``, and statistics of rows (``cov corrcoef cdist``).
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import backend
from ..ops import einsum as EIN
from ..ops import linalg as L
from ..tensor import Tensor
from ._common import _dim, _pair, as_tensor_like
from .arithmetic import add, clamp, clamp_min, div, mul, sub
from .math import sqrt
from .padding import pad
from .reductions import mean, norm, sum
from .shape import cat, expand, flatten, permute, reshape, squeeze, t, unsqueeze


# ----------------------------------------------------------------------------- products
def matmul(a, b):
    """Matrix product with NumPy/PyTorch rules for 1-D and batched operands."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        a, b = _pair(a, b)
    sa, sb = a.data.shape, b.data.shape
    if not sa or not sb:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                           f"{tuple(sa)} and {tuple(sb)}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {tuple(sa)} and {tuple(sb)} cannot be multiplied "
                         f"({ka} != {kb})")
    if len(sa) > 2 and len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ValueError(f"matmul: shapes {tuple(sa)} and {tuple(sb)} have batch dims "
                             f"{tuple(sa[:-2])} and {tuple(sb[:-2])} that cannot be "
                             "broadcast together") from None
    return L.MatMul.apply(a, b)


def mm(a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return matmul(a, b)


def bmm(a, b):
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return matmul(a, b)


def mv(mat, vec):
    """mat @ vec for a matrix and a vector."""
    if mat.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got shapes "
                           f"{tuple(mat.shape)} and {tuple(vec.shape)}")
    return matmul(mat, vec)


def dot(a, b):
    return matmul(a, b)


def vdot(a, b):
    """Σ aᵢ bᵢ of two 1-D tensors of one size (real tensors: no conjugate)."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise RuntimeError(f"vdot: expected two 1-D tensors of the same size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return dot(a, b)


def inner(a, b):
    """Σ over the last dims of a and b (a product where either is 0-d)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"inner: the last dims must match, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return tensordot(a, b, dims=([a.ndim - 1], [b.ndim - 1]))


def outer(a, b):
    return matmul(unsqueeze(a, 1), unsqueeze(b, 0))


def einsum(*args):
    """``einsum("bij,bjk->bik", a, b)`` (operands also as one list), or the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``; PyTorch's equations: implicit output (the
    letters used once, sorted), ``...``, size-1 dims broadcast."""
    if args and isinstance(args[0], Tensor):
        args = _einsum_sublists(args)
    if not args or not isinstance(args[0], str):
        raise TypeError("einsum(): expected an equation string followed by the operands")
    equation, *operands = args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    dtypes = sorted({str(t.dtype) for t in operands})
    if len(dtypes) > 1:
        raise TypeError(f"einsum(): all operands must have the same dtype, got {dtypes}")
    inputs, output, sizes = EIN.parse(equation, [t.shape for t in operands])
    return EIN.Einsum.apply(*operands, inputs=inputs, output=output, sizes=sizes)


def _einsum_sublists(args):
    """``(a, [0, 1], b, [1, 2], [0, 2])`` as ``("Ab,bC->AC"-like equation, a, b)``: label i
    is the i-th of ``EIN.LETTERS`` (their order is the labels' order), ``...`` is Ellipsis."""
    def letters(sublist):
        return "".join("..." if s is Ellipsis else EIN.LETTERS[s] for s in sublist)

    operands, sublists = args[0:len(args) - len(args) % 2:2], args[1::2][:len(args) // 2]
    equation = ",".join(map(letters, sublists))
    if len(args) % 2:
        equation += "->" + letters(args[-1])
    return (equation, *operands)


def tensordot(a, b, dims=2):
    """Σ over ``dims`` of a and b: an int n (a's last n dims with b's first n) or two lists
    of dims; the free dims of a, then those of b."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot: expected a non-negative number of dims, got {dims}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(dims_a) != len(dims_b):
        raise RuntimeError(f"tensordot: both dim lists should have the same length, got "
                           f"{dims_a} and {dims_b}")
    dims_a = [_dim(d, a.ndim, "tensordot") for d in dims_a]
    dims_b = [_dim(d, b.ndim, "tensordot") for d in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"tensordot: contracted dimensions need to match, but first has "
                               f"size {a.shape[da]} in dim {da} and second has size "
                               f"{b.shape[db]} in dim {db}")
    sa = EIN.LETTERS[:a.ndim]
    fresh = iter(EIN.LETTERS[a.ndim:])
    shared = dict(zip(dims_b, (sa[d] for d in dims_a)))
    sb = "".join(shared[i] if i in shared else next(fresh) for i in range(b.ndim))
    out = "".join(c for i, c in enumerate(sa) if i not in dims_a) + "".join(
        c for i, c in enumerate(sb) if i not in shared)
    return einsum(f"{sa},{sb}->{out}", a, b)


def kron(a, b):
    """The Kronecker product: blocks a[i, j, ...]·b (dims padded with leading 1s)."""
    a, b = _pair(a, b)
    n = builtins.max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + a.shape, (1,) * (n - b.ndim) + b.shape
    blocks = mul(reshape(a, [s for d in sa for s in (d, 1)]),
                 reshape(b, [s for d in sb for s in (1, d)]))
    return reshape(blocks, [p * q for p, q in zip(sa, sb)])


def cross(input, other, dim=None):  # noqa: A002
    """input × other along ``dim`` (of size 3; None: the first dim of size 3), inputs of
    the same number of dims broadcast."""
    a, b = _pair(input, other)
    try:
        if a.ndim != b.ndim:
            raise ValueError
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"cross: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                           "broadcast together") from None
    if dim is None:
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in shape {tuple(shape)}")
    d = _dim(dim, len(shape), "cross")
    if shape[d] != 3:
        raise RuntimeError(f"cross: dim {dim} has size {shape[d]}, expected 3 (shape "
                           f"{tuple(shape)})")
    return L.Cross.apply(expand(a, *shape), expand(b, *shape), dim=d)


# ------------------------------------------------------------------ β·input + α·product
def _plus_scaled(op, input, product, beta, alpha):
    """β·input + α·product, ``input`` broadcast to the product's shape; with β = 0 ``input``
    is ignored (its NaNs do not propagate), as in PyTorch."""
    try:
        fits = np.broadcast_shapes(input.shape, product.shape) == product.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} cannot be broadcast to "
                           f"the product's shape {tuple(product.shape)}")
    if alpha != 1:
        product = mul(product, alpha)
    return product if beta == 0 else add(product, input, alpha=beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(mat1 @ mat2)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"addmm: expected 2-D matrices mat1 and mat2, got shapes "
                           f"{tuple(mat1.shape)} and {tuple(mat2.shape)}")
    return _plus_scaled("addmm", input, matmul(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(batch1 @ batch2), batch by batch."""
    return _plus_scaled("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·Σ_b batch1[b] @ batch2[b] (one GEMM over the batch folded into the
    inner dim)."""
    if batch1.ndim != 3 or batch2.ndim != 3 or batch1.shape[0] != batch2.shape[0]:
        raise RuntimeError(f"addbmm: expected two 3-D batches of the same size, got shapes "
                           f"{tuple(batch1.shape)} and {tuple(batch2.shape)}")
    b, n, m = batch1.shape
    rows = reshape(permute(batch1, 1, 0, 2), n, b * m)
    return _plus_scaled("addbmm", input, matmul(rows, reshape(batch2, b * m, -1)), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(mat @ vec)."""
    return _plus_scaled("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(vec1 ⊗ vec2)."""
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"addr: expected two 1-D vectors, got shapes {tuple(vec1.shape)} "
                           f"and {tuple(vec2.shape)}")
    return _plus_scaled("addr", input, outer(vec1, vec2), beta, alpha)


# -------------------------------------------------------------- triangles and diagonals
def _matrix_dims(x, op):
    if x.ndim < 2:
        raise RuntimeError(f"{op}: expected a tensor with at least 2 dims, got shape "
                           f"{tuple(x.shape)}")


def tril(x, diagonal=0):
    """x on and below the ``diagonal``-th diagonal of its last two dims, 0 above."""
    _matrix_dims(x, "tril")
    return L.Tril.apply(x, diagonal=int(diagonal))


def triu(x, diagonal=0):
    """x on and above the ``diagonal``-th diagonal of its last two dims, 0 below."""
    _matrix_dims(x, "triu")
    return L.Triu.apply(x, diagonal=int(diagonal))


def _triangle_indices(which, row, col, offset, dtype, device):
    from ..creation import tensor

    rows, cols = which(row, offset, col)
    return tensor(np.stack([rows, cols]), dtype=dtype or backend.int64, device=device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None):
    """The (row, col) indices on and below the ``offset``-th diagonal, as a (2, N) tensor."""
    return _triangle_indices(np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None):
    """The (row, col) indices on and above the ``offset``-th diagonal, as a (2, N) tensor."""
    return _triangle_indices(np.triu_indices, row, col, offset, dtype, device)


def _two_dims(dim1, dim2, ndim, op):
    d1, d2 = _dim(dim1, ndim, op), _dim(dim2, ndim, op)
    if d1 == d2:
        raise RuntimeError(f"{op}: dim1 and dim2 cannot be identical, got {dim1} and {dim2}")
    return d1, d2


def diagonal(x, offset=0, dim1=0, dim2=1):
    """The ``offset``-th diagonal of dims (dim1, dim2), as the last dim."""
    d1, d2 = _two_dims(dim1, dim2, x.ndim, "diagonal")
    return L.Diagonal.apply(x, offset=int(offset), dim1=d1, dim2=d2)


def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """Zeros with x's last dim on the ``offset``-th diagonal of the output's dims
    (dim1, dim2); one dim more than x."""
    if x.ndim == 0:
        raise RuntimeError("diag_embed: expected a tensor with at least 1 dim, got a 0-d tensor")
    d1, d2 = _two_dims(dim1, dim2, x.ndim + 1, "diag_embed")
    n = x.shape[-1] + builtins.abs(int(offset))
    lead = iter(x.shape[:-1])
    shape = tuple(n if i in (d1, d2) else next(lead) for i in range(x.ndim + 1))
    return L.DiagEmbed.apply(x, shape=shape, offset=int(offset), dim1=d1, dim2=d2)


def diag(x, diagonal=0):
    """A 1-D x: the square matrix with x on its ``diagonal``-th diagonal; a 2-D x: that
    diagonal of it."""
    if x.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x.ndim == 2:
        return L.Diagonal.apply(x, offset=int(diagonal), dim1=0, dim2=1)
    raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(x.shape)}")


def diagflat(x, offset=0):
    """The matrix with flattened ``x`` on its ``offset``-th diagonal."""
    return diag(flatten(x), offset)


def trace(x):
    """Σ of the main diagonal of a matrix."""
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, got shape {tuple(x.shape)}")
    return sum(diagonal(x))


def block_diag(*tensors):
    """The tensors (0-d, 1-d or 2-d) as blocks along the diagonal of one matrix."""
    blocks = [reshape(t, (1,) * (2 - t.ndim) + t.shape) for t in tensors]
    for t in blocks:  # noqa: F402 - a local name; shape.t is cov's
        if t.ndim != 2:
            raise RuntimeError(f"block_diag: expected tensors of at most 2 dims, got shape "
                               f"{tuple(t.shape)}")
    dtype = np.result_type(*(t.data.dtype for t in blocks))
    width = builtins.sum(t.shape[1] for t in blocks)
    rows, left = [], 0
    for t in blocks:
        rows.append(pad(t.to(dtype), (left, width - left - t.shape[1])))
        left += t.shape[1]
    return cat(rows, dim=0)


def matrix_power(x, n):
    """x @ x @ ... (n times) of square matrices in the last two dims; n = 0: the identity."""
    _matrix_dims(x, "matrix_power")
    if x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"matrix_power: expected square matrices, got shape "
                           f"{tuple(x.shape)}")
    if n < 0:
        raise NotImplementedError("matrix_power: negative powers need a matrix inverse, which "
                                  "deltaflow does not have yet")
    xp = backend.xp_of(x.data)
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    if result is None:
        eye = xp.broadcast_to(xp.eye(x.shape[-1], dtype=x.data.dtype), x.shape)
        return Tensor.constant(xp.ascontiguousarray(eye))
    return result


# ------------------------------------------------------------------- statistics of rows
def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002
    """The covariance matrix of the rows of ``input`` (variables × observations), with
    optional frequency and analytic weights of the observations (numpy.cov's formula)."""
    x = reshape(input, 1, -1) if input.ndim < 2 else input
    if x.ndim != 2:
        raise RuntimeError(f"cov: expected a tensor of at most 2 dims, got shape "
                           f"{tuple(input.shape)}")
    weights = None
    for w in (fweights, aweights):
        if w is not None:
            w = as_tensor_like(w, x)
            weights = w if weights is None else mul(weights, w)
    if weights is None:
        avg, factor = mean(x, 1, keepdim=True), x.shape[1] - correction
        centred = sub(x, avg)
        scaled = centred
    else:
        total = sum(weights)
        avg = div(sum(mul(x, weights), 1, keepdim=True), total)
        spread = 1 if aweights is None else div(sum(mul(weights, aweights)), total)
        factor = clamp_min(sub(total, mul(spread, correction)), 0)
        centred = sub(x, avg)
        scaled = mul(centred, weights)
    if not isinstance(factor, Tensor):
        factor = builtins.max(factor, 0)
    return squeeze(div(matmul(centred, t(scaled)), factor))


def corrcoef(input):  # noqa: A002
    """Pearson's correlation coefficients of the rows of ``input``, clipped to [−1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return div(c, c)
    spread = sqrt(diagonal(c))
    return clamp(div(div(c, unsqueeze(spread, 1)), unsqueeze(spread, 0)), -1, 1)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """The p-norm distances between the rows of ``x1`` (…, P, M) and of ``x2`` (…, R, M):
    (…, P, R), the batch dims broadcast; differentiable (p = 0 counts differing coordinates
    and has no gradient). ``compute_mode`` is accepted; the distances are always computed
    from the differences, exactly."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with the same "
                           f"M, got shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    if p < 0:
        raise RuntimeError(f"cdist: p must be non-negative, got {p}")
    try:
        np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except ValueError:
        raise RuntimeError(f"cdist: batch dims {tuple(x1.shape[:-2])} and "
                           f"{tuple(x2.shape[:-2])} cannot be broadcast together") from None
    diff = sub(unsqueeze(x1, -2), unsqueeze(x2, -3))
    if p == 0:
        return Tensor.constant((diff.data != 0).sum(axis=-1).astype(diff.dtype))
    return norm(diff, p, dim=-1)
