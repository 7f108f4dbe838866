"""Serving latency: batch-1 forward passes, what a served model pays per request. Each
variant is a model of the training workloads in eval mode under ``no_grad``, fed one image
at a time (a (1, 784) or (1, 1, 28, 28) tensor made beforehand from a pool of test images);
one unit is one forward call, a timed call runs CALLS of them over the pool. At batch 1
the arithmetic is small (mlp 1.3 MFLOP, cnn 8.5 MFLOP), so the time is mostly each
library's per-op cost. Both implementations start from the same weights (torch's
initialisation, copied into deltaflow through the state_dict).

Variants (``python -m benchmarks infer_latency`` runs both, ``infer_latency:mlp`` one):
``mlp``, the 784-512-512-10 ReLU network of `mlp`; ``cnn``, the network of `cnn`."""
from __future__ import annotations

DESCRIPTION = "batch-1 no_grad forward of the MLP and of the CNN: time per call"
VARIANTS = {"mlp": "MNIST 784-512-512-10 MLP, eval + no_grad, batch 1: one forward call",
            "cnn": "MNIST CNN of `cnn`, eval + no_grad, batch 1: one forward call"}
TARGET = 1.0
REFERENCE = "torch"
UNIT = "forward"
REPEATS = 15

CALLS = {"mlp": 400, "cnn": 100}     # forward calls per timed call
POOL = 64                            # distinct test images the calls cycle through


def mlp_state():
    """torch's initialisation (seed 0) of the `mlp` network, as NumPy arrays."""
    try:
        import torch
    except ImportError:
        return None
    from benchmarks.workloads.mlp import layers
    torch.manual_seed(0)
    return {k: v.numpy().copy() for k, v in layers(torch.nn).state_dict().items()}


def make(impl, quick=False, *, variant):
    """The forward loop of ``variant``; it returns the last output (for tests)."""
    from benchmarks.common import mnist_test, torch_initial_state
    if impl not in ("deltaflow", "torch"):
        return None
    if impl == "torch":
        try:
            import torch as lib
        except ImportError:
            return None
    else:
        import deltaflow as lib
    if variant == "mlp":
        from benchmarks.workloads.mlp import layers
        state = torch_initial_state("infer_latency", impl, "mlp_state")
        shape = (1, 784)
    else:
        from benchmarks.workloads.cnn import layers
        state = torch_initial_state("cnn", impl)
        shape = (1, 1, 28, 28)
    model = layers(lib.nn)
    if state is not None:
        model.load_state_dict({k: lib.from_numpy(v) for k, v in state.items()})
    model.eval()
    x, _, note = mnist_test(8 if quick else POOL)
    inputs = [lib.from_numpy(row.reshape(shape)) for row in x]
    calls = len(inputs) if quick else CALLS[variant]

    def run():
        with lib.no_grad():
            for i in range(calls):
                out = model(inputs[i % len(inputs)])
        return out
    run.units = calls
    run.note = note
    run.inputs, run.model = inputs, model
    return run
