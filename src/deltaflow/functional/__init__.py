"""User-facing functions (``dl.exp``, ``dl.cat``, ``x.sum(dim=1)`` ...).

This layer picks the op, normalises PyTorch-style arguments (``dim``, ``keepdim``, sizes
given as ``*args`` or a tuple) and checks them, so that a mistake is reported with the op's
name and the shapes involved instead of a NumPy traceback from deep inside. Tensor's methods
and operators (:mod:`deltaflow.tensor_methods`) call these functions.

One module per family, each importing the shared argument helpers (:mod:`._common`) and the
families it builds on: ``conversion arithmetic math comparison reductions shape indexing
slicing padding scans sorting activations linalg inplace_methods``. This package re-exports
them all (``deltaflow.functional.X``, ``F.X`` in ``tensor_methods``); ``__all__`` is what
``import deltaflow`` exposes as ``dl.X``.
"""
from .conversion import (
    clone, get_default_dtype, is_floating_point, is_nonzero, numel, set_default_dtype, to_copy
)
from ._common import (
    _as_float, _dim, _floating, _index_arrays, _int_index, _pair, _scalar, _sizes,
    as_tensor_like, values_indices
)
from .arithmetic import (
    abs, absolute, add, addcdiv, addcmul, clamp, clamp_max, clamp_min, clip, copysign, div,
    divide, floor_divide, fmod, lerp, maximum, minimum, mul, multiply, nan_to_num, neg,
    negative, positive, pow, remainder, sgn, sign, square, sub, subtract, true_divide, where
)
from .math import (
    acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, asin, asinh, atan,
    atan2, atanh, ceil, cos, cosh, deg2rad, digamma, erf, erfc, erfinv, exp, exp2, expm1, fix,
    floor, frac, heaviside, hypot, lgamma, log, log10, log1p, log2, logaddexp, logaddexp2,
    logit, polygamma, rad2deg, reciprocal, round, rsqrt, sin, sinc, sinh, sqrt, tan, trunc, xlogy
)
from .comparison import (
    all, allclose, any, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, eq, equal, ge,
    greater, greater_equal, gt, isclose, isfinite, isin, isinf, isnan, isneginf, isposinf, le,
    less, less_equal, logical_and, logical_not, logical_or, logical_xor, lt, ne, not_equal,
    signbit
)
from .reductions import (
    amax, amin, aminmax, aminmax_result, argmax, argmin, bincount, count_nonzero, dist, histc,
    logsumexp, max, mean, min, nanmean, nansum, norm, prod, std, std_mean, sum, var, var_mean
)
from .shape import (
    atleast_1d, atleast_2d, atleast_3d, broadcast_shapes, broadcast_tensors, broadcast_to,
    cartesian_prod, cat, chunk, column_stack, concat, concatenate, dstack, expand, flatten,
    flip, fliplr, flipud, hstack, meshgrid, moveaxis, movedim, permute, ravel, repeat, reshape,
    roll, rot90, row_stack, split, squeeze, stack, swapaxes, swapdims, t, tile, transpose,
    unbind, unflatten, unsqueeze, view, vstack
)
from .indexing import (
    SCATTER_REDUCTIONS, argwhere, combinations, gather, getitem, index_add, index_copy,
    index_fill, index_put, index_select, masked_fill, masked_scatter, masked_select, nonzero,
    repeat_interleave, scatter, scatter_add, scatter_reduce, setitem, take, take_along_dim
)
from .slicing import dsplit, hsplit, narrow, select, tensor_split, unfold, vsplit
from .padding import pad
from .scans import cummax, cummin, cumprod, cumsum, diff, logcumsumexp
from .sorting import (
    QUANTILE_INTERPOLATIONS, argsort, bucketize, kthvalue, median, mode, msort, nanmedian,
    quantile, searchsorted, sort, topk, unique, unique_consecutive
)
from .activations import (
    elu, gelu, hardtanh, leaky_relu, log_softmax, mish, relu, selu, sigmoid, silu, softmax,
    softplus, tanh
)
from .linalg import (
    addbmm, addmm, addmv, addr, baddbmm, block_diag, bmm, cdist, corrcoef, cov, cross, diag,
    diag_embed, diagflat, diagonal, dot, einsum, inner, kron, matmul, matrix_power, mm, mv,
    outer, tensordot, trace, tril, tril_indices, triu, triu_indices, vdot
)
from .inplace_methods import copy_, fill_, inplace
from . import array_namespace

# an op's backward under create_graph: xp_of(tensor) is NumPy's names over Tensors
from ..tensor import Tensor as _Tensor
_Tensor.array_namespace = array_namespace

