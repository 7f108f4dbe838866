"""End-to-end memory network training step on bAbI: MemN2N with 3 hops, adjacent tying,
position and temporal encoding, embedding 50, memory 50, over the joint vocabulary of the 20
tasks (175 words), batch 32; cross-entropy summed over the batch, gradient norm clipped at
40, plain SGD (lr 0.01) — the recipe of ``deltaflow train --task babi --joint``. One unit is
one training step (zero_grad, forward, backward, clip, update) on the next batch of a fixed
pool of real bAbI batches (joint training questions, each batch cut to the memory slots and
words it uses, as the task does); synthetic ids of the same shapes when the data is absent.
deltaflow runs ``deltaflow.models.memn2n.MemN2N``; PyTorch the same equations written as a
PyTorch user would (``nn.Embedding(padding_idx=0)``, ``torch.bmm``, ``softmax``), from the
same weights. A timed call runs STEPS_PER_CALL steps (per-step times are reported)."""
from __future__ import annotations

DESCRIPTION = ("MemN2N on bAbI (joint): vocab 175, embed 50, 3 hops, memory 50, batch 32, "
               "SGD + clip 40: one training step")
TARGET = 1.0
REFERENCE = "torch"
UNIT = "step"
STEPS_PER_CALL = 8
REPEATS = 15

EMBED, HOPS, MEMORY, BATCH, LR, CLIP = 50, 3, 50, 32, 0.01, 40.0
POOL = 16


def babi_batches(n_batches):
    """``([(story, query, time, answer), ...], vocab size, note)``."""
    import numpy as np

    from benchmarks.common import data_dir
    root = data_dir() / "babi" / "en"
    rng = np.random.default_rng(0)
    if root.is_dir():
        from deltaflow.tasks.babi import Store
        store = Store(root, list(range(1, 21)), MEMORY)
        batches = [store.batch(rng.choice(store.n_train, BATCH, replace=False))
                   for _ in range(n_batches)]
        return batches, len(store.vocab), "real bAbI joint training batches"
    vocab, out = 175, []
    for _ in range(n_batches):
        slots = int(rng.integers(5, MEMORY + 1))
        story = rng.integers(1, vocab, (BATCH, slots, 8))
        time = np.tile(np.arange(slots, 0, -1), (BATCH, 1))
        out.append((story, rng.integers(1, vocab, (BATCH, 6)), time,
                    rng.integers(1, vocab, BATCH)))
    return out, vocab, f"SYNTHETIC word ids (no {root})"


def _initial_state(vocab):
    import deltaflow as dl
    from deltaflow.models.memn2n import MemN2N
    dl.manual_seed(0)
    model = MemN2N(vocab, EMBED, HOPS, MEMORY)
    return {k: v.numpy().copy() for k, v in model.state_dict().items() if k != "linear"}


def make(impl, quick=False):
    from benchmarks.common import several_steps
    maker = {"deltaflow": _deltaflow, "torch": _torch}.get(impl)
    if maker is None:
        return None
    if impl == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            return None
    batches, vocab, note = babi_batches(2 if quick else POOL)
    step = several_steps(maker(batches, vocab, _initial_state(vocab)),
                         1 if quick else STEPS_PER_CALL)
    step.note = note
    return step


def _deltaflow(batches, vocab, state):
    import deltaflow as dl
    from deltaflow import nn, optim
    from deltaflow.models.memn2n import MemN2N

    model = MemN2N(vocab, EMBED, HOPS, MEMORY)
    model.load_state_dict({**state, "linear": model.linear.numpy()})
    opt = optim.SGD(model.parameters(), lr=LR)
    data = [tuple(dl.tensor(x) for x in b) for b in batches]
    k = [0]

    def step():
        story, query, time, answer = data[k[0] % len(data)]
        k[0] += 1
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(story, query, time), answer, reduction="sum")
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        model.zero_nil_()
    return step


def _torch_model(torch, vocab):
    from torch import nn

    class MemN2N(nn.Module):
        def __init__(self):
            super().__init__()
            self.words = nn.ModuleList([nn.Embedding(vocab, EMBED, padding_idx=0)
                                        for _ in range(HOPS + 1)])
            self.times = nn.ModuleList([nn.Embedding(MEMORY + 1, EMBED, padding_idx=0)
                                        for _ in range(HOPS + 1)])

        @staticmethod
        def encoding(ids):
            words = (ids != 0).float()
            J = words.sum(-1, keepdim=True).clamp(min=1)
            jJ = torch.arange(1, ids.shape[-1] + 1, dtype=torch.float32) / J
            k = torch.arange(1, EMBED + 1, dtype=torch.float32) / EMBED
            return ((1 - jJ) * words)[..., None] + ((2 * jJ - 1) * words)[..., None] * k

        def forward(self, story, query, time):
            l_story, l_query = self.encoding(story), self.encoding(query)
            u = (self.words[0](query) * l_query).sum(-2)
            memories = [(self.words[i](story) * l_story).sum(-2) + self.times[i](time)
                        for i in range(HOPS + 1)]
            empty = (time == 0).float() * -1e9
            for hop in range(HOPS):
                scores = torch.bmm(memories[hop], u.unsqueeze(2)).squeeze(2)
                p = torch.softmax(scores + empty, dim=1)
                u = u + torch.bmm(p.unsqueeze(1), memories[hop + 1]).squeeze(1)
            return u @ self.words[HOPS].weight.t()

    return MemN2N()


def _torch(batches, vocab, state):
    import torch

    model = _torch_model(torch, vocab)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    data = [tuple(torch.from_numpy(x.copy()) for x in b) for b in batches]
    k = [0]

    def step():
        story, query, time, answer = data[k[0] % len(data)]
        k[0] += 1
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(story, query, time), answer,
                                                 reduction="sum")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        with torch.no_grad():
            for table in (*model.words, *model.times):
                table.weight[0] = 0
    return step
