"""Character-level Transformer language-model training step: Embedding(65, 128) + learned
positions → 2 pre-LN TransformerEncoderLayers (d_model 128, 4 heads, MLP 512 with GELU,
dropout 0, causal mask) → LayerNorm → Linear(128, 65), cross-entropy, AdamW (lr 1e-3,
weight decay 0.01), batch 32 × 64 characters. One unit is one training step on the next
batch of a fixed pool of Tiny Shakespeare windows (synthetic ids when the text is absent).
Both implementations use their library's own TransformerEncoderLayer and start from the
same weights (torch's initialisation, copied into deltaflow through the state_dict).
A timed call runs STEPS_PER_CALL steps (per-step times are reported)."""
from __future__ import annotations

DESCRIPTION = ("char-Transformer LM: vocab 65, d_model 128, 4 heads, 2 pre-LN layers, MLP 4x, "
               "seq 64, batch 32, AdamW: one training step")
TARGET = 1.0         # issue 21: every workload ≤ 1.0× PyTorch
REFERENCE = "torch"
UNIT = "step"
STEPS_PER_CALL = 4        # steps per timed call (benchmarks.common.several_steps)
REPEATS = 30

VOCAB, D, HEADS, LAYERS, SEQ = 65, 128, 4, 2, 64
POOL = 16
LR = 1e-3


def build_model(nn, lib):
    class CharTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D)
            self.pos = nn.Parameter(lib.zeros(SEQ, D))
            layer = nn.TransformerEncoderLayer(D, HEADS, 4 * D, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            kw = {"enable_nested_tensor": False} if lib.__name__ == "torch" else {}
            self.encoder = nn.TransformerEncoder(layer, LAYERS, **kw)
            self.norm = nn.LayerNorm(D)
            self.head = nn.Linear(D, VOCAB)

        def forward(self, x, mask):
            h = self.encoder(self.embed(x) + self.pos, mask=mask, is_causal=True)
            return self.head(self.norm(h))
    return CharTransformer()


def _initial_state():
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    model = build_model(torch.nn, torch)
    torch.nn.init.normal_(model.pos, std=0.02)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def step_gemms(batch=32):
    """The products of one training step (benchmarks/gemm_floor.py), over N = batch·SEQ
    tokens: per layer the QKV projection (D → 3D), attention (batch·HEADS stacks of
    SEQ × SEQ scores, head size D/HEADS), the output projection, the MLP (D → 4D → D), all
    forward and backward (every ∂x is needed: the embeddings train); then the head
    Linear(D, 65). 5.34 GFLOP at batch 32."""
    from benchmarks.gemm_floor import attention, linear
    n, out = batch * SEQ, []
    for i in range(LAYERS):
        out += (linear(f"L{i} qkv", n, D, 3 * D)
                + attention(f"L{i} attn", batch * HEADS, SEQ, D // HEADS)
                + linear(f"L{i} out", n, D, D) + linear(f"L{i} ff1", n, D, 4 * D)
                + linear(f"L{i} ff2", n, 4 * D, D))
    return out + linear("head", n, D, VOCAB)


def gemms(quick=False):
    return step_gemms()


def make(impl, quick=False):
    from benchmarks.common import several_steps, torch_initial_state
    from benchmarks.workloads.lstm import char_batches
    maker = {"deltaflow": _deltaflow, "torch": _torch}.get(impl)
    if maker is None:
        return None
    batches, note = char_batches(2 if quick else POOL)
    state = torch_initial_state("transformer", impl)
    if impl == "torch" and state is None:
        return None
    step = several_steps(maker(batches, state), 1 if quick else STEPS_PER_CALL)
    step.note = note
    return step


def _deltaflow(batches, state):
    import numpy as np

    import deltaflow as dl
    from deltaflow import nn, optim

    model = build_model(nn, dl)
    if state is not None:
        model.load_state_dict(state)
    opt = optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    mask = dl.tensor(np.triu(np.full((SEQ, SEQ), -np.inf, dtype=np.float32), 1))
    data = [(dl.tensor(b[:, :-1]), dl.tensor(b[:, 1:].reshape(-1))) for b in batches]
    k = [0]

    def step():
        x, y = data[k[0] % len(data)]
        k[0] += 1
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x, mask).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
    return step


def _torch(batches, state):
    import torch
    from torch import nn, optim

    model = build_model(nn, torch)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    opt = optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    mask = nn.Transformer.generate_square_subsequent_mask(SEQ)
    data = [(torch.from_numpy(b[:, :-1].copy()), torch.from_numpy(b[:, 1:].reshape(-1).copy()))
            for b in batches]
    k = [0]

    def step():
        x, y = data[k[0] % len(data)]
        k[0] += 1
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x, mask).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
    return step
