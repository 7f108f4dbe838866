"""``nn.utils.parametrizations.weight_norm`` and ``spectral_norm``, registered with
:mod:`deltaflow.nn.utils.parametrize` as PyTorch does, so the state_dict keys are PyTorch's:
``parametrizations.weight.original0`` (g) and ``original1`` (v) for weight norm;
``parametrizations.weight.original`` and the buffers ``parametrizations.weight.0._u``,
``._v`` for spectral norm."""
from __future__ import annotations

from ... import creation
from ... import functional as _F
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from ..functional.distance import normalize
from ..modules.module import Module
from .parametrize import register_parametrization

__all__ = ["weight_norm", "spectral_norm"]


def norm_except_dim(v, dim):
    """‖v‖₂ over every dim but ``dim`` (keeping them as size 1); ``dim=-1``: over all."""
    if dim == -1:
        return _F.norm(v)
    others = tuple(d for d in range(v.ndim) if d != dim % v.ndim)
    return _F.norm(v, 2, others, keepdim=True) if others else v.abs()


class _WeightNorm(Module):
    """w = g · v / ‖v‖ (the norm over every dim but ``dim``); right inverse: g = ‖w‖, v = w."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        return norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparametrize ``module.<name>`` as g · v / ‖v‖ (``torch.nn.utils.parametrizations
    .weight_norm``): g is ``parametrizations.<name>.original0``, v ``original1``;
    ``dim=None`` normalises over the whole tensor."""
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


class _SpectralNorm(Module):
    """w / σ(w), σ the largest singular value of w viewed as a matrix (dim ``dim`` first),
    estimated by power iteration on the buffers u, v (``n_power_iterations`` steps per call
    in training mode, not differentiated); a 1-D w is normalised to unit norm."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: expected n_power_iterations to be positive, got "
                             f"{n_power_iterations}")
        ndim = weight.ndim
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps, self.n_power_iterations = eps, n_power_iterations
        if ndim > 1:
            matrix = self._matrix(weight)
            h, w = matrix.shape
            for buffer, size in (("_u", h), ("_v", w)):
                draw = creation.randn(size, dtype=weight.dtype, device=weight.device)
                self.register_buffer(buffer, normalize(draw, dim=0, eps=eps))
            self._power_method(matrix, 15)

    def _matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.reshape(weight.shape[0], -1)

    def _power_method(self, matrix, steps):
        with no_grad():
            for _ in range(steps):
                self._u = normalize(matrix @ self._v, dim=0, eps=self.eps)
                self._v = normalize(matrix.T @ self._u, dim=0, eps=self.eps)

    def forward(self, weight):
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        matrix = self._matrix(weight)
        if self.training:
            self._power_method(matrix, self.n_power_iterations)
        sigma = self._u.detach() @ (matrix @ self._v.detach())
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Reparametrize ``module.<name>`` as w / σ(w) (``torch.nn.utils.parametrizations
    .spectral_norm``); ``dim=None``: 1 for transposed convolutions, else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"spectral_norm: module {type(module).__name__} has no parameter or "
                         f"buffer named '{name}'")
    if dim is None:
        dim = 1 if "ConvTranspose" in type(module).__name__ else 0
    return register_parametrization(module, name,
                                    _SpectralNorm(weight, n_power_iterations, dim, eps))
