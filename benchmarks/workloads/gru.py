"""Character-level GRU language-model training step: the `lstm` workload with a GRU,
Embedding(65, 64) → GRU(64 → 256, batch_first) → Linear(256, 65), cross-entropy over all
64 positions, Adam (lr 2e-3), batch 32 × 64 characters. One unit is one training step
(zero_grad, forward, backward through time, Adam update) on the next batch of a fixed pool
of Tiny Shakespeare windows (synthetic ids when the text is absent). Both implementations
are written as a user of that library would write them and start from the same weights
(torch's initialisation, copied into deltaflow through the state_dict).
A timed call runs STEPS_PER_CALL steps (per-step times are reported)."""
from __future__ import annotations

from benchmarks.workloads.lstm import BATCH, EMBED, HIDDEN, LR, POOL, SEQ, VOCAB, char_batches

DESCRIPTION = ("char-GRU LM: vocab 65, embed 64, hidden 256, seq 64, batch 32, Adam: one "
               "training step")
TARGET = 1.0
REFERENCE = "torch"
UNIT = "step"
STEPS_PER_CALL = 4        # steps per timed call (benchmarks.common.several_steps)
REPEATS = 30


def _model(nn):
    class CharGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.gru = nn.GRU(EMBED, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            return self.head(self.gru(self.embed(x))[0])
    return CharGRU()


def _initial_state():
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    return {k: v.numpy().copy() for k, v in _model(torch.nn).state_dict().items()}


def step_gemms():
    """The products of one training step (benchmarks/gemm_floor.py): the GRU layer (3 gates;
    ∂X is needed, it trains the embedding) and the head Linear(256, 65) over all T·B
    positions. 3.21 GFLOP."""
    from benchmarks.gemm_floor import linear, recurrent
    return (recurrent("gru", SEQ, BATCH, EMBED, HIDDEN, gates=3)
            + linear("head", SEQ * BATCH, HIDDEN, VOCAB))


def gemms(quick=False):
    return step_gemms()


def make(impl, quick=False):
    from benchmarks.common import several_steps, torch_initial_state
    maker = {"deltaflow": _deltaflow, "torch": _torch}.get(impl)
    if maker is None:
        return None
    batches, note = char_batches(2 if quick else POOL)
    state = torch_initial_state("gru", impl)
    if impl == "torch" and state is None:
        return None
    step = several_steps(maker(batches, state), 1 if quick else STEPS_PER_CALL)
    step.note = note
    return step


def _deltaflow(batches, state):
    """The step (returns its loss; ``step.model`` is the model, for tests)."""
    import deltaflow as dl
    from deltaflow import nn, optim

    model = _model(nn)
    if state is not None:
        model.load_state_dict(state)
    opt = optim.Adam(model.parameters(), lr=LR)
    data = [(dl.tensor(b[:, :-1]), dl.tensor(b[:, 1:].reshape(-1))) for b in batches]
    k = [0]

    def step():
        x, y = data[k[0] % len(data)]
        k[0] += 1
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
        return loss
    step.model = model
    return step


def _torch(batches, state):
    """The step (returns its loss; ``step.model`` is the model, for tests)."""
    import torch
    from torch import nn, optim

    model = _model(nn)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    opt = optim.Adam(model.parameters(), lr=LR)
    data = [(torch.from_numpy(b[:, :-1].copy()), torch.from_numpy(b[:, 1:].reshape(-1).copy()))
            for b in batches]
    k = [0]

    def step():
        x, y = data[k[0] % len(data)]
        k[0] += 1
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
        return loss
    step.model = model
    return step