# Tensor.new_* and the random in-place fills (Tensor's methods call them here) live with
# creation, which imports Tensor: complete by now.
from ..creation import (
    bernoulli, bernoulli_, exponential_, multinomial, new_empty, new_full, new_ones,
    new_tensor, new_zeros, normal_, uniform_
)

__all__ = [
    'abs', 'absolute', 'acos', 'acosh', 'add', 'addbmm', 'addcdiv', 'addcmul', 'addmm',
    'addmv', 'addr', 'all', 'allclose', 'amax', 'amin', 'aminmax', 'any', 'arccos', 'arccosh',
    'arcsin', 'arcsinh', 'arctan', 'arctan2', 'arctanh', 'argmax', 'argmin', 'argsort',
    'argwhere', 'as_tensor_like', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'atleast_1d',
    'atleast_2d', 'atleast_3d', 'baddbmm', 'bincount', 'bitwise_and', 'bitwise_not',
    'bitwise_or', 'bitwise_xor', 'block_diag', 'bmm', 'broadcast_shapes', 'broadcast_tensors',
    'broadcast_to', 'bucketize', 'cartesian_prod', 'cat', 'cdist', 'ceil', 'chunk', 'clamp',
    'clamp_max', 'clamp_min', 'clip', 'clone', 'column_stack', 'combinations', 'concat',
    'concatenate', 'copysign', 'corrcoef', 'cos', 'cosh', 'count_nonzero', 'cov', 'cross',
    'cummax', 'cummin', 'cumprod', 'cumsum', 'deg2rad', 'diag', 'diag_embed', 'diagflat',
    'diagonal', 'diff', 'digamma', 'dist', 'div', 'divide', 'dot', 'dsplit', 'dstack',
    'einsum', 'elu', 'eq', 'equal', 'erf', 'erfc', 'erfinv', 'exp', 'exp2', 'expand', 'expm1',
    'fix', 'flatten', 'flip', 'fliplr', 'flipud', 'floor', 'floor_divide', 'fmod', 'frac',
    'gather', 'ge', 'gelu', 'get_default_dtype', 'getitem', 'greater', 'greater_equal', 'gt',
    'hardtanh', 'heaviside', 'histc', 'hsplit', 'hstack', 'hypot', 'index_add', 'index_copy',
    'index_fill', 'index_put', 'index_select', 'inner', 'is_floating_point', 'is_nonzero',
    'isclose', 'isfinite', 'isin', 'isinf', 'isnan', 'isneginf', 'isposinf', 'kron',
    'kthvalue', 'le', 'leaky_relu', 'lerp', 'less', 'less_equal', 'lgamma', 'log', 'log10',
    'log1p', 'log2', 'log_softmax', 'logaddexp', 'logaddexp2', 'logcumsumexp', 'logical_and',
    'logical_not', 'logical_or', 'logical_xor', 'logit', 'logsumexp', 'lt', 'masked_fill',
    'masked_scatter', 'masked_select', 'matmul', 'matrix_power', 'max', 'maximum', 'mean',
    'median', 'meshgrid', 'min', 'minimum', 'mish', 'mm', 'mode', 'moveaxis', 'movedim',
    'msort', 'mul', 'multiply', 'mv', 'nan_to_num', 'nanmean', 'nanmedian', 'nansum', 'narrow',
    'ne', 'neg', 'negative', 'nonzero', 'norm', 'not_equal', 'numel', 'outer', 'pad',
    'permute', 'polygamma', 'positive', 'pow', 'prod', 'quantile', 'rad2deg', 'ravel',
    'reciprocal', 'relu',
    'remainder', 'repeat', 'repeat_interleave', 'reshape', 'roll', 'rot90', 'round',
    'row_stack', 'rsqrt', 'scatter', 'scatter_add', 'scatter_reduce', 'searchsorted', 'select',
    'selu', 'set_default_dtype', 'sgn', 'sigmoid', 'sign', 'signbit', 'silu', 'sin', 'sinc',
    'sinh', 'softmax', 'softplus', 'sort', 'split', 'sqrt', 'square', 'squeeze', 'stack',
    'std', 'std_mean', 'sub', 'subtract', 'sum', 'swapaxes', 'swapdims', 't', 'take',
    'take_along_dim', 'tan', 'tanh', 'tensor_split', 'tensordot', 'tile', 'to_copy', 'topk',
    'trace', 'transpose', 'tril', 'tril_indices', 'triu', 'triu_indices', 'true_divide',
    'trunc', 'unbind', 'unflatten', 'unique', 'unique_consecutive', 'unsqueeze', 'var',
    'var_mean', 'vdot', 'view', 'vsplit', 'vstack', 'where', 'xlogy'
]
