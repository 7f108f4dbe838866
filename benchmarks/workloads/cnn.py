"""MNIST CNN training step: conv(1→32, 3×3, pad 1)-ReLU-maxpool2 → conv(32→64, 3×3, pad
1)-ReLU-maxpool2 → fc(3136→128)-ReLU → fc(128→10), cross-entropy, Adam (lr 1e-3), batch 64.
One unit is one training step (zero_grad, forward, backward, Adam update) on the next
batch of a fixed pool of real MNIST images (synthetic when the data is absent). Both
implementations are written as a user of that library would write them; both start from
the same weights (torch's initialisation, copied into deltaflow through the state_dict).
A timed call runs STEPS_PER_CALL steps (per-step times are reported)."""
from __future__ import annotations

DESCRIPTION = ("MNIST CNN conv32-pool-conv64-pool-fc128-fc10, Adam, batch 64: one training "
               "step")
TARGET = 1.0         # issue 21: every workload ≤ 1.0× PyTorch
REFERENCE = "torch"
UNIT = "step"
STEPS_PER_CALL = 4        # steps per timed call (benchmarks.common.several_steps)
REPEATS = 30

BATCH = 64
POOL = 32            # batches in the pool the steps cycle through
LR = 1e-3


def layers(nn):
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def step_gemms(batch):
    """The products of one training step on ``batch`` images (benchmarks/gemm_floor.py):
    conv1 (1→32, 3×3 over 28×28 outputs; no ∂cols, its input is the data), conv2 (32→64,
    3×3 over 14×14), fc(3136→128), fc(128→10), each forward and backward. At batch 64:
    1.60 GFLOP."""
    from benchmarks.gemm_floor import conv2d, linear
    return (conv2d("conv1", batch, 1, 32, 3, 28 * 28, input_grad=False)
            + conv2d("conv2", batch, 32, 64, 3, 14 * 14)
            + linear("fc1", batch, 3136, 128) + linear("fc2", batch, 128, 10))


def gemms(quick=False):
    return step_gemms(BATCH)


def _initial_state():
    """torch's default initialisation with seed 0, as NumPy arrays (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    return {k: v.numpy().copy() for k, v in layers(torch.nn).state_dict().items()}


def make(impl, quick=False):
    from benchmarks.common import mnist_train, several_steps
    x, y, note = mnist_train(BATCH * (4 if quick else POOL))
    x = x.reshape(-1, 1, 28, 28)
    maker = {"deltaflow": _deltaflow, "torch": _torch}.get(impl)
    if maker is None:
        return None
    step = maker(x, y)
    if step is not None:
        step = several_steps(step, 1 if quick else STEPS_PER_CALL)
        step.note = note
    return step


def _deltaflow(x, y):
    import deltaflow as dl
    from benchmarks.common import torch_initial_state
    from deltaflow import nn, optim
    dl.manual_seed(0)
    model = layers(nn)
    state = torch_initial_state("cnn", "deltaflow")
    if state is not None:
        model.load_state_dict(state)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=LR)
    batches = [(dl.tensor(x[i:i + BATCH]), dl.tensor(y[i:i + BATCH]))
               for i in range(0, len(x), BATCH)]
    count = [0]

    def step():
        xb, yb = batches[count[0] % len(batches)]
        count[0] += 1
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    return step


def _torch(x, y):
    try:
        import torch
        from torch import nn, optim
    except ImportError:
        return None

    model = layers(nn)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in _initial_state().items()})
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=LR)
    batches = [(torch.from_numpy(x[i:i + BATCH]), torch.from_numpy(y[i:i + BATCH]))
               for i in range(0, len(x), BATCH)]
    count = [0]

    def step():
        xb, yb = batches[count[0] % len(batches)]
        count[0] += 1
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    return step
