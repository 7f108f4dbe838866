"""``deltaflow.diagnostics``: see and check what backpropagation did.

* :func:`gradcheck_model` -- every parameter's gradient against central differences, on a
  float64 copy of the model;
* :class:`GradientMonitor` -- per-layer gradient flow during training, with warnings for
  vanishing and exploding gradients;
* :func:`explain` -- one forward and backward pass, layer by layer, with the numbers.

Anomaly detection lives in :mod:`deltaflow.autograd.anomaly` (``dl.autograd.detect_anomaly``).
"""
from .gradcheck import GradcheckReport, ParamCheck, gradcheck_model

__all__ = ["GradcheckReport", "ParamCheck", "gradcheck_model"]
