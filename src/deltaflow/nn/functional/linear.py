"""``F.linear`` and ``F.bilinear``."""
from __future__ import annotations

from ... import functional as _F
from ...ops import linear as _L

__all__ = ["linear", "bilinear"]


def linear(input, weight, bias=None):
    """y = x·Wᵀ + b for x of shape (..., in_features), W (out_features, in_features)."""
    if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not match a weight "
                         f"of shape {tuple(weight.shape)} (expected (..., {weight.shape[-1]}))"
                         if weight.ndim == 2 else
                         f"linear: weight must be 2-D, got shape {tuple(weight.shape)}")
    if bias is None:
        return _L.Linear.apply(input, weight)
    if tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {tuple(bias.shape)} does not match "
                         f"{weight.shape[0]} output features")
    return _L.Linear.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """yₖ = x₁ᵀ·Wₖ·x₂ + bₖ for x₁ (..., in1), x₂ (..., in2), W (out, in1, in2)."""
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] \
            or input2.shape[-1] != weight.shape[2] or input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"bilinear: inputs of shapes {tuple(input1.shape)} and "
                         f"{tuple(input2.shape)} do not match a weight of shape "
                         f"{tuple(weight.shape)} (expected (..., in1) and (..., in2) with the "
                         "same leading dims)")
    out_f, in1, in2 = weight.shape
    # (..., in1) @ (in1, out·in2) -> (..., out, in2), then contract in2 with x₂
    t = _F.matmul(input1, _F.reshape(_F.permute(weight, 1, 0, 2), in1, out_f * in2))
    t = _F.reshape(t, *input1.shape[:-1], out_f, in2)
    y = _F.sum(t * _F.unsqueeze(input2, -2), dim=-1)
    return y if bias is None else y + bias
