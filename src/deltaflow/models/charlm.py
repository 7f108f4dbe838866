"""Character-level language models: an LSTM and a causal (GPT-style) Transformer.

Both map a batch of character ids (N, T) to next-character logits (N, T, V). The models are
rebuilt from a plain config dict (saved as JSON next to the weights), which is what
``deltaflow generate`` uses; :func:`sample` draws text from either.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..tensor import Tensor


class CharLSTM(nn.Module):
    """Embedding(V, E) → LSTM(E, H, num_layers) → dropout → Linear(H, V).

    ``forward(ids, state=None)`` returns ``(logits, (h_n, c_n))``; passing the state back in
    continues the text (used by truncated BPTT and by sampling)."""

    def __init__(self, vocab_size, embed_dim=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(self.drop(out)), state


class CharTransformer(nn.Module):
    """Token + learned position embeddings → pre-LN Transformer encoder with a causal mask
    → LayerNorm → Linear(d_model, V). Context: at most ``block_size`` characters."""

    def __init__(self, vocab_size, d_model=128, nhead=4, num_layers=2, dim_feedforward=None,
                 block_size=64, dropout=0.0, activation="gelu"):
        super().__init__()
        self.block_size = block_size
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.LearnedPositionalEmbedding(block_size, d_model, batch_first=True)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward or 4 * d_model,
                                           dropout=dropout, activation=activation,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, ids, state=None):
        if ids.shape[1] > self.block_size:
            raise ValueError(f"CharTransformer(block_size={self.block_size}): got a sequence "
                             f"of {ids.shape[1]} characters")
        x = self.pos(self.embed(ids))
        x = self.encoder(x, is_causal=True)
        return self.head(self.norm(x)), None


ARCHITECTURES = {"lstm": CharLSTM, "transformer": CharTransformer}


def build(config: dict) -> nn.Module:
    """The model described by ``config`` (``{"model": "lstm"|"transformer", "vocab": str,
    "hparams": {...}}``)."""
    arch = config["model"]
    if arch not in ARCHITECTURES:
        raise ValueError(f"charlm: unknown model {arch!r}; expected one of "
                         f"{sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](len(config["vocab"]), **config["hparams"])


def sample(model, prompt_ids, n_tokens, temperature=1.0, rng=None, top_k=None):
    """Continue ``prompt_ids`` (a non-empty list of ids) by ``n_tokens`` sampled ids.

    Each next id is drawn from softmax(logits / temperature) (greedy for temperature 0),
    optionally restricted to the ``top_k`` most likely. The LSTM carries its state, one
    character per step; the Transformer re-reads its last ``block_size`` characters.
    """
    if not prompt_ids:
        raise ValueError("sample: the prompt must contain at least one character")
    rng = rng if rng is not None else np.random.default_rng()
    was_training = model.training
    model.eval()
    ids = list(prompt_ids)
    is_lstm = isinstance(model, CharLSTM)
    with no_grad():
        state = None
        feed = ids
        for _ in range(n_tokens):
            if is_lstm:
                logits, state = model(Tensor(np.asarray([feed], dtype=np.int64)), state)
            else:
                window = ids[-model.block_size:]
                logits, _ = model(Tensor(np.asarray([window], dtype=np.int64)))
            z = logits.data[0, -1].astype(np.float64)
            if temperature <= 0:
                nxt = int(np.argmax(z))
            else:
                z = z / temperature
                if top_k is not None and top_k < z.size:
                    z[z < np.sort(z)[-top_k]] = -np.inf
                p = np.exp(z - z.max())
                p /= p.sum()
                nxt = int(rng.choice(z.size, p=p))
            ids.append(nxt)
            feed = [nxt]
    model.train(was_training)
    return ids[len(prompt_ids):]


__all__ = ["CharLSTM", "CharTransformer", "ARCHITECTURES", "build", "sample"]
