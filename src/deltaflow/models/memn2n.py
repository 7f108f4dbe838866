"""End-to-end memory network (MemN2N; Sukhbaatar, Szlam, Weston, Fergus, NIPS 2015,
arXiv:1503.08895) for question answering over a story.

Inputs of a batch of N questions: ``story`` (N, M, L) word ids of M memory slots of L words
(0 = the nil word, padding), ``query`` (N, L_q) and ``time`` (N, M), the temporal index of
each slot (1 = the sentence just before the question, 0 = an empty slot). With x_ij the j-th
word of sentence i, q_j the j-th word of the question and ⊙ the elementwise product:

    m_i^k = Σ_j l_ij ⊙ A^k[x_ij] + T_A^k[t_i]          memory key of slot i at hop k
    c_i^k = Σ_j l_ij ⊙ C^k[x_ij] + T_C^k[t_i]          memory value
    u^1   = Σ_j l_j ⊙ B[q_j]
    p^k   = softmax_i(u^kᵀ m_i^k) over the non-empty slots   (linear start: p_i^k = u^kᵀ m_i^k)
    o^k   = Σ_i p_i^k c_i^k,      u^{k+1} = H u^k + o^k
    logits = W u^{K+1}                                  (â = softmax(logits))

Position encoding (``position_encoding``): l_kj = (1 − j/J) − (k/d)(1 − 2j/J) for the j-th of
the J words of a sentence and embedding coordinate k = 1..d (without it, l = 1: a bag of
words). Temporal encoding adds the rows T[t] of learned tables (row 0, the empty slot, is 0).

Weight tying: ``"adjacent"`` — K + 1 word tables E^0..E^K with A^k = E^{k−1}, C^k = E^k,
B = A^1, W = (C^K)ᵀ, T_A^k = T^{k−1}, T_C^k = T^k, H = I; ``"layerwise"`` — A^k = A,
C^k = C for every hop, separate B, W and a learned H (``nn.Linear(d, d, bias=False)``).
Every table's row 0 (the nil word) is initialised to 0 and gets no gradient through the
lookups (``padding_idx=0``); ``zero_nil_()`` resets it after each update (W's rows, the
logits, do get a gradient), as the authors' code does. Initialisation: N(0, 0.1²), as in the paper.

``linear`` (the "linear start" of training, a buffer saved with the weights) leaves out the
hops' softmax. The model's ``attention(...)`` returns the p^k of every hop, for
``deltaflow memory``.
"""
from __future__ import annotations

import numpy as np

from .. import functional as Fn
from .. import nn
from ..nn import functional as F
from ..tensor import Tensor

TYING = ("adjacent", "layerwise")


def position_weights(ids, dtype=np.float64) -> tuple[Tensor, Tensor]:
    """(a, b), each ids.shape: the position encoding is l_kj = a_j + (k/d)·b_j with
    a_j = 1 − j/J and b_j = 2j/J − 1, j = 1..J the place of each word in its sentence (the
    last axis of ``ids``) of J non-nil words (j counts the words up to it); a = b = 0 at nil
    words (padding). ``ids``: a Tensor (or an array); written with deltaflow ops, so that an
    ONNX export records them (for any sentence length)."""
    ids = ids if isinstance(ids, Tensor) else Tensor(np.asarray(ids))
    words = (ids != 0).to(np.dtype(dtype))
    J = Fn.clamp_min(words.sum(-1, keepdim=True), 1)
    jw = words.cumsum(-1) / J * words                             # j/J at the words, else 0
    return words - jw, 2 * jw - words


def position_encoding(ids, dim: int, dtype=np.float64) -> np.ndarray:
    """l (ids.shape + (dim,)): l_kj = (1 − j/J) − (k/d)(1 − 2j/J), j = 1..J the place of each
    word in its sentence (the last axis of ``ids``) of J non-nil words, k = 1..d; 0 at nil
    words (padding). Computed as a_j + (k/d)·b_j (``position_weights``)."""
    a, b = (w.numpy() for w in position_weights(ids, dtype))
    l = b[..., None] * (np.arange(1, dim + 1, dtype=dtype) / dim)
    l += a[..., None]
    return l


