"""``dl.onnx``: leave deltaflow through ONNX (docs/onnx.md).

``dl.onnx.export(model, example_inputs, path, opset_version=17, ...)`` records the forward
pass of the model by running it (``trace.py``), maps every op through the converter table
(``converters/``) and writes a checked ``.onnx`` file. ``dl.onnx.load(path)`` is the way
back in: the graph as a trainable Module run by deltaflow ops (``load.py``, through the
import table ``importers/``). Needs the ``onnx`` package
(``pip install "deltaflow[onnx]"``), imported only when this package is: ``import
deltaflow`` does not import it, ``dl.onnx`` does on first use.
"""
try:
    import onnx as _onnx  # noqa: F401  (first: a missing onnx says what to install)
except ImportError as err:
    raise ModuleNotFoundError("dl.onnx needs the onnx package: pip install 'deltaflow[onnx]'",
                              name="onnx") from err

from .export import export  # noqa: E402
from .graph import ExportError  # noqa: E402
from .importers import OnnxImportError, Unsupported  # noqa: E402
from .load import OnnxModule, load  # noqa: E402

__all__ = ["ExportError", "OnnxImportError", "OnnxModule", "Unsupported", "export", "load"]
