"""``deltaflow train --task charlm``: character-level language modelling on a text file.

The text is split by position: the first ``1 - --val-split`` characters for training (default
90 %), the rest held out — its first half validates each epoch (the first ``--eval-chars`` of
it), its second half is the test split of the final report. Training draws batches of random
windows of ``--seq-len`` + 1 characters (the model predicts characters 1..T from 0..T−1) or,
with ``--stateful`` (LSTM only), reads the training text as ``--batch-size`` parallel streams
and carries the LSTM state from one chunk to the next, detached: truncated backpropagation
through time over ``--seq-len`` steps.

Loss is the mean cross-entropy in nats per character; perplexity = e^loss. An epoch is
``--steps-per-epoch`` updates; each ends with a validation estimate, a checkpoint and a
sample (``samples.txt``; from its own random stream, so sampling never changes training).
``model.json`` holds the vocabulary and sizes ``deltaflow generate`` needs.

Under ``mpiexec -n N`` each rank reads every N-th window (or stream) of the ones a single
process with ``N × --batch-size`` would read, and validates on every N-th of the 16
evaluation streams.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import functional as Fn
from .. import io
from ..autograd import no_grad
from ..data import datasets
from ..models import charlm as M
from ..nn import functional as F
from ..tensor import Tensor
from ..train import Step, Task
from ..train import run_folder as rf
from ..train.checkpoint import load_weights
from ..train.distributed import all_sum, gather_rows, rank_and_size, shard_rows
from .common import make_optimizer
from .runner import Setup

NOT_APPLICABLE = ("hidden", "activation", "batchnorm", "data_dir", "device")
#: options that may differ when a run is resumed (besides the common ones)
RESUMABLE = ("eval_chars", "sample_tokens", "temperature", "prompt")
#: defaults that depend on the model (below the command line, a --config file and a
#: resumed run's config)
MODEL_DEFAULTS = {"lstm": dict(lr=3e-3, optimizer="adam", weight_decay=0.0),
                  "transformer": dict(lr=1e-3, optimizer="adamw", weight_decay=0.01)}


def add_arguments(parser) -> None:
    g = parser.add_argument_group("charlm")
    g.add_argument("--model", default="lstm", help="lstm (default) or transformer")
    g.add_argument("--epochs", default=10)
    g.add_argument("--batch-size", default=32)
    g.add_argument("--dropout", default=0.0)
    g.add_argument("--clip-grad", default=1.0)
    g.add_argument("--scheduler", default="none")
    g.add_argument("--seq-len", type=int, default=64,
                   help="characters per training window / BPTT length (default 64)")
    g.add_argument("--steps-per-epoch", type=int, default=500,
                   help="updates between validation estimates and checkpoints (default 500)")
    g.add_argument("--stateful", action="store_true",
                   help="LSTM: truncated BPTT over contiguous streams, state carried across "
                        "chunks")
    g.add_argument("--embed-dim", type=int, default=64, help="LSTM embedding size")
    g.add_argument("--hidden-size", type=int, default=256, help="LSTM hidden size")
    g.add_argument("--layers", type=int, default=None,
                   help="LSTM / Transformer layers (default 1 / 2)")
    g.add_argument("--d-model", type=int, default=128, help="Transformer width")
    g.add_argument("--heads", type=int, default=4, help="Transformer attention heads")
    g.add_argument("--eval-chars", type=int, default=20000,
                   help="validation characters used for the per-epoch estimate")
    g.add_argument("--sample-tokens", type=int, default=300)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--prompt", default=None,
                   help="text the samples continue (default: a newline)")


def default_name(opts) -> str:
    return opts.model


def _text_path(data) -> Path:
    spec = str(data or "")
    if not spec.startswith("text:"):
        raise ValueError("charlm: pass the text with --data text:PATH")
    path = Path(spec[5:])
    if not path.is_file():
        raise FileNotFoundError(f"charlm: text file not found: {path}")
    return path


def hparams(opts) -> dict:
    """The model's sizes from the options (what ``models.charlm.build`` reads)."""
    if opts.model == "lstm":
        return dict(embed_dim=opts.embed_dim, hidden_size=opts.hidden_size,
                    num_layers=opts.layers or 1, dropout=opts.dropout)
    if opts.model == "transformer":
        return dict(d_model=opts.d_model, nhead=opts.heads, num_layers=opts.layers or 2,
                    block_size=opts.seq_len, dropout=opts.dropout)
    raise ValueError(f"charlm: --model must be 'lstm' or 'transformer', got {opts.model!r}")


def _loss(model, x, y, state=None):
    logits, state = model(Tensor(x), state)
    V = logits.shape[-1]
    return F.cross_entropy(Fn.reshape(logits, -1, V), Tensor(y.reshape(-1))), state


