"""``deltaflow.autograd``: Function, the backward engine, grad mode, gradcheck and
gradgradcheck, anomaly mode, and ``functional`` (jacobian, hessian, vjp, jvp, hvp, vhp)."""
from . import functional
from .anomaly import detect_anomaly
from .function import Function
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckResult, gradcheck, gradgradcheck
from .gradients import grad


__all__ = ["Function", "GradcheckResult", "detect_anomaly", "enable_grad", "functional", "grad",
           "gradcheck", "gradgradcheck", "inference_mode", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]
