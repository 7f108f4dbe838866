"""The ONNX import table (:mod:`.registry`), filled by one module per operator family."""
from . import activation, elementwise, nn, recurrent, reduce, shape  # noqa: F401  (register)
from .registry import (IMPORTERS, MAX_OPSET, MIN_OPSET, OnnxImportError, Unsupported,
                       attribute_names, lookup, max_inputs, supported_operators)

__all__ = ["IMPORTERS", "MAX_OPSET", "MIN_OPSET", "OnnxImportError", "Unsupported",
           "attribute_names", "lookup", "max_inputs", "supported_operators"]
