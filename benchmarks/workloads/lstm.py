"""Character-level LSTM language-model training step: Embedding(65, 64) → LSTM(64 → 256,
batch_first) → Linear(256, 65), cross-entropy over all 64 positions, Adam (lr 2e-3),
batch 32 × 64 characters. One unit is one training step (zero_grad, forward, backward
through time, Adam update) on the next batch of a fixed pool of Tiny Shakespeare windows
(synthetic ids when the text is absent). Both implementations are written as a user of
that library would write them and start from the same weights (torch's initialisation,
copied into deltaflow through the state_dict).
A timed call runs STEPS_PER_CALL steps (per-step times are reported)."""
from __future__ import annotations

DESCRIPTION = ("char-LSTM LM: vocab 65, embed 64, hidden 256, seq 64, batch 32, Adam: one "
               "training step")
TARGET = 1.0         # issue 21: every workload ≤ 1.0× PyTorch
REFERENCE = "torch"
UNIT = "step"
STEPS_PER_CALL = 4        # steps per timed call (benchmarks.common.several_steps)
REPEATS = 30

VOCAB, EMBED, HIDDEN, SEQ, BATCH = 65, 64, 256, 64, 32
POOL = 16
LR = 2e-3


def char_batches(n_batches, seq=SEQ, batch=BATCH):
    """``(ids int64 (n_batches, batch, seq + 1), note)`` from Tiny Shakespeare windows."""
    import numpy as np

    from benchmarks.common import data_dir
    path = data_dir() / "text" / "tinyshakespeare.txt"
    rng = np.random.default_rng(0)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        vocab = sorted(set(text))
        ids = np.array([vocab.index(c) for c in text[:200_000]], dtype=np.int64) % VOCAB
        note = "real Tiny Shakespeare windows"
    else:
        ids = rng.integers(0, VOCAB, 200_000)
        note = f"SYNTHETIC character ids (no {path})"
    starts = rng.integers(0, len(ids) - seq - 1, (n_batches, batch))
    return ids[starts[..., None] + np.arange(seq + 1)], note


def _model(nn, cell="LSTM"):
    """Embedding → ``cell`` (nn.LSTM or nn.GRU, batch_first) → Linear head."""
    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            setattr(self, cell.lower(), getattr(nn, cell)(EMBED, HIDDEN, batch_first=True))
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            return self.head(getattr(self, cell.lower())(self.embed(x))[0])
    return CharLM()


def _initial_state(cell="LSTM"):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    return {k: v.numpy().copy() for k, v in _model(torch.nn, cell).state_dict().items()}


def step_gemms():
    """The products of one training step (benchmarks/gemm_floor.py): the LSTM layer
    (4 gates; ∂X is needed, it trains the embedding) and the head Linear(256, 65) over all
    T·B positions. 4.21 GFLOP."""
    from benchmarks.gemm_floor import linear, recurrent
    return (recurrent("lstm", SEQ, BATCH, EMBED, HIDDEN, gates=4)
            + linear("head", SEQ * BATCH, HIDDEN, VOCAB))


def gemms(quick=False):
    return step_gemms()


def make(impl, quick=False):
    return char_lm(impl, quick, "lstm", "LSTM")


def char_lm(impl, quick, workload, cell):
    """The timed step of workload ``workload`` (this one, or ``gru``) with ``cell``."""
    from benchmarks.common import several_steps, torch_initial_state
    maker = {"deltaflow": _deltaflow, "torch": _torch}.get(impl)
    if maker is None:
        return None
    batches, note = char_batches(2 if quick else POOL)
    state = torch_initial_state(workload, impl)
    if impl == "torch" and state is None:
        return None
    step = several_steps(maker(batches, state, cell), 1 if quick else STEPS_PER_CALL)
    step.note = note
    return step


def _deltaflow(batches, state, cell="LSTM"):
    """The step (returns its loss; ``step.model`` is the model, for tests)."""
    import deltaflow as dl
    from deltaflow import nn, optim

    model = _model(nn, cell)
    if state is not None:
        model.load_state_dict(state)
    opt = optim.Adam(model.parameters(), lr=LR)
    data = [(dl.tensor(b[:, :-1]), dl.tensor(b[:, 1:].reshape(-1))) for b in batches]
    return _step(model, opt, data, nn.functional.cross_entropy)


def _torch(batches, state, cell="LSTM"):
    """The step (returns its loss; ``step.model`` is the model, for tests)."""
    import torch
    from torch import nn, optim

    model = _model(nn, cell)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    opt = optim.Adam(model.parameters(), lr=LR)
    data = [(torch.from_numpy(b[:, :-1].copy()), torch.from_numpy(b[:, 1:].reshape(-1).copy()))
            for b in batches]
    return _step(model, opt, data, nn.functional.cross_entropy)


def _step(model, opt, data, cross_entropy):
    """One training step on the next batch of ``data``, written the same for both
    libraries."""
    k = [0]

    def step():
        x, y = data[k[0] % len(data)]
        k[0] += 1
        opt.zero_grad()
        loss = cross_entropy(model(x).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
        return loss
    step.model = model
    return step
