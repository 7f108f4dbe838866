"""``Dropout`` (elementwise) and ``Dropout1d``/``Dropout2d`` (whole channels); identity in eval
mode. In training mode under ``no_grad()`` each warns once (``dl.warnings.EvalModeWarning``:
``model.eval()`` forgotten)."""
from __future__ import annotations

from ..functional.dropout import (
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from .mode_checks import check_eval_mode
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class _DropoutNd(Module):
    #: the functional form: ``function(input, p, training)``
    function = staticmethod(dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        if self.p:
            check_eval_mode(self)
        return self.function(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability p during training, scaling the rest by 1/(1−p)."""


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) inputs."""

    function = staticmethod(dropout1d)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) inputs."""

    function = staticmethod(dropout2d)


# ---- pytorch parity: Dropout3d and alpha dropout ----
__all__ += ["Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) inputs."""

    function = staticmethod(dropout3d)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: keeps the input's mean and variance."""

    function = staticmethod(alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """``AlphaDropout`` of whole channels."""

    function = staticmethod(feature_alpha_dropout)