def evaluate(model, ids: np.ndarray, window: int, streams: int = 16) -> float:
    """Mean cross-entropy (nats/char) of predicting ``ids[1:]`` from what precedes.

    The text is cut into ``streams`` contiguous pieces read in parallel, ``window``
    characters at a time; the LSTM carries its state across windows, the Transformer sees
    the current window only (so its context restarts every ``window`` characters).
    Distributed, each rank scores every N-th stream and the sums are added across ranks."""
    model.eval()
    n = (len(ids) - 1) // streams
    x_all = shard_rows(ids[:n * streams].reshape(streams, n))
    y_all = shard_rows(ids[1:n * streams + 1].reshape(streams, n))
    total, count, state = 0.0, 0, None
    carry = isinstance(model, M.CharLSTM)
    with no_grad():
        for s in range(0, n, window):
            x, y = x_all[:, s:s + window], y_all[:, s:s + window]
            loss, state = _loss(model, x, y, state if carry else None)
            total += float(loss.item()) * y.size
            count += y.size
    model.train()
    if rank_and_size()[1] > 1:
        total, count = all_sum([total, count])
    return total / count


def _sample_text(model, vocab, prompt, tokens, temperature, rng) -> str:
    ids = M.sample(model, [vocab.index(c) for c in prompt], tokens, temperature, rng)
    return prompt + "".join(vocab[i] for i in ids)


def eval_window(meta: dict) -> int:
    """Characters per evaluation window: the Transformer's context, 256 for the LSTM."""
    return meta["seq_len"] if meta["model"] == "transformer" else 256


