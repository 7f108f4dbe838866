"""``deltaflow.autograd``: Function, the backward engine, grad mode, gradcheck, anomaly mode."""
from .anomaly import detect_anomaly
from .function import Function
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckResult, gradcheck


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs`` without touching any ``.grad``."""
    from ..tensor import Tensor, root_grads
    from .engine import run_backward

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    captured = [None] * len(inputs)
    handles = []
    for k, t in enumerate(inputs):
        def hook(g, k=k):
            captured[k] = g.data if captured[k] is None else captured[k] + g.data
        handles.append(t.register_hook(hook))
    try:
        run_backward(outputs, root_grads(outputs, grad_outputs), retain_graph, accumulate=False)
    finally:
        for h in handles:
            h.remove()
    results = []
    for g in captured:
        if g is None and not allow_unused:
            raise RuntimeError("autograd.grad: one of the inputs was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
        results.append(None if g is None else Tensor.constant(g))
    return tuple(results)


__all__ = ["Function", "GradcheckResult", "detect_anomaly", "enable_grad", "grad", "gradcheck",
           "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]
