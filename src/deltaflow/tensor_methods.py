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
        """``x[index] = value``, in place (recorded where autograd is involved)."""
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

    # ---- math (issue 13) ----
    def sin(self):
        """sin x."""
        return F.sin(self)

    def cos(self):
        """cos x."""
        return F.cos(self)

    def tan(self):
        """tan x."""
        return F.tan(self)

    def asin(self):
        """asin x (|x| ≤ 1)."""
        return F.asin(self)

    def acos(self):
        """acos x (|x| ≤ 1)."""
        return F.acos(self)

    def atan(self):
        """atan x."""
        return F.atan(self)

    def sinh(self):
        """sinh x."""
        return F.sinh(self)

    def cosh(self):
        """cosh x."""
        return F.cosh(self)

    def asinh(self):
        """asinh x."""
        return F.asinh(self)

    def acosh(self):
        """acosh x (x ≥ 1)."""
        return F.acosh(self)

    def atanh(self):
        """atanh x (|x| < 1)."""
        return F.atanh(self)

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def atan2(self, other):
        """The angle of the point (other, self)."""
        return F.atan2(self, other)

    arctan2 = atan2

    def floor(self):
        """⌊x⌋ (gradient 0)."""
        return F.floor(self)

    def ceil(self):
        """⌈x⌉ (gradient 0)."""
        return F.ceil(self)

    def trunc(self):
        """x rounded towards 0 (gradient 0)."""
        return F.trunc(self)

    fix = trunc

    def round(self, *, decimals=0):
        """x rounded to ``decimals`` places, halves to even (gradient 0)."""
        return F.round(self, decimals=decimals)

    def frac(self):
        """x − trunc(x)."""
        return F.frac(self)

    def expm1(self):
        """eˣ − 1."""
        return F.expm1(self)

    def log2(self):
        """log₂ x."""
        return F.log2(self)

    def log10(self):
        """log₁₀ x."""
        return F.log10(self)

    def reciprocal(self):
        """1 / x."""
        return F.reciprocal(self)

    def erf(self):
        """The error function."""
        return F.erf(self)

    def erfinv(self):
        """The inverse of the error function."""
        return F.erfinv(self)

    def lgamma(self):
        """ln |Γ(x)|."""
        return F.lgamma(self)

    def polygamma(self, n):
        """ψ⁽ⁿ⁾(self), the n-th derivative of digamma (``torch.Tensor.polygamma(n)``)."""
        return F.polygamma(n, self)

    def digamma(self):
        """ψ(x) = d/dx ln Γ(x)."""
        return F.digamma(self)

    def lerp(self, end, weight):
        """self + weight·(end − self)."""
        return F.lerp(self, end, weight)

    def addcmul(self, tensor1, tensor2, *, value=1):
        """self + value·tensor1·tensor2."""
        return F.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        """self + value·tensor1/tensor2."""
        return F.addcdiv(self, tensor1, tensor2, value=value)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """β·self + α·(mat1 @ mat2)."""
        return F.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """β·self + α·(batch1 @ batch2), batch by batch."""
        return F.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """β·self + α·Σ_b batch1[b] @ batch2[b]."""
        return F.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def tril(self, diagonal=0):
        """x on and below the ``diagonal``-th diagonal of the last two dims, 0 above."""
        return F.tril(self, diagonal)

    def triu(self, diagonal=0):
        """x on and above the ``diagonal``-th diagonal of the last two dims, 0 below."""
        return F.triu(self, diagonal)

    def diag(self, diagonal=0):
        """1-D: the matrix with x on a diagonal; 2-D: a diagonal of x."""
        return F.diag(self, diagonal)

    def diag_embed(self, offset=0, dim1=-2, dim2=-1):
        """Zeros with x's last dim on a diagonal of dims (dim1, dim2)."""
        return F.diag_embed(self, offset, dim1, dim2)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        """The ``offset``-th diagonal of dims (dim1, dim2), as the last dim."""
        return F.diagonal(self, offset, dim1, dim2)

    def trace(self):
        """Σ of the main diagonal of a matrix."""
        return F.trace(self)

    def cross(self, other, dim=None):
        """self × other along ``dim`` (of size 3)."""
        return F.cross(self, other, dim)

    def diff(self, n=1, dim=-1, prepend=None, append=None):
        """The ``n``-th forward difference along ``dim``."""
        return F.diff(self, n, dim, prepend, append)

    def kron(self, other):
        """The Kronecker product self ⊗ other."""
        return F.kron(self, other)

    # ---- reductions, scans, index and shape ops (issue 13) ----
    def cumsum(self, dim, dtype=None):
        """Running sum along ``dim``."""
        return F.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim, dtype=None):
        """Running product along ``dim``."""
        return F.cumprod(self, dim, dtype=dtype)

    def logcumsumexp(self, dim):
        """Running ln Σ eˣ along ``dim``."""
        return F.logcumsumexp(self, dim)

    def cummax(self, dim):
        """``(values, indices)`` of the running maximum along ``dim``."""
        return F.cummax(self, dim)

    def cummin(self, dim):
        """``(values, indices)`` of the running minimum along ``dim``."""
        return F.cummin(self, dim)

    def median(self, dim=None, keepdim=False):
        """The lower median (of all elements, or ``(values, indices)`` along ``dim``)."""
        return F.median(self, dim, keepdim)

    def mode(self, dim=-1, keepdim=False):
        """``(values, indices)`` of the most frequent value along ``dim``."""
        return F.mode(self, dim, keepdim)

    def kthvalue(self, k, dim=-1, keepdim=False):
        """``(values, indices)`` of the k-th smallest element along ``dim``."""
        return F.kthvalue(self, k, dim, keepdim)

    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        """The q-quantiles (of all elements or along ``dim``)."""
        return F.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def nansum(self, dim=None, keepdim=False, dtype=None):
        """Σ over ``dim`` with NaN counted as 0."""
        return F.nansum(self, dim, keepdim, dtype=dtype)

    def nanmean(self, dim=None, keepdim=False, dtype=None):
        """The mean over ``dim`` of the elements that are not NaN."""
        return F.nanmean(self, dim, keepdim, dtype=dtype)

    def count_nonzero(self, dim=None):
        """The number of non-zero elements (along ``dim``)."""
        return F.count_nonzero(self, dim)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        """A copy with ``src`` (or ``value``) written at ``index`` along ``dim``."""
        return F.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        """``scatter``, in place."""
        return F.inplace(self, "scatter_", F.scatter, dim, index, src, value=value,
                         reduce=reduce)

    def scatter_add_(self, dim, index, src):
        """``scatter_add``, in place."""
        return F.inplace(self, "scatter_add_", F.scatter_add, dim, index, src)

    def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
        """A copy with ``src`` reduced into the positions ``index`` names along ``dim``."""
        return F.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        """``scatter_reduce``, in place."""
        return F.inplace(self, "scatter_reduce_", F.scatter_reduce, dim, index, src, reduce,
                         include_self=include_self)

    def index_add(self, dim, index, source, *, alpha=1):
        """A copy with ``alpha · source`` added at ``index`` along ``dim``."""
        return F.index_add(self, dim, index, source, alpha=alpha)

    def index_add_(self, dim, index, source, *, alpha=1):
        """``index_add``, in place."""
        return F.inplace(self, "index_add_", F.index_add, dim, index, source, alpha=alpha)

    def index_fill(self, dim, index, value):
        """A copy with the slices at ``index`` along ``dim`` set to ``value``."""
        return F.index_fill(self, dim, index, value)

    def index_fill_(self, dim, index, value):
        """``index_fill``, in place."""
        return F.inplace(self, "index_fill_", F.index_fill, dim, index, value)

    def index_copy(self, dim, index, source):
        """A copy with the slices of ``source`` written at ``index`` along ``dim``."""
        return F.index_copy(self, dim, index, source)

    def index_copy_(self, dim, index, source):
        """``index_copy``, in place."""
        return F.inplace(self, "index_copy_", F.index_copy, dim, index, source)

    def masked_scatter(self, mask, source):
        """A copy with the True positions of ``mask`` filled by ``source``'s elements."""
        return F.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask, source):
        """``masked_scatter``, in place."""
        return F.inplace(self, "masked_scatter_", F.masked_scatter, mask, source)

    def masked_select(self, mask):
        """The elements where ``mask`` is True, as a 1-D tensor."""
        return F.masked_select(self, mask)

    def nonzero(self, *, as_tuple=False):
        """The indices of the non-zero elements."""
        return F.nonzero(self, as_tuple=as_tuple)

    def argwhere(self):
        """The (n, ndim) indices of the non-zero elements."""
        return F.argwhere(self)

    def narrow(self, dim, start, length):
        """``length`` elements from ``start`` along ``dim`` (a view)."""
        return F.narrow(self, dim, start, length)

    def unfold(self, dimension, size, step):
        """The windows of ``size`` elements every ``step`` along ``dimension``."""
        return F.unfold(self, dimension, size, step)

    def movedim(self, source, destination):
        """The dims ``source`` moved to ``destination``."""
        return F.movedim(self, source, destination)

    moveaxis = movedim

    def bincount(self, weights=None, minlength=0):
        """Counts (or summed ``weights``) of each value of a 1-D integer tensor."""
        return F.bincount(self, weights, minlength)

    def histc(self, bins=100, min=0, max=0):  # noqa: A002 - PyTorch's names
        """A histogram of ``bins`` equal bins over [min, max]."""
        return F.histc(self, bins, min, max)

    def unique_consecutive(self, return_inverse=False, return_counts=False, dim=None):
        """Each run of equal consecutive elements kept once."""
        return F.unique_consecutive(self, return_inverse, return_counts, dim)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """|self − other| ≤ atol + rtol·|other| elementwise."""
        return F.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """True when ``isclose`` holds everywhere."""
        return F.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other):
        """True for the same shape and the same values."""
        return F.equal(self, other)

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

    def clamp_min_(self, min):  # noqa: A002
        """self ← max(self, min), in place."""
        return F.inplace(self, "clamp_min_", F.clamp, min=min)

    def clamp_max_(self, max):  # noqa: A002
        """self ← min(self, max), in place."""
        return F.inplace(self, "clamp_max_", F.clamp, max=max)

    def index_put_(self, indices, values):
        """self[indices] ← values, in place (``index_put``)."""
        return F.inplace(self, "index_put_", F.index_put, indices, values)

    def neg_(self):
        """self ← −self, in place."""
        return F.inplace(self, "neg_", F.neg)

    def abs_(self):
        """self ← |self|, in place."""
        return F.inplace(self, "abs_", F.abs)

    def exp_(self):
        """self ← exp(self), in place."""
        return F.inplace(self, "exp_", F.exp)

    def log_(self):
        """self ← log(self), in place."""
        return F.inplace(self, "log_", F.log)

    def sqrt_(self):
        """self ← √self, in place."""
        return F.inplace(self, "sqrt_", F.sqrt)

    def relu_(self):
        """self ← max(self, 0), in place."""
        return F.inplace(self, "relu_", F.relu)

    def sigmoid_(self):
        """self ← σ(self), in place."""
        return F.inplace(self, "sigmoid_", F.sigmoid)

    def tanh_(self):
        """self ← tanh(self), in place."""
        return F.inplace(self, "tanh_", F.tanh)

    def zero_(self):
        """self ← 0 everywhere, in place."""
        return F.fill_(self, 0)

    def fill_(self, value):
        """self ← ``value`` everywhere, in place (a number or a one-element tensor)."""
        return F.fill_(self, value)

    def copy_(self, src, non_blocking=False):
        """self ← ``src`` (broadcast, cast to self's dtype and device), in place."""
        return F.copy_(self, src)

    # ---- creation and random fills ----
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A copy of ``data`` in self's dtype and on its device (unless given)."""
        return F.new_tensor(self, data, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """Zeros of ``size``, in self's dtype and on its device (unless given)."""
        return F.new_zeros(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        """Ones of ``size``, in self's dtype and on its device (unless given)."""
        return F.new_ones(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        """An uninitialised tensor of ``size``, in self's dtype and on its device."""
        return F.new_empty(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        """``fill_value`` everywhere in a tensor of ``size``, in self's dtype and device."""
        return F.new_full(self, size, fill_value, dtype=dtype, device=device,
                          requires_grad=requires_grad)

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        """self ← samples of U[a, b), in place (the global generator unless given)."""
        return F.uniform_(self, a, b, generator=generator)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """self ← samples of N(mean, std²), in place."""
        return F.normal_(self, mean, std, generator=generator)

    def exponential_(self, lambd=1.0, *, generator=None):
        """self ← samples of Exp(λ) (mean 1/λ), in place."""
        return F.exponential_(self, lambd, generator=generator)

    def bernoulli_(self, p=0.5, *, generator=None):
        """self ← 1 with probability ``p`` (a number or a broadcastable tensor), else 0."""
        return F.bernoulli_(self, p, generator=generator)

    # ---- pytorch parity: methods of existing functions, and in-place forms ----
    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """``num_samples`` indices drawn per row with probabilities ∝ the row's weights."""
        return F.multinomial(self, num_samples, replacement, generator=generator)

    def bernoulli(self, p=None, *, generator=None):
        """1 with probability self (or ``p``) elementwise, else 0."""
        return F.bernoulli(self, p, generator=generator)

    def broadcast_to(self, shape):
        """self broadcast to ``shape``."""
        return F.broadcast_to(self, shape)

    def index_put(self, indices, values):
        """A copy of self with self[indices] = values."""
        return F.index_put(self, indices, values)

    def logical_and(self, other):
        """Elementwise and (bool tensor)."""
        return F.logical_and(self, other)

    def logical_or(self, other):
        """Elementwise or (bool tensor)."""
        return F.logical_or(self, other)

    def logical_xor(self, other):
        """Elementwise exclusive or (bool tensor)."""
        return F.logical_xor(self, other)

    def ravel(self):
        """self flattened to 1-D."""
        return F.ravel(self)

    def positive(self):
        """self (+x)."""
        return F.positive(self)

    def msort(self):
        """self sorted along dim 0."""
        return F.msort(self)

    def is_nonzero(self):
        """``bool(self)`` of a one-element tensor."""
        return F.is_nonzero(self)

    def logaddexp(self, other):
        """ln(eˣ + eʸ)."""
        return F.logaddexp(self, other)

    def logaddexp2(self, other):
        """log₂(2ˣ + 2ʸ)."""
        return F.logaddexp2(self, other)

    def hypot(self, other):
        """√(x² + y²)."""
        return F.hypot(self, other)

    def xlogy(self, other):
        """x · ln y, 0 where x = 0."""
        return F.xlogy(self, other)

    def fmod(self, other):
        """The remainder of x / y with the sign of x."""
        return F.fmod(self, other)

    def remainder(self, other):
        """The remainder of x / y with the sign of y."""
        return F.remainder(self, other)

    def floor_divide(self, other):
        """floor(x / y)."""
        return F.floor_divide(self, other)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        """NaN and ±∞ replaced by finite values."""
        return F.nan_to_num(self, nan, posinf, neginf)

    def logit(self, eps=None):
        """ln(x / (1 − x))."""
        return F.logit(self, eps)

    def sinc(self):
        """sin(πx) / (πx)."""
        return F.sinc(self)

    def exp2(self):
        """2ˣ."""
        return F.exp2(self)

    def erfc(self):
        """1 − erf x."""
        return F.erfc(self)

    def deg2rad(self):
        """Degrees to radians."""
        return F.deg2rad(self)

    def rad2deg(self):
        """Radians to degrees."""
        return F.rad2deg(self)

    def heaviside(self, values):
        """The step function, ``values`` at 0."""
        return F.heaviside(self, values)

    def copysign(self, other):
        """|x| with the sign of ``other``."""
        return F.copysign(self, other)

    def signbit(self):
        """Whether the sign bit is set (bool tensor)."""
        return F.signbit(self)

    def isposinf(self):
        """Whether x = +∞."""
        return F.isposinf(self)

    def isneginf(self):
        """Whether x = −∞."""
        return F.isneginf(self)

    def aminmax(self, *, dim=None, keepdim=False):
        """``(min, max)`` of all elements or along ``dim``."""
        return F.aminmax(self, dim=dim, keepdim=keepdim)

    def nanmedian(self, dim=None, keepdim=False):
        """The median ignoring NaN."""
        return F.nanmedian(self, dim, keepdim)

    def dist(self, other, p=2):
        """‖self − other‖ₚ."""
        return F.dist(self, other, p)

    def fliplr(self):
        """self flipped along dim 1."""
        return F.fliplr(self)

    def flipud(self):
        """self flipped along dim 0."""
        return F.flipud(self)

    def rot90(self, k=1, dims=(0, 1)):
        """self turned by k·90° in ``dims``."""
        return F.rot90(self, k, dims)

    def tensor_split(self, indices_or_sections, dim=0):
        """Near-equal pieces, or pieces cut at indices, along ``dim``."""
        return F.tensor_split(self, indices_or_sections, dim)

    def hsplit(self, sections):
        """``tensor_split`` along dim 1 (0 for 1-D)."""
        return F.hsplit(self, sections)

    def vsplit(self, sections):
        """``tensor_split`` along dim 0."""
        return F.vsplit(self, sections)

    def dsplit(self, sections):
        """``tensor_split`` along dim 2."""
        return F.dsplit(self, sections)

    def select(self, dim, index):
        """self at ``index`` along ``dim``."""
        return F.select(self, dim, index)

    def take(self, index):
        """Elements of flattened self at ``index``."""
        return F.take(self, index)

    def take_along_dim(self, indices, dim=None):
        """``gather`` with broadcasting."""
        return F.take_along_dim(self, indices, dim)

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        """The distinct values."""
        return F.unique(self, sorted, return_inverse, return_counts, dim)

    def inner(self, other):
        """Σ over the last dims of self and other."""
        return F.inner(self, other)

    def mv(self, vec):
        """Matrix self @ vector ``vec``."""
        return F.mv(self, vec)

    def addmv(self, mat, vec, *, beta=1, alpha=1):
        """β·self + α·(mat @ vec)."""
        return F.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def addr(self, vec1, vec2, *, beta=1, alpha=1):
        """β·self + α·(vec1 ⊗ vec2)."""
        return F.addr(self, vec1, vec2, beta=beta, alpha=alpha)

    def vdot(self, other):
        """Σ xᵢ yᵢ of two 1-D tensors."""
        return F.vdot(self, other)

    def cov(self, *, correction=1, fweights=None, aweights=None):
        """The covariance matrix of the rows."""
        return F.cov(self, correction=correction, fweights=fweights, aweights=aweights)

    def corrcoef(self):
        """The correlation coefficients of the rows."""
        return F.corrcoef(self)

    def diagflat(self, offset=0):
        """The matrix with flattened self on a diagonal."""
        return F.diagflat(self, offset)

    def matrix_power(self, n):
        """self @ self @ ... (n times)."""
        return F.matrix_power(self, n)

    def prelu(self, weight):
        """max(0, x) + weight · min(0, x), ``weight`` per channel (dim 1)."""
        from .nn import functional as NF

        return NF.prelu(self, weight)

    def hardshrink(self, lambd=0.5):
        """x where |x| > lambd, else 0."""
        from .nn import functional as NF

        return NF.hardshrink(self, lambd)

    negative, absolute, sgn = neg, abs, sign
    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
    def ndimension(self):
        """The number of dims (``dim()``)."""
        return self.dim()

    def nelement(self):
        """The number of elements (``numel()``)."""
        return self.numel()

    def sin_(self):
        """self ← sin(self), in place."""
        return F.inplace(self, "sin_", F.sin)

    def cos_(self):
        """self ← cos(self), in place."""
        return F.inplace(self, "cos_", F.cos)

    def tan_(self):
        """self ← tan(self), in place."""
        return F.inplace(self, "tan_", F.tan)

    def asin_(self):
        """self ← asin(self), in place."""
        return F.inplace(self, "asin_", F.asin)

    def acos_(self):
        """self ← acos(self), in place."""
        return F.inplace(self, "acos_", F.acos)

    def atan_(self):
        """self ← atan(self), in place."""
        return F.inplace(self, "atan_", F.atan)

    def sinh_(self):
        """self ← sinh(self), in place."""
        return F.inplace(self, "sinh_", F.sinh)

    def cosh_(self):
        """self ← cosh(self), in place."""
        return F.inplace(self, "cosh_", F.cosh)

    def asinh_(self):
        """self ← asinh(self), in place."""
        return F.inplace(self, "asinh_", F.asinh)

    def acosh_(self):
        """self ← acosh(self), in place."""
        return F.inplace(self, "acosh_", F.acosh)

    def atanh_(self):
        """self ← atanh(self), in place."""
        return F.inplace(self, "atanh_", F.atanh)

    def floor_(self):
        """self ← floor(self), in place."""
        return F.inplace(self, "floor_", F.floor)

    def ceil_(self):
        """self ← ceil(self), in place."""
        return F.inplace(self, "ceil_", F.ceil)

    def trunc_(self):
        """self ← trunc(self), in place."""
        return F.inplace(self, "trunc_", F.trunc)

    def frac_(self):
        """self ← frac(self), in place."""
        return F.inplace(self, "frac_", F.frac)

    def erf_(self):
        """self ← erf(self), in place."""
        return F.inplace(self, "erf_", F.erf)

    def erfinv_(self):
        """self ← erfinv(self), in place."""
        return F.inplace(self, "erfinv_", F.erfinv)

    def expm1_(self):
        """self ← expm1(self), in place."""
        return F.inplace(self, "expm1_", F.expm1)

    def log1p_(self):
        """self ← log1p(self), in place."""
        return F.inplace(self, "log1p_", F.log1p)

    def log2_(self):
        """self ← log2(self), in place."""
        return F.inplace(self, "log2_", F.log2)

    def log10_(self):
        """self ← log10(self), in place."""
        return F.inplace(self, "log10_", F.log10)

    def lgamma_(self):
        """self ← lgamma(self), in place."""
        return F.inplace(self, "lgamma_", F.lgamma)

    def digamma_(self):
        """self ← digamma(self), in place."""
        return F.inplace(self, "digamma_", F.digamma)

    def reciprocal_(self):
        """self ← reciprocal(self), in place."""
        return F.inplace(self, "reciprocal_", F.reciprocal)

    def rsqrt_(self):
        """self ← rsqrt(self), in place."""
        return F.inplace(self, "rsqrt_", F.rsqrt)

    def square_(self):
        """self ← square(self), in place."""
        return F.inplace(self, "square_", F.square)

    def sign_(self):
        """self ← sign(self), in place."""
        return F.inplace(self, "sign_", F.sign)

    def logical_not_(self):
        """self ← logical_not(self), in place."""
        return F.inplace(self, "logical_not_", F.logical_not)

    def sinc_(self):
        """self ← sinc(self), in place."""
        return F.inplace(self, "sinc_", F.sinc)

    def exp2_(self):
        """self ← exp2(self), in place."""
        return F.inplace(self, "exp2_", F.exp2)

    def erfc_(self):
        """self ← erfc(self), in place."""
        return F.inplace(self, "erfc_", F.erfc)

    def deg2rad_(self):
        """self ← deg2rad(self), in place."""
        return F.inplace(self, "deg2rad_", F.deg2rad)

    def rad2deg_(self):
        """self ← rad2deg(self), in place."""
        return F.inplace(self, "rad2deg_", F.rad2deg)

    def atan2_(self, other):
        """self ← atan2(self, other), in place."""
        return F.inplace(self, "atan2_", F.atan2, other)

    def hypot_(self, other):
        """self ← hypot(self, other), in place."""
        return F.inplace(self, "hypot_", F.hypot, other)

    def fmod_(self, other):
        """self ← fmod(self, other), in place."""
        return F.inplace(self, "fmod_", F.fmod, other)

    def remainder_(self, other):
        """self ← remainder(self, other), in place."""
        return F.inplace(self, "remainder_", F.remainder, other)

    def floor_divide_(self, other):
        """self ← floor_divide(self, other), in place."""
        return F.inplace(self, "floor_divide_", F.floor_divide, other)

    def xlogy_(self, other):
        """self ← xlogy(self, other), in place."""
        return F.inplace(self, "xlogy_", F.xlogy, other)

    def copysign_(self, other):
        """self ← copysign(self, other), in place."""
        return F.inplace(self, "copysign_", F.copysign, other)

    def logical_and_(self, other):
        """self ← logical_and(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "logical_and_", F.logical_and, other)

    def logical_or_(self, other):
        """self ← logical_or(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "logical_or_", F.logical_or, other)

    def logical_xor_(self, other):
        """self ← logical_xor(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "logical_xor_", F.logical_xor, other)

    def heaviside_(self, values):
        """self ← heaviside(self, values), in place."""
        return F.inplace(self, "heaviside_", F.heaviside, values)

    def eq_(self, other):
        """self ← eq(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "eq_", F.eq, other)

    def ne_(self, other):
        """self ← ne(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "ne_", F.ne, other)

    def lt_(self, other):
        """self ← lt(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "lt_", F.lt, other)

    def le_(self, other):
        """self ← le(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "le_", F.le, other)

    def gt_(self, other):
        """self ← gt(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "gt_", F.gt, other)

    def ge_(self, other):
        """self ← ge(self, other) (0/1 in self's dtype), in place."""
        return F.inplace(self, "ge_", F.ge, other)

    def round_(self, *, decimals=0):
        """self ← round(self), in place."""
        return F.inplace(self, "round_", F.round, decimals=decimals)

    def logit_(self, eps=None):
        """self ← logit(self), in place."""
        return F.inplace(self, "logit_", F.logit, eps)

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        """self ← nan_to_num(self), in place."""
        return F.inplace(self, "nan_to_num_", F.nan_to_num, nan, posinf, neginf)

    def lerp_(self, end, weight):
        """self ← lerp(self, end, weight), in place."""
        return F.inplace(self, "lerp_", F.lerp, end, weight)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        """self ← self + value·tensor1·tensor2, in place."""
        return F.inplace(self, "addcmul_", F.addcmul, tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        """self ← self + value·tensor1/tensor2, in place."""
        return F.inplace(self, "addcdiv_", F.addcdiv, tensor1, tensor2, value=value)

    def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
        """self ← β·self + α·(mat1 @ mat2), in place."""
        return F.inplace(self, "addmm_", F.addmm, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm_(self, batch1, batch2, *, beta=1, alpha=1):
        """self ← β·self + α·(batch1 @ batch2), in place."""
        return F.inplace(self, "baddbmm_", F.baddbmm, batch1, batch2, beta=beta, alpha=alpha)

    def addbmm_(self, batch1, batch2, *, beta=1, alpha=1):
        """self ← β·self + α·Σ_b batch1[b] @ batch2[b], in place."""
        return F.inplace(self, "addbmm_", F.addbmm, batch1, batch2, beta=beta, alpha=alpha)

    def addmv_(self, mat, vec, *, beta=1, alpha=1):
        """self ← β·self + α·(mat @ vec), in place."""
        return F.inplace(self, "addmv_", F.addmv, mat, vec, beta=beta, alpha=alpha)

    def addr_(self, vec1, vec2, *, beta=1, alpha=1):
        """self ← β·self + α·(vec1 ⊗ vec2), in place."""
        return F.inplace(self, "addr_", F.addr, vec1, vec2, beta=beta, alpha=alpha)

    def tril_(self, diagonal=0):
        """self ← tril(self), in place."""
        return F.inplace(self, "tril_", F.tril, diagonal)

    def triu_(self, diagonal=0):
        """self ← triu(self), in place."""
        return F.inplace(self, "triu_", F.triu, diagonal)

    def cumsum_(self, dim, dtype=None):
        """self ← cumsum(self, dim), in place."""
        return F.inplace(self, "cumsum_", F.cumsum, dim, dtype=dtype)

    def cumprod_(self, dim, dtype=None):
        """self ← cumprod(self, dim), in place."""
        return F.inplace(self, "cumprod_", F.cumprod, dim, dtype=dtype)

    arcsin_, arccos_, arctan_, arcsinh_ = asin_, acos_, atan_, asinh_
    arccosh_, arctanh_, arctan2_, fix_ = acosh_, atanh_, atan2_, trunc_
    clip_, negative_, absolute_, sgn_ = clamp_, neg_, abs_, sign_
    multiply_, subtract_, divide_, true_divide_ = mul_, sub_, div_, div_
    greater_, greater_equal_, less_, less_equal_, not_equal_ = gt_, ge_, lt_, le_, ne_

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
        """``x += y``, in place."""
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
        """``~x``: bitwise not of an integer or bool tensor (logical not for bool)."""
        return F.bitwise_not(self)

    def __and__(self, other):
        """``a & b``: bitwise and of integer or bool tensors."""
        return F.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other):
        """``a | b``: bitwise or of integer or bool tensors."""
        return F.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        """``a ^ b``: bitwise xor of integer or bool tensors."""
        return F.bitwise_xor(self, other)

    __rxor__ = __xor__

    def bitwise_and(self, other):
        """Bitwise and (``&``)."""
        return F.bitwise_and(self, other)

    def bitwise_or(self, other):
        """Bitwise or (``|``)."""
        return F.bitwise_or(self, other)

    def bitwise_xor(self, other):
        """Bitwise xor (``^``)."""
        return F.bitwise_xor(self, other)

    def bitwise_not(self):
        """Bitwise not (``~``)."""
        return F.bitwise_not(self)
