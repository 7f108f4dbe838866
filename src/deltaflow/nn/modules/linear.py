"""``Linear``, ``Bilinear`` and ``Identity``-like affine layers with PyTorch's initialisation."""
from __future__ import annotations

import math

from ... import creation
from ...ops import linear as _L
from .. import init
from ..functional.linear import bilinear
from ..parameter import Parameter
from .module import Module

__all__ = ["Linear", "Bilinear"]


class Linear(Module):
    """y = x·Wᵀ + b with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    Initialised like PyTorch: W ~ kaiming_uniform_(a=√5), i.e. U(−1/√in, 1/√in), and
    b ~ U(−1/√in, 1/√in)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ValueError(f"Linear(in_features={self.in_features}, out_features="
                             f"{self.out_features}): expected input of shape (..., "
                             f"{self.in_features}), got {tuple(input.shape)}")
        if self.bias is None:
            return _L.Linear.apply(input, self.weight)
        return _L.Linear.apply(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """yₖ = x₁ᵀ·Wₖ·x₂ + bₖ with ``weight`` (out, in1, in2); init U(−1/√in1, 1/√in1)."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(creation.empty(out_features, in1_features, in2_features,
                                               dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
