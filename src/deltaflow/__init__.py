"""deltaflow: forward propagation and backpropagation, made transparent.

``import deltaflow as dl`` gives a PyTorch-like API over NumPy (CuPy on GPU): tensors with
reverse-mode autodiff, ``dl.nn``, ``dl.optim``, ``dl.data``, a trainer and diagnostics that
show and check what backprop did.
"""
from . import autograd, backend
from .autograd import enable_grad, no_grad, set_grad_enabled, inference_mode, is_grad_enabled
from .backend import (bool_, cuda_available, double, float, float16, float32, float64, half,
                      int32, int64, long, uint8)
from .backend import int as int  # noqa: PLC0414
from .functional import *  # noqa: F401,F403  (first: it imports Tensor, see tensor_methods)
from .functional import (abs, max, min, pow, sum, values_indices)  # noqa: A004
from .creation import *  # noqa: F401,F403
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .tensor import Tensor

bool = bool_  # noqa: A001 - torch.bool

from . import nn, optim  # noqa: E402  (nn builds on everything above)
from .nn.functional import (  # noqa: E402, F401  (torch.X with nn.functional.X's signature)
    adaptive_avg_pool1d, avg_pool1d, bilinear, celu, conv1d, conv2d, conv3d, conv_transpose1d,
    conv_transpose2d, conv_transpose3d, cosine_similarity, group_norm, hardshrink, layer_norm,
    max_pool1d, max_pool2d, max_pool3d, pairwise_distance, pdist, pixel_shuffle,
    pixel_unshuffle, prelu, rms_norm, rrelu, threshold)
from . import data  # noqa: E402
from . import distributed  # noqa: E402  (dl.distributed: MPI, imported on init)
from . import utils  # noqa: E402  (dl.utils.data: dl.data at torch.utils.data's path)
from .summary import summary  # noqa: E402  (dl.summary(model, input_shape))
from . import diagnostics  # noqa: E402  (gradcheck_model, GradientMonitor, explain)
from . import viz  # noqa: E402  (dl.viz.graph, dl.viz.trace: pictures of the graph)

__version__ = "0.1.0"


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def save(obj, path, metadata=None):
    """Save a state dict (name → Tensor/array) as safetensors. See :mod:`deltaflow.io`."""
    from .io import save as _save
    return _save(obj, path, metadata=metadata)


def load(path, map_location=None):
    """Load a state dict saved by :func:`save` (safetensors: never executes code)."""
    from .io import load as _load
    return _load(path, map_location=map_location)


class cuda:  # noqa: N801 - mirrors torch.cuda
    """``dl.cuda.is_available()`` like ``torch.cuda.is_available()``."""

    is_available = staticmethod(cuda_available)


from . import train  # noqa: E402  (the Trainer sits on top of everything above)
from . import warnings  # noqa: E402  (dl.warnings: the classic mistakes, docs/reliability.md)
from . import tune  # noqa: E402  (dl.tune.search; Optuna is imported when a study runs)


def __getattr__(name):
    """``dl.onnx`` imported on first use (PEP 562): it needs the optional ``onnx`` package,
    which ``import deltaflow`` does not import."""
    if name == "onnx":
        import importlib
        return importlib.import_module(".onnx", __name__)
    raise AttributeError(f"module 'deltaflow' has no attribute {name!r}")
