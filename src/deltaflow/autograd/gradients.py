"""``dl.autograd.grad``: gradients of outputs with respect to chosen inputs, leaving
every ``.grad`` alone; with ``create_graph`` the gradients are differentiable Tensors."""
from __future__ import annotations

from .engine import run_backward


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """``∂(Σ outputs ⊙ grad_outputs)/∂inputs`` as a tuple of Tensors, PyTorch's semantics.

    ``create_graph``: record the backward pass, so that the results can be differentiated
    again (the gradient of a gradient); ``retain_graph`` defaults to it. An input the
    outputs do not depend on is an error unless ``allow_unused`` (then its gradient is
    None, or zeros with ``materialize_grads``)."""
    from ..tensor import Tensor, root_grads

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for k, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {k} (shape {tuple(t.shape)}) does not "
                               "require grad; create it with requires_grad=True")
    seeds = root_grads(outputs, grad_outputs, as_tensors=create_graph)
    found = gradients_of(outputs, inputs, seeds,
                         create_graph if retain_graph is None else retain_graph, create_graph)
    results = []
    for k, (t, g) in enumerate(zip(inputs, found)):
        if g is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError(
                    f"autograd.grad: input {k} (shape {tuple(t.shape)}) was not used to "
                    "compute the outputs; pass allow_unused=True to get None for it")
            results.append(Tensor.constant(t.data * 0) if materialize_grads else None)
        else:
            results.append(g if create_graph else Tensor.constant(g))
    return tuple(results)


def gradients_of(outputs, inputs, seeds, retain_graph, create_graph):
    """Run backward from ``outputs`` seeded with ``seeds`` and return the total gradient
    reaching each of ``inputs`` (arrays; Tensors under ``create_graph``; None where none
    arrives), running only the part of the graph that leads to them and leaving every
    ``.grad`` alone."""
    return run_backward(outputs, seeds, retain_graph, accumulate=False,
                        create_graph=create_graph, capture=list(inputs))