class MemN2N(nn.Module):
    """``MemN2N(vocab_size, embed_dim=20, hops=3, memory_size=50, tying="adjacent",
    position_encoding=True, temporal_encoding=True)``: ``forward(story, query, time)`` gives
    the answer logits (N, vocab_size) (see the module docstring for the formulas)."""

    def __init__(self, vocab_size: int, embed_dim: int = 20, hops: int = 3,
                 memory_size: int = 50, tying: str = "adjacent",
                 position_encoding: bool = True, temporal_encoding: bool = True,
                 init_std: float = 0.1):
        super().__init__()
        if tying not in TYING:
            raise ValueError(f"MemN2N: tying must be one of {', '.join(TYING)}, got {tying!r}")
        if hops < 1 or embed_dim < 1 or memory_size < 1 or vocab_size < 2:
            raise ValueError(f"MemN2N: hops, embed_dim, memory_size must be >= 1 and "
                             f"vocab_size >= 2, got {hops}, {embed_dim}, {memory_size}, "
                             f"{vocab_size}")
        self.vocab_size, self.embed_dim, self.hops = vocab_size, embed_dim, hops
        self.memory_size, self.tying, self.init_std = memory_size, tying, init_std
        self.use_position, self.use_time = position_encoding, temporal_encoding
        n_words = hops + 1 if tying == "adjacent" else 4          # layerwise: A, C, B, W
        self.words = nn.ModuleList([nn.Embedding(vocab_size, embed_dim, padding_idx=0)
                                    for _ in range(n_words)])
        n_times = (hops + 1 if tying == "adjacent" else 2) if temporal_encoding else 0
        self.times = nn.ModuleList([nn.Embedding(memory_size + 1, embed_dim, padding_idx=0)
                                    for _ in range(n_times)])
        self.H = nn.Linear(embed_dim, embed_dim, bias=False) if tying == "layerwise" else None
        self.register_buffer("linear", Tensor(np.array(False)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight ~ N(0, init_std²); the nil rows 0."""
        for table in (*self.words, *self.times):
            nn.init.normal_(table.weight, 0.0, self.init_std)
            table.weight.data[0] = 0
        if self.H is not None:
            nn.init.normal_(self.H.weight, 0.0, self.init_std)

    def zero_nil_(self) -> None:
        """Set every table's row 0 (the nil word, the empty slot) to 0 again: the answer
        layer W = (C^K)ᵀ gives the nil word's row a gradient (its logit), which
        ``padding_idx`` does not stop; a training loop calls this after each update."""
        for table in (*self.words, *self.times):
            table.weight.data[0] = 0

    # ------------------------------------------------------------------ which table is which
    def tables(self, hop: int) -> tuple[int, int]:
        """``(i, j)``: hop ``hop`` (1..K) reads keys with ``words[i]`` and values with
        ``words[j]`` (and ``times[i]``, ``times[j]``)."""
        return (hop - 1, hop) if self.tying == "adjacent" else (0, 1)

    @property
    def query_table(self) -> int:
        return 0 if self.tying == "adjacent" else 2

    @property
    def answer_table(self) -> int:
        return self.hops if self.tying == "adjacent" else 3

    # ------------------------------------------------------------------ pieces
    def _time_table(self, table: int) -> int:
        return table if self.tying == "adjacent" else min(table, 1)

    @property
    def memory_tables(self) -> tuple[int, ...]:
        """The ``words`` tables the hops read memories with (keys and values)."""
        return tuple(range(self.hops + 1)) if self.tying == "adjacent" else (0, 1)

    def _rows(self, tables, with_time: bool) -> Tensor:
        """R = [E; E ⊙ k/d; T] with E = [E_t1 E_t2 …] the ``words`` tables side by side
        (and T their ``times``): the rows the bags read — E ⊙ k/d (k = 1..d) the rows of the
        position encoding's second term, T only with_time and with temporal encoding."""
        E = [self.words[t].weight for t in tables]
        E = E[0] if len(E) == 1 else Fn.cat(E, dim=1)
        parts = [E]
        if self.use_position:
            k = np.arange(1, self.embed_dim + 1, dtype=E.dtype) / self.embed_dim
            parts.append(E * Tensor.constant(np.tile(k, len(tables))))
        if with_time and self.use_time:
            T = [self.times[self._time_table(t)].weight for t in tables]
            parts.append(T[0] if len(T) == 1 else Fn.cat(T, dim=1))
        return parts[0] if len(parts) == 1 else Fn.cat(parts, dim=0)

    def _bags(self, ids: Tensor, time: Tensor | None = None):
        """The bags of ``_rows``, one row per sentence of ``ids``' last axis, in order:
        ``(index, weights)`` (sentences, K) with Σ_k weights_k·R[index_k] =
        Σ_j l_j ⊙ E[x_j] = Σ_j a_j·E[x_j] + b_j·(E ⊙ k/d)[x_j] (``position_weights``; without
        position encoding weights=None: every entry counts once) and T[t] (weight 1) for
        the ``time`` of each sentence. Index 0 (nil words, the second term's nil rows, empty
        slots) is the bag sum's ``padding_idx``: left out, so the nil rows get no gradient
        and the padding costs nothing. Built with deltaflow ops on the inputs, so that the
        same code trains and exports."""
        V, dtype = self.vocab_size, self.words[0].weight.dtype
        flat = ids.reshape(-1, ids.shape[-1])
        index, weights = [flat], None
        if self.use_position:
            index.append(Fn.where(flat != 0, flat + V, 0))
            weights = list(position_weights(flat, dtype))
        if time is not None and self.use_time:
            t = time.reshape(-1, 1)
            filled = t != 0
            index.append(Fn.where(filled, t + len(index) * V, 0))
            if weights is not None:
                weights.append(filled.to(dtype))
        index = index[0] if len(index) == 1 else Fn.cat(index, dim=1)
        return index, None if weights is None else Fn.cat(weights, dim=1)

    def _bag_sums(self, rows: Tensor, bags) -> Tensor:
        """(sentences, d): Σ over each bag of weights ⊙ rows[index] (one EmbeddingBag)."""
        index, weights = bags
        return F.embedding_bag(index, rows, mode="sum", per_sample_weights=weights,
                               padding_idx=0)

    def memories(self, story: Tensor, time: Tensor) -> tuple[Tensor, ...]:
        """(N, M, d) for each of ``memory_tables``: Σ_j l_ij ⊙ E[x_ij] + T[t_i], all of
        them from one bag sum over the tables side by side, then split."""
        tables = self.memory_tables
        m = self._bag_sums(self._rows(tables, True), self._bags(story, time))
        m = m.reshape(story.shape[0], story.shape[1], len(tables) * self.embed_dim)
        return Fn.split(m, self.embed_dim, dim=2)

    def embed_memory(self, table: int, story: Tensor, time: Tensor) -> Tensor:
        """(N, M, d): Σ_j l_ij ⊙ E[x_ij] + T[t_i] with the tables ``words[table]``,
        ``times[table]`` (one of ``memory_tables``)."""
        return self.memories(story, time)[self.memory_tables.index(table)]

    def embed_query(self, query: Tensor) -> Tensor:
        """(N, d): u^1 = Σ_j l_j ⊙ B[q_j]."""
        return self._bag_sums(self._rows([self.query_table], False), self._bags(query))

    def _hops(self, story, query, time):
        """Yield ``(p^k, u^{k+1})`` for k = 1..K."""
        u = self.embed_query(query)                                    # (N, d)
        memories = dict(zip(self.memory_tables, self.memories(story, time)))
        empty = None if bool(self.linear.data) else time == 0           # (N, M)
        for hop in range(1, self.hops + 1):
            keys, values = (memories[t] for t in self.tables(hop))
            scores = Fn.matmul(keys, u.unsqueeze(2)).squeeze(2)        # (N, M): u·m_i
            p = scores if empty is None else Fn.softmax(Fn.masked_fill(scores, empty, -1e9),
                                                        dim=1)
            o = Fn.matmul(p.unsqueeze(1), values).squeeze(1)            # (N, d): Σ p_i c_i
            u = (u if self.H is None else self.H(u)) + o
            yield p, u

    def forward(self, story, query, time) -> Tensor:
        story, query, time = (x if isinstance(x, Tensor) else Tensor(np.asarray(x))
                              for x in (story, query, time))
        *_, (_, u) = self._hops(story, query, time)                 # u^{K+1}
        return Fn.matmul(u, self.words[self.answer_table].weight.t())

    def attention(self, story, query, time) -> list[np.ndarray]:
        """The attention p^k (N, M) of every hop k = 1..K, as arrays."""
        story, query, time = (x if isinstance(x, Tensor) else Tensor(np.asarray(x))
                              for x in (story, query, time))
        return [p.numpy() for p, _ in self._hops(story, query, time)]

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, hops={self.hops}, "
                f"memory_size={self.memory_size}, tying={self.tying!r}, "
                f"position_encoding={self.use_position}, "
                f"temporal_encoding={self.use_time}")


__all__ = ["MemN2N", "TYING", "position_encoding", "position_weights"]
