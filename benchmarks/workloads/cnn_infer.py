"""MNIST CNN inference: the network of ``cnn`` (conv32-pool-conv64-pool-fc128-fc10, torch's
initialisation copied into deltaflow) evaluated without gradient recording (``no_grad``,
eval mode) over the 10 000 test images in batches of 250, counting correct predictions, as
an evaluation loop does."""
from __future__ import annotations

from benchmarks.common import counting_evaluation, torch_initial_state
from benchmarks.workloads.cnn import _initial_state, layers

DESCRIPTION = "MNIST CNN of `cnn`, no_grad forward over the test set, batch 250"
TARGET = 1.0
REFERENCE = "torch"
UNIT = "pass"
REPEATS = 9

BATCH = 250


def make(impl, quick=False):
    from benchmarks.common import mnist_test
    x, y, note = mnist_test(1000 if quick else None)
    x = x.reshape(-1, 1, 28, 28)
    maker = {"deltaflow": _deltaflow, "torch": _torch}.get(impl)
    if maker is None:
        return None
    run = maker(x, y)
    if run is not None:
        run.note = note
    return run


def _deltaflow(x, y):
    import deltaflow as dl
    from deltaflow import nn

    dl.manual_seed(0)
    model = layers(nn)
    state = torch_initial_state("cnn", "deltaflow")
    if state is not None:
        model.load_state_dict(state)
    return counting_evaluation(dl, model, x, y, BATCH)


def _torch(x, y):
    try:
        import torch
    except ImportError:
        return None

    model = layers(torch.nn)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in _initial_state().items()})
    return counting_evaluation(torch, model, x, y, BATCH)
