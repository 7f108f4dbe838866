"""Character-level GRU language-model training step: the `lstm` workload with a GRU,
Embedding(65, 64) → GRU(64 → 256, batch_first) → Linear(256, 65), cross-entropy over all
64 positions, Adam (lr 2e-3), batch 32 × 64 characters. One unit is one training step
(zero_grad, forward, backward through time, Adam update) on the next batch of a fixed pool
of Tiny Shakespeare windows (synthetic ids when the text is absent). Both implementations
are written as a user of that library would write them and start from the same weights
(torch's initialisation, copied into deltaflow through the state_dict).
A timed call runs STEPS_PER_CALL steps (per-step times are reported)."""
from __future__ import annotations

from benchmarks.workloads import lstm
from benchmarks.workloads.lstm import BATCH, EMBED, HIDDEN, SEQ, VOCAB

DESCRIPTION = ("char-GRU LM: vocab 65, embed 64, hidden 256, seq 64, batch 32, Adam: one "
               "training step")
TARGET = 1.0
REFERENCE = "torch"
UNIT = "step"
STEPS_PER_CALL = lstm.STEPS_PER_CALL
REPEATS = 30


def _initial_state():
    return lstm._initial_state("GRU")


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
    return lstm.char_lm(impl, quick, "gru", "GRU")


def _deltaflow(batches, state):
    return lstm._deltaflow(batches, state, "GRU")


def _torch(batches, state):
    return lstm._torch(batches, state, "GRU")
