"""``TensorMethods``: the math methods and operators of :class:`~deltaflow.tensor.Tensor`
(``x + y``, ``x @ w``, ``x.sum(dim=1)``, ``x.reshape(2, -1)``, ``x.add_(y)`` ...).

Each one calls its function in :mod:`deltaflow.functional`, which picks the op and checks
the arguments; ``help(dl.Tensor.sum)`` and IDEs see the signatures declared here.

Import order: ``functional`` imports ``Tensor``, and ``Tensor`` inherits from this class, so
``deltaflow/__init__.py`` imports ``functional`` first; ``F`` is then the module still being
initialised here, complete before any method runs.
"""
from __future__ import annotations

from . import backend
from . import functional as F


class TensorMethods:
    """Methods and operators of ``Tensor``; each is ``deltaflow.functional``'s function of
    the same name with the tensor as its first argument."""

    __slots__ = ()

    # ------------------------------------------------------------------ arithmetic
    def add(self, other, alpha=1):
        """self + α·other."""
        return F.add(self, other, alpha)

    def sub(self, other, alpha=1):
        """self − α·other."""
        return F.sub(self, other, alpha)

    def mul(self, other):
        """self · other (elementwise)."""
        return F.mul(self, other)

    def div(self, other):
        """self / other (true division: integer operands give the default float dtype)."""
        return F.div(self, other)

    subtract, multiply, divide, true_divide = sub, mul, div, div

    def pow(self, exponent):
        """self ** exponent."""
        return F.pow(self, exponent)

    def square(self):
        """self²."""
        return F.square(self)

    def neg(self):
        """−self."""
        return F.neg(self)

    def exp(self):
        """eˣ."""
        return F.exp(self)

    def log(self):
        """ln x."""
        return F.log(self)

    def log1p(self):
        """ln(1 + x)."""
        return F.log1p(self)

    def sqrt(self):
        """√x."""
        return F.sqrt(self)

    def rsqrt(self):
        """1 / √x."""
        return F.rsqrt(self)

    def abs(self):
        """|x|."""
        return F.abs(self)

    def sign(self):
        """sign(x): −1, 0 or 1."""
        return F.sign(self)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        """x limited to [min, max] (either bound may be None)."""
        return F.clamp(self, min, max)

    clip = clamp

    def clamp_min(self, min):  # noqa: A002
        """max(x, min)."""
        return F.clamp_min(self, min)

    def clamp_max(self, max):  # noqa: A002
        """min(x, max)."""
        return F.clamp_max(self, max)

    def maximum(self, other):
        """Elementwise max(self, other)."""
        return F.maximum(self, other)

    def minimum(self, other):
        """Elementwise min(self, other)."""
        return F.minimum(self, other)

    def where(self, condition, other):
        """self where ``condition``, else ``other``."""
        return F.where(condition, self, other)

    # ------------------------------------------------------------------ comparison
    def eq(self, other):
        """self == other, elementwise (a bool tensor)."""
        return F.eq(self, other)

    def ne(self, other):
        """self != other, elementwise (a bool tensor)."""
        return F.ne(self, other)

    def lt(self, other):
        """self < other, elementwise (a bool tensor)."""
        return F.lt(self, other)

    def le(self, other):
        """self <= other, elementwise (a bool tensor)."""
        return F.le(self, other)

    def gt(self, other):
        """self > other, elementwise (a bool tensor)."""
        return F.gt(self, other)

    def ge(self, other):
        """self >= other, elementwise (a bool tensor)."""
        return F.ge(self, other)

    def isnan(self):
        """True where x is NaN."""
        return F.isnan(self)

    def isinf(self):
        """True where x is ±∞."""
        return F.isinf(self)

    def isfinite(self):
        """True where x is neither NaN nor ±∞."""
        return F.isfinite(self)

    def logical_not(self):
        """not x, elementwise (a bool tensor)."""
        return F.logical_not(self)

    def all(self, dim=None, keepdim=False):
        """True where every element (along ``dim``) is non-zero."""
        return F.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        """True where some element (along ``dim``) is non-zero."""
        return F.any(self, dim, keepdim)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False, dtype=None):
        """Σ x over ``dim`` (all elements when None); integers sum in int64."""
        return F.sum(self, dim, keepdim, dtype)

    def mean(self, dim=None, keepdim=False, dtype=None):
        """(1/n) Σ x over ``dim`` (all elements when None)."""
        return F.mean(self, dim, keepdim, dtype)

    def prod(self, dim=None, keepdim=False):
        """Π x over ``dim`` (all elements when None)."""
        return F.prod(self, dim, keepdim)

    def max(self, dim=None, keepdim=False, other=None):
        """``x.max()``: the largest element; ``x.max(dim)``: ``(values, indices)``;
        ``x.max(other)``: elementwise maximum."""
        return F.max(self, dim, keepdim, other)

    def min(self, dim=None, keepdim=False, other=None):
        """``x.min()``: the smallest element; ``x.min(dim)``: ``(values, indices)``;
        ``x.min(other)``: elementwise minimum."""
        return F.min(self, dim, keepdim, other)

    def amax(self, dim=None, keepdim=False):
        """The largest element over ``dim`` (ties share the gradient)."""
        return F.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        """The smallest element over ``dim`` (ties share the gradient)."""
        return F.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest element (of the flattened tensor when ``dim`` is None)."""
        return F.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """Index of the smallest element (of the flattened tensor when ``dim`` is None)."""
        return F.argmin(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        """Σ (x − x̄)² / (n − correction) over ``dim`` (correction 1 by default)."""
        return F.var(self, dim, unbiased, keepdim, correction)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        """√var(x) over ``dim``."""
        return F.std(self, dim, unbiased, keepdim, correction)

    def logsumexp(self, dim=None, keepdim=False):
        """ln Σ eˣ over ``dim``, computed without overflow."""
        return F.logsumexp(self, dim, keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        """(Σ |x|ᵖ)^(1/p) over ``dim`` (Frobenius for p=2 over all elements)."""
        return F.norm(self, p, dim, keepdim)

    # ----------------------------------------------------------------------- shape
    def reshape(self, *shape):
        """The same elements in ``shape`` (one entry may be −1)."""
        return F.reshape(self, *shape)

    view = reshape

    def reshape_as(self, other):
        """``self.reshape(other.shape)``."""
        return F.reshape(self, other.shape)

    view_as = reshape_as

    def permute(self, *dims):
        """The dims reordered: output dim i is input dim ``dims[i]``."""
        return F.permute(self, *dims)

    def transpose(self, dim0, dim1):
        """Dims ``dim0`` and ``dim1`` swapped."""
        return F.transpose(self, dim0, dim1)

    swapaxes = swapdims = transpose

    def t(self):
        """Transpose of a tensor with at most 2 dims."""
        return F.t(self)

    @property
    def T(self):  # noqa: N802 - PyTorch's name
        """All dims reversed."""
        return self if self.ndim < 2 else F.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self):  # noqa: N802 - PyTorch's name
        """The last two dims swapped (a batch of matrices transposed)."""
        return F.transpose(self, -2, -1)

    def contiguous(self):
        """``self`` (ops accept any strides)."""
        return self

    def squeeze(self, dim=None):
        """Dims of size 1 removed (only ``dim`` when given)."""
        return F.squeeze(self, dim)

    def unsqueeze(self, dim):
        """A dim of size 1 inserted at ``dim``."""
        return F.unsqueeze(self, dim)

    def flatten(self, start_dim=0, end_dim=-1):
        """Dims ``start_dim`` … ``end_dim`` merged into one."""
        return F.flatten(self, start_dim, end_dim)

    def unflatten(self, dim, sizes):
        """Dim ``dim`` split into ``sizes``."""
        return F.unflatten(self, dim, sizes)

    def expand(self, *sizes):
        """A broadcast view in ``sizes`` (−1 keeps a dim)."""
        return F.expand(self, *sizes)

    def expand_as(self, other):
        """``self.expand(other.shape)``."""
        return F.expand(self, other.shape)

    def split(self, split_size_or_sections, dim=0):
        """Pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of the
        given sizes."""
        return F.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        """At most ``chunks`` equal pieces along ``dim``."""
        return F.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        """The slices along ``dim``, with that dim removed."""
        return F.unbind(self, dim)

    def flip(self, dims):
        """The order of the elements along ``dims`` reversed."""
        return F.flip(self, dims)

    def roll(self, shifts, dims=None):
        """Elements shifted cyclically by ``shifts`` along ``dims`` (flattened when None)."""
        return F.roll(self, shifts, dims)

    def repeat(self, *sizes):
        """The tensor tiled ``sizes[i]`` times along dim i."""
        return F.repeat(self, *sizes)

    def tile(self, dims):
        """``repeat`` with ``dims`` padded with leading 1s."""
        return F.tile(self, dims)

    def repeat_interleave(self, repeats, dim=None):
        """Each element repeated ``repeats`` times along ``dim`` (flattened when None)."""
        return F.repeat_interleave(self, repeats, dim)

    # -------------------------------------------------------------------- indexing
    def __getitem__(self, index):
        """``x[index]``: NumPy basic and advanced indexing, differentiable."""
        return F.getitem(self, index)

    def __setitem__(self, index, value):
        """``x[index] = value``: written into the data (not recorded by autograd)."""
        F.setitem(self, index, value)

    def gather(self, dim, index):
        """out[i][j] = x[i][index[i][j]] (for dim 1; likewise for any dim)."""
        return F.gather(self, dim, index)

    def scatter_add(self, dim, index, src):
        """A copy of x with out[i][index[i][j]] += src[i][j] (for dim 1)."""
        return F.scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        """The entries ``index`` (1-D) along ``dim``."""
        return F.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        """x with ``value`` where the bool ``mask`` is True."""
        return F.masked_fill(self, mask, value)

    def sort(self, dim=-1, descending=False, stable=False):
        """``(values, indices)`` sorted along ``dim`` (ties keep their order)."""
        return F.sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        """Indices that sort x along ``dim`` (ties keep their order)."""
        return F.argsort(self, dim, descending, stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's name
        """``(values, indices)`` of the ``k`` largest (or smallest) along ``dim``."""
        return F.topk(self, k, dim, largest, sorted)

    # ----------------------------------------------------------------- activations
    def relu(self):
        """max(x, 0)."""
        return F.relu(self)

    def leaky_relu(self, negative_slope=0.01):
        """x for x > 0, else negative_slope·x."""
        return F.leaky_relu(self, negative_slope)

    def elu(self, alpha=1.0):
        """x for x > 0, else α(eˣ − 1)."""
        return F.elu(self, alpha)

    def selu(self):
        """scale · elu(x, α) with SELU's constants."""
        return F.selu(self)

    def gelu(self, approximate="none"):
        """x·Φ(x) (``approximate="tanh"``: the tanh approximation)."""
        return F.gelu(self, approximate)

    def silu(self):
        """x·σ(x)."""
        return F.silu(self)

    def mish(self):
        """x·tanh(softplus(x))."""
        return F.mish(self)

    def sigmoid(self):
        """σ(x) = 1 / (1 + e⁻ˣ)."""
        return F.sigmoid(self)

    def tanh(self):
        """tanh x."""
        return F.tanh(self)

    def softplus(self, beta=1.0, threshold=20.0):
        """ln(1 + e^(βx)) / β (x itself where βx > threshold)."""
        return F.softplus(self, beta, threshold)

    def hardtanh(self, min_val=-1.0, max_val=1.0):
        """x limited to [min_val, max_val] (gradient 0 at the bounds)."""
        return F.hardtanh(self, min_val, max_val)

    def softmax(self, dim=-1):
        """eˣ / Σ eˣ along ``dim``."""
        return F.softmax(self, dim)

    def log_softmax(self, dim=-1):
        """x − logsumexp(x) along ``dim``."""
        return F.log_softmax(self, dim)

    # ---------------------------------------------------------------------- linalg
    def matmul(self, other):
        """Matrix product with NumPy/PyTorch rules for 1-D and batched operands."""
        return F.matmul(self, other)

    def mm(self, other):
        """Product of two 2-D matrices."""
        return F.mm(self, other)

    def bmm(self, other):
        """Product of two batches (3-D) of matrices."""
        return F.bmm(self, other)

    def outer(self, other):
        """out[i, j] = self[i] · other[j]."""
        return F.outer(self, other)

    def dot(self, other):
        """Σ self[i] · other[i] (``matmul`` rules)."""
        return F.dot(self, other)

    # ----------------------------------------------------------------- conversions
    def clone(self):
        """A copy of the data, differentiable (the gradient flows back to ``self``)."""
        return F.clone(self)

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """``t.to("cuda")``, ``t.to(dl.float64)``, ``t.to(other)``, ``t.to(device=...,
        dtype=...)``; differentiable (``non_blocking`` is accepted for PyTorch code and has
        no effect)."""
        dtype, device = backend.to_arguments(args, dtype, device)
        return F.to_copy(self, dtype=dtype, device=device, copy=copy)

    def type_as(self, other):
        """``self`` in ``other``'s dtype."""
        return self.to(other.dtype)

    # ------------------------------------------------------------ in-place methods
    def add_(self, other, alpha=1):
        """self ← self + α·other, in place (see ``functional.inplace``)."""
        return F.inplace(self, "add_", F.add, other, alpha=alpha)

    def sub_(self, other, alpha=1):
        """self ← self − α·other, in place."""
        return F.inplace(self, "sub_", F.sub, other, alpha=alpha)

    def mul_(self, other):
        """self ← self · other, in place."""
        return F.inplace(self, "mul_", F.mul, other)

    def div_(self, other):
        """self ← self / other, in place."""
        return F.inplace(self, "div_", F.div, other)

    def pow_(self, exponent):
        """self ← self ** exponent, in place."""
        return F.inplace(self, "pow_", F.pow, exponent)

    def clamp_(self, min=None, max=None):  # noqa: A002
        """self ← self limited to [min, max], in place."""
        return F.inplace(self, "clamp_", F.clamp, min=min, max=max)

    def masked_fill_(self, mask, value):
        """self ← ``value`` where ``mask`` is True, in place."""
        return F.inplace(self, "masked_fill_", F.masked_fill, mask, value)

    # ------------------------------------------------------------------- operators
    def __add__(self, other):
        """self + other."""
        return F.add(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        """self − other."""
        return F.sub(self, other)

    def __rsub__(self, other):
        """other − self."""
        return F.sub(other, self)

    def __mul__(self, other):
        """self · other (elementwise)."""
        return F.mul(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        """self / other."""
        return F.div(self, other)

    def __rtruediv__(self, other):
        """other / self."""
        return F.div(other, self)

    def __pow__(self, exponent):
        """self ** exponent."""
        return F.pow(self, exponent)

    def __rpow__(self, base):
        """base ** self."""
        return F.pow(F.as_tensor_like(base, self), self)

    def __matmul__(self, other):
        """self @ other (``matmul``)."""
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        """other @ self."""
        return F.matmul(other, self)

    def __neg__(self):
        """−self."""
        return F.neg(self)

    def __abs__(self):
        """|self|."""
        return F.abs(self)

    def __iadd__(self, other):
        """``x += y`` (on a non-leaf in the graph: rebinds ``x`` to ``x + y``)."""
        return F.inplace(self, "__iadd__", F.add, other)

    def __isub__(self, other):
        """``x -= y``."""
        return F.inplace(self, "__isub__", F.sub, other)

    def __imul__(self, other):
        """``x *= y``."""
        return F.inplace(self, "__imul__", F.mul, other)

    def __itruediv__(self, other):
        """``x /= y``."""
        return F.inplace(self, "__itruediv__", F.div, other)

    def __eq__(self, other):
        """self == other, elementwise (a bool tensor)."""
        return F.eq(self, other)

    def __ne__(self, other):
        """self != other, elementwise."""
        return F.ne(self, other)

    __hash__ = object.__hash__  # by identity, as defining __eq__ would otherwise remove it

    def __lt__(self, other):
        """self < other, elementwise."""
        return F.lt(self, other)

    def __le__(self, other):
        """self <= other, elementwise."""
        return F.le(self, other)

    def __gt__(self, other):
        """self > other, elementwise."""
        return F.gt(self, other)

    def __ge__(self, other):
        """self >= other, elementwise."""
        return F.ge(self, other)

    def __invert__(self):
        """``~x``: logical not of a bool tensor."""
        return F.logical_not(self)

    def __and__(self, other):
        """``a & b``: elementwise and of bool tensors."""
        return F.logical_and(self, other)

    def __or__(self, other):
        """``a | b``: elementwise or of bool tensors."""
        return F.logical_or(self, other)
