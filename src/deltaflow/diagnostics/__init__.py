"""``deltaflow.diagnostics``: see and check what backpropagation did.

* :func:`gradcheck_model` -- every parameter's gradient against central differences, on a
  float64 copy of the model;
* :class:`GradientMonitor` -- per-layer gradient flow during training, with warnings for
  vanishing and exploding gradients (:mod:`.demos` shows both, and their fixes);
* :func:`explain` -- one forward and backward pass, layer by layer, with the numbers.

Anomaly detection lives in :mod:`deltaflow.autograd.anomaly` (``dl.autograd.detect_anomaly``).
Plots (:mod:`.plots`) import matplotlib only when drawn.
"""
from .explain import Explanation, explain
from .gradcheck import GradcheckReport, ParamCheck, gradcheck_model
from .monitor import GradientFlowWarning, GradientMonitor

__all__ = ["Explanation", "GradcheckReport", "GradientFlowWarning", "GradientMonitor",
           "ParamCheck", "explain", "gradcheck_model"]
