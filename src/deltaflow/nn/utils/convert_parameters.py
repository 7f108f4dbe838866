"""One flat vector from many parameters and back."""
from __future__ import annotations

from ... import functional as _F


def parameters_to_vector(parameters):
    """Concatenate the flattened parameters into one 1-D tensor (differentiable)."""
    parameters = list(parameters)
    if not parameters:
        raise ValueError("parameters_to_vector: got no parameters")
    return _F.cat([_F.reshape(p, -1) for p in parameters])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' data (each
    parameter's array is replaced by a copy of its slice, shaped like it)."""
    if vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D vector, got shape "
                        f"{tuple(vec.shape)}")
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if total != vec.shape[0]:
        raise ValueError(f"vector_to_parameters: vector has {vec.shape[0]} elements but the "
                         f"parameters have {total}")
    pointer = 0
    for p in parameters:
        n = p.numel()
        p.data = vec.data[pointer:pointer + n].reshape(p.shape).astype(p.dtype, copy=True)
        pointer += n
