"""What importers share: moving ONNX's static arguments (shapes, axes, pads held in
integer tensors) to Python, making constants, and the dtypes deltaflow computes in."""
from __future__ import annotations

import numpy as np

from ...backend import to_device
from ...tensor import Tensor
from .registry import OnnxImportError, Unsupported

#: ONNX TensorProto element types deltaflow computes in → NumPy dtypes
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
          7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32,
          13: np.uint64}


def dtype(elem_type: int, what: str) -> np.dtype:
    """The NumPy dtype of ONNX element type ``elem_type``; Unsupported for the others
    (string, bfloat16, float8, int4, complex ...)."""
    if elem_type not in DTYPES:
        from onnx import TensorProto
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() \
            else str(elem_type)
        raise Unsupported(f"{what} has element type {name}; deltaflow computes in "
                          + ", ".join(np.dtype(d).name for d in DTYPES.values()))
    return np.dtype(DTYPES[elem_type])


def host(t: Tensor) -> np.ndarray:
    """The values of ``t`` as a NumPy array (for static arguments: shapes, axes, pads)."""
    return np.asarray(to_device(t.data, "cpu"))


def ints(t: Tensor | None) -> list[int] | None:
    """A 1-D (or 0-d) integer tensor as a list of Python ints; None stays None."""
    return None if t is None else [int(v) for v in host(t).reshape(-1)]


def scalar(t: Tensor):
    """A one-element tensor as a Python number."""
    return host(t).reshape(-1)[0].item()


def constant(array, like: Tensor | None = None) -> Tensor:
    """``array`` as a constant Tensor (outside the graph), on ``like``'s device."""
    array = np.asarray(array) if like is None else to_device(np.asarray(array), like.device)
    return Tensor.constant(array)


def on_arrays(fn, *tensors: Tensor) -> Tensor:
    """``fn`` applied to the arrays of ``tensors``, as a constant: for integer and bool
    computations, which have no gradient."""
    return Tensor.constant(fn(*(t.data for t in tensors)))


def is_float(t: Tensor) -> bool:
    return t.dtype.kind == "f"


def axis(a: int, ndim: int, op: str) -> int:
    """``a`` in [-ndim, ndim) made non-negative."""
    if not -ndim <= a < ndim:
        raise OnnxImportError(f"{op}: axis {a} is out of range for a {ndim}-D input")
    return a % ndim
