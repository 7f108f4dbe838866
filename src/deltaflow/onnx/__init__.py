"""``dl.onnx``: leave deltaflow through ONNX (docs/onnx.md).

``dl.onnx.export(model, example_inputs, path, opset_version=17, ...)`` records the forward
pass of the model by running it (``trace.py``), maps every op through the converter table
(``converters/``) and writes a checked ``.onnx`` file. ``dl.onnx.load(path)`` is the way
back in: the graph as a trainable Module run by deltaflow ops (``load.py``, through the
import table ``importers/``). Needs the ``onnx`` package
(``pip install "deltaflow[onnx]"``), imported only when this package is.
"""
from .export import export
from .graph import ExportError
from .importers import OnnxImportError, Unsupported
from .load import OnnxModule, load

__all__ = ["ExportError", "OnnxImportError", "OnnxModule", "Unsupported", "export", "load"]