def held_out(ids: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(validation ids, test ids)``: the two halves of the text after the training part."""
    rest = ids[meta["train_chars"]:]
    return rest[:len(rest) // 2], rest[len(rest) // 2:]


class Windows:
    """The training batches of an epoch: ``steps`` batches of ``(x, y)`` id arrays.

    Random windows (``start`` drawn per row from the seeded ``generator``), or with
    ``stateful`` the ``batch`` streams read contiguously, ``seq_len`` at a time (wrapping
    around at their end; ``fresh`` says the latest batch starts them over).
    ``state_dict()`` holds the generator and the stream offset, so a
    resumed run draws the same batches. On N processes the windows (streams) are those of
    ``N × batch`` in one process, and each rank takes every N-th from its rank; the
    generator is the same on every rank."""

    def __init__(self, ids, batch: int, seq_len: int, steps: int, seed: int,
                 stateful: bool = False):
        self.ids, self.batch, self.seq_len, self.steps = ids, batch, seq_len, steps
        self.stateful, self.offset, self.fresh = stateful, 0, True
        self.generator = np.random.default_rng(seed)
        self.streams = batch * rank_and_size()[1]   # over all ranks
        self.stream_len = (len(ids) - 1) // self.streams
        self.starts = shard_rows(np.arange(self.streams) * self.stream_len)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        T = self.seq_len
        for _ in range(self.steps):
            if self.stateful:
                if self.offset + T + 1 > self.stream_len:
                    self.offset = 0
                self.fresh = self.offset == 0
                idx = self.starts[:, None] + self.offset + np.arange(T + 1)
                self.offset += T
            else:
                starts = self.generator.integers(0, len(self.ids) - T - 1, size=self.streams)
                idx = shard_rows(starts)[:, None] + np.arange(T + 1)
            chunk = self.ids[idx]
            yield chunk[:, :-1], chunk[:, 1:]

    def state_dict(self) -> dict:
        return {"generator": self.generator.bit_generator.state, "offset": self.offset,
                "streams": self.streams}

    def load_state_dict(self, state: dict) -> None:
        """A state saved with another number of streams in all (``N × batch``) restarts
        the streams (their length changed)."""
        self.generator.bit_generator.state = state["generator"]
        same = state.get("streams", self.batch) == self.streams
        self.offset = state["offset"] if same else 0


class CharLMTask(Task):
    """Next-character cross-entropy. With ``stateful`` the LSTM state is carried from one
    batch to the next, detached (and dropped where the streams wrap around)."""

    def __init__(self, model, vocab, prompt, sample_tokens, temperature, seed, windows,
                 samples_path, window):
        self.model = self.network = model   # network: what training calls (distribute)
        self.vocab, self.prompt = vocab, prompt
        self.sample_tokens, self.temperature = sample_tokens, temperature
        self.windows, self.state, self.window = windows, None, window
        self.sample_rng = np.random.default_rng([seed, 1])
        self.samples_path = samples_path

    def training_step(self, batch) -> Step:
        x, y = (t.numpy() for t in batch)
        if self.windows.fresh:
            self.state = None
        loss, state = _loss(self.network, x, y, self.state)
        self.state = tuple(s.detach() for s in state) if self.windows.stateful else None
        return Step(loss, len(x))

    def distribute(self, wrap) -> None:
        self.network = wrap(self.model)

    def validation_step(self, batch) -> Step:
        """``batch``: the ids of a whole split, scored with :func:`evaluate` (distributed:
        the loss over all ranks' streams, the same on every rank)."""
        ids = batch[0].numpy()
        loss = evaluate(self.model, ids, self.window)
        return Step(loss, len(ids) - 1, {"ppl": math.exp(loss)})

    def sample(self, tokens: int) -> str:
        ids = M.sample(self.model, [self.vocab.index(c) for c in self.prompt], tokens,
                       self.temperature, self.sample_rng)
        return self.prompt + "".join(self.vocab[i] for i in ids)

    def on_epoch_end(self, trainer, logs):
        if not trainer.is_main:
            return
        text = self.sample(self.sample_tokens)
        io.append_text(self.samples_path, f"--- epoch {logs['epoch']}, step {logs['step']}, "
                                          f"val {logs.get('val_loss', math.nan):.4f}\n{text}\n")

    def state_dict(self) -> dict:
        """The sampling generator and the carried LSTM state (``--stateful``; distributed:
        every rank's streams, gathered in their global order)."""
        return {"sample_rng": self.sample_rng.bit_generator.state,
                "state": None if self.state is None
                else [gather_rows(s.numpy(), axis=1) for s in self.state]}

    def load_state_dict(self, state: dict) -> None:
        """A carried state of another number of streams is dropped (the streams restart)."""
        self.sample_rng.bit_generator.state = state["sample_rng"]
        carried = state["state"]
        if carried is not None and carried[0].shape[1] != self.windows.streams:
            carried = None
        self.state = None if carried is None \
            else tuple(Tensor(np.ascontiguousarray(shard_rows(s, axis=1))) for s in carried)


def setup(opts) -> Setup:
    if opts.stateful and opts.model != "lstm":
        raise ValueError("charlm: --stateful (truncated BPTT with carried state) needs "
                         "--model lstm")
    path = _text_path(opts.data)
    corpus = datasets.text(path, block_size=opts.seq_len, val_fraction=opts.val_split)
    vocab = "".join(corpus.vocab)
    prompt = opts.prompt or ("\n" if "\n" in vocab else vocab[0])
    if set(prompt) - set(vocab):
        raise ValueError(f"charlm: --prompt has characters not in the text: {prompt!r}")
    meta = {"task": "charlm", "model": opts.model, "data": f"text:{path.resolve()}",
            "vocab": vocab, "hparams": hparams(opts), "seq_len": opts.seq_len,
            "train_chars": len(corpus.train_ids)}
    model = M.build(meta)
    ids = np.concatenate([corpus.train_ids, corpus.val_ids])
    val_ids, test_ids = held_out(ids, meta)
    if len(val_ids) < 2 or len(test_ids) < 2:
        raise ValueError(f"charlm: {path} is too short to hold out validation and test text "
                         f"(--val-split {opts.val_split})")
    train = Windows(corpus.train_ids, opts.batch_size, opts.seq_len, opts.steps_per_epoch,
                    opts.seed, opts.stateful)
    task = CharLMTask(model, vocab, prompt, opts.sample_tokens, opts.temperature, opts.seed,
                      train, Path(opts.run_dir) / "samples.txt", eval_window(meta))
    optimizer = make_optimizer(model.parameters(), opts)

    def finish(trainer):
        test = trainer.evaluate([(test_ids,)])
        sample = task.sample(opts.sample_tokens) if trainer.is_main else ""
        return ({"test_loss": test["loss"], "test_ppl": test["ppl"],
                 "test_chars": len(test_ids), "sample": sample},
                {"test": f"loss {test['loss']:.4f} nats/char (perplexity {test['ppl']:.2f}) "
                         f"on {len(test_ids)} characters", "sample": sample})

    data = (f"{path.name}: {len(corpus.train_ids)} train / {len(val_ids)} validation "
            f"(first {min(opts.eval_chars, len(val_ids))} each epoch) / {len(test_ids)} test "
            f"characters, vocabulary {len(vocab)}")
    return Setup(task, optimizer, train, [(val_ids[:opts.eval_chars],)], meta, finish,
                 summary={"data": data, "model": f"{opts.model}, batch {opts.batch_size} × "
                                                 f"{opts.seq_len}"})


def load_trained(path):
    """``(model in eval mode, meta, run folder, weights file)`` of a trained charlm run."""
    run_dir, weights, meta = rf.open_trained(path, "charlm")
    model = M.build(meta)
    load_weights(model, weights)
    model.eval()
    return model, meta, run_dir, weights
