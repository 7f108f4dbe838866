"""``deltaflow train --task charlm``: character-level language modelling on a text file.

The text is split by position into training (first 90 %) and validation (last 10 %)
characters. Training draws batches of random windows of ``--seq-len`` + 1 characters (the
model predicts characters 1..T from 0..T−1) or, with ``--stateful`` (LSTM only), reads the
training text as ``--batch-size`` parallel streams and carries the LSTM state from one chunk
to the next, detached: truncated backpropagation through time over ``--seq-len`` steps.

Loss is the mean cross-entropy in nats per character; perplexity = e^loss. Each epoch
(``--steps-per-epoch`` updates) ends with a validation estimate, a checkpoint and a sample;
``--max-minutes`` (wall time) or ``--max-cpu-minutes`` (this process's CPU time) end
training. The final validation loss is computed on the whole validation split. The run
folder (``--out``/``--name``) gets ``config.json`` (model, vocabulary, hyper-parameters:
what ``deltaflow generate`` needs),
``model.safetensors`` (the weights with the best validation estimate), ``checkpoints/``,
``metrics.jsonl``, ``samples.txt`` and ``result.json``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .. import functional as Fn
from ..autograd import no_grad
from ..data import datasets
from ..models import charlm as M
from ..nn import functional as F
from ..nn.utils import clip_grad_norm_
from ..random import manual_seed
from ..tensor import Tensor
from ..train import checkpoint as ckpt
from . import common

DEFAULTS = {"lstm": dict(lr=3e-3, batch_size=32), "transformer": dict(lr=1e-3, batch_size=32)}


class Budget:
    """Wall-clock and/or CPU-time limit for a training loop (None = no limit)."""

    def __init__(self, wall_minutes=None, cpu_minutes=None):
        self.wall, self.cpu = wall_minutes, cpu_minutes
        self.t0, self.c0 = time.time(), time.process_time()

    def wall_minutes(self) -> float:
        return (time.time() - self.t0) / 60

    def cpu_minutes(self) -> float:
        return (time.process_time() - self.c0) / 60

    def spent(self) -> bool:
        return ((self.wall is not None and self.wall_minutes() >= self.wall)
                or (self.cpu is not None and self.cpu_minutes() >= self.cpu))


def add_arguments(parser) -> None:
    g = parser.add_argument_group("charlm")
    g.add_argument("--seq-len", type=int, default=64,
                   help="characters per training window / BPTT length (default 64)")
    g.add_argument("--steps-per-epoch", type=int, default=500,
                   help="updates between validation estimates and checkpoints (default 500)")
    g.add_argument("--max-minutes", type=float, default=None,
                   help="stop training after this much wall time")
    g.add_argument("--max-cpu-minutes", type=float, default=None,
                   help="stop training after this much CPU time of this process (a fair "
                        "budget on a shared machine)")
    g.add_argument("--stateful", action="store_true",
                   help="LSTM: truncated BPTT over contiguous streams, state carried across "
                        "chunks")
    g.add_argument("--embed-dim", type=int, default=64, help="LSTM embedding size")
    g.add_argument("--hidden-size", type=int, default=256, help="LSTM hidden size")
    g.add_argument("--layers", type=int, default=None,
                   help="LSTM / Transformer layers (default 1 / 2)")
    g.add_argument("--d-model", type=int, default=128, help="Transformer width")
    g.add_argument("--heads", type=int, default=4, help="Transformer attention heads")
    g.add_argument("--dropout", type=float, default=0.0)
    g.add_argument("--clip-grad", type=float, default=1.0,
                   help="clip the gradient norm (charlm default 1.0)")
    g.add_argument("--val-fraction", type=float, default=0.1)
    g.add_argument("--eval-chars", type=int, default=20000,
                   help="validation characters used for the per-epoch estimate")
    g.add_argument("--sample-tokens", type=int, default=300)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--eval-run", metavar="RUN", default=None,
                   help="do not train: report RUN's best weights on the whole validation "
                        "split")
    g.add_argument("--prompt", default=None,
                   help="text the samples continue (default: a newline)")


def run_folder(args, task, arch) -> Path:
    """``--out``/``--name`` like every ``deltaflow train`` run (default
    ``runs/<model>-<data>-<date>-<time>``), created fresh."""
    data = getattr(args, "data", None) or "mnist"
    return common.new_run_dir(SimpleNamespace(out=getattr(args, "out", None) or "runs",
                                              name=getattr(args, "name", None), model=arch,
                                              task=task, data=data))


def _optimizer(model, arch, lr, args):
    """``--optimizer`` (default adam for the LSTM, adamw with weight decay 0.01 for the
    Transformer) with ``--lr``, ``--weight-decay``, ``--momentum``."""
    name = getattr(args, "optimizer", None) or ("adam" if arch == "lstm" else "adamw")
    wd = getattr(args, "weight_decay", None)
    wd = (0.01 if name == "adamw" else 0.0) if wd is None else wd
    momentum = getattr(args, "momentum", None)
    return common.make_optimizer(model.parameters(), SimpleNamespace(
        optimizer=name, lr=lr, weight_decay=wd, momentum=0.9 if momentum is None else momentum))


def _text_path(data) -> Path:
    if not data:
        raise ValueError("charlm: pass the text with --data text:PATH")
    spec = str(data)
    path = Path(spec[5:] if spec.startswith("text:") else spec)
    if not path.is_file():
        raise FileNotFoundError(f"charlm: text file not found: {path}")
    return path


def _config(args, vocab) -> dict:
    arch = args.model or "lstm"
    if arch == "lstm":
        hp = dict(embed_dim=args.embed_dim, hidden_size=args.hidden_size,
                  num_layers=args.layers or 1, dropout=args.dropout)
    elif arch == "transformer":
        hp = dict(d_model=args.d_model, nhead=args.heads, num_layers=args.layers or 2,
                  block_size=args.seq_len, dropout=args.dropout)
    else:
        raise ValueError(f"charlm: --model must be 'lstm' or 'transformer', got {arch!r}")
    return {"task": "charlm", "model": arch, "vocab": vocab, "hparams": hp}


def _loss(model, x, y, state=None):
    logits, state = model(Tensor(x), state)
    V = logits.shape[-1]
    return F.cross_entropy(Fn.reshape(logits, -1, V), Tensor(y.reshape(-1))), state


def _detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state)


def evaluate(model, ids: np.ndarray, window: int, streams: int = 16) -> float:
    """Mean cross-entropy (nats/char) of predicting ``ids[1:]`` from what precedes.

    The text is cut into ``streams`` contiguous pieces read in parallel, ``window``
    characters at a time; the LSTM carries its state across windows, the Transformer sees
    the current window only (so its context restarts every ``window`` characters)."""
    model.eval()
    n = (len(ids) - 1) // streams
    x_all = ids[:n * streams].reshape(streams, n)
    y_all = ids[1:n * streams + 1].reshape(streams, n)
    total, count, state = 0.0, 0, None
    carry = isinstance(model, M.CharLSTM)
    with no_grad():
        for s in range(0, n, window):
            x, y = x_all[:, s:s + window], y_all[:, s:s + window]
            loss, state = _loss(model, x, y, state if carry else None)
            total += float(loss.item()) * y.size
            count += y.size
    model.train()
    return total / count


def _sample_text(model, vocab, prompt, tokens, temperature, rng) -> str:
    ids = M.sample(model, [vocab.index(c) for c in prompt], tokens, temperature, rng)
    return prompt + "".join(vocab[i] for i in ids)


def run(args) -> int:
    if getattr(args, "eval_run", None):
        return eval_run(args)
    path = _text_path(getattr(args, "data", None))
    corpus = datasets.text(path, block_size=args.seq_len, val_fraction=args.val_fraction)
    vocab = "".join(corpus.vocab)
    train_ids, val_ids = corpus.train_ids, corpus.val_ids
    config = _config(args, vocab)
    prompt = args.prompt or ("\n" if "\n" in vocab else vocab[0])
    if set(prompt) - set(vocab):
        raise ValueError(f"charlm: --prompt has characters not in the text: {prompt!r}")
    arch = config["model"]
    seed = getattr(args, "seed", None)
    seed = 0 if seed is None else seed
    manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = M.build(config)
    lr = getattr(args, "lr", None) or DEFAULTS[arch]["lr"]
    B = getattr(args, "batch_size", None) or DEFAULTS[arch]["batch_size"]
    T = args.seq_len
    opt = _optimizer(model, arch, lr, args)
    clip = getattr(args, "clip_grad", None)
    if args.stateful and arch != "lstm":
        raise ValueError("charlm: --stateful (truncated BPTT with carried state) needs "
                         "--model lstm")
    out = run_folder(args, "charlm", arch)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    config.update(lr=lr, batch_size=B, seq_len=T, seed=seed, stateful=args.stateful,
                  data=str(path), train_chars=len(train_ids), val_chars=len(val_ids))
    ckpt.write_json(out / "config.json", config)
    eval_window = T if arch == "transformer" else 256
    n_params = sum(p.numel() for p in model.parameters())
    print(f"charlm: {arch} with {n_params} parameters, vocab {len(vocab)}, "
          f"{len(train_ids)} train / {len(val_ids)} val chars, batch {B} × {T}, lr {lr}")

    stream_len = (len(train_ids) - 1) // B
    starts = np.arange(B) * stream_len
    offset, state = 0, None
    epochs = getattr(args, "epochs", None) or 10
    budget = Budget(args.max_minutes, args.max_cpu_minutes)
    step, best = 0, math.inf
    log = open(out / "metrics.jsonl", "a", encoding="utf-8")
    samples = open(out / "samples.txt", "a", encoding="utf-8")
    for epoch in range(1, epochs + 1):
        running, n_run = 0.0, 0
        for _ in range(args.steps_per_epoch):
            if budget.spent():
                break
            if args.stateful:
                if offset + T + 1 > stream_len:
                    offset, state = 0, None
                idx = starts[:, None] + offset + np.arange(T + 1)
                offset += T
            else:
                idx = rng.integers(0, len(train_ids) - T - 1, size=B)[:, None] + np.arange(T + 1)
            chunk = train_ids[idx]
            loss, state = _loss(model, chunk[:, :-1], chunk[:, 1:], state)
            state = _detach(state) if args.stateful else None
            opt.zero_grad()
            loss.backward()
            if clip:
                clip_grad_norm_(model.parameters(), clip)
            opt.step()
            running += float(loss.item())
            n_run += 1
            step += 1
        if n_run == 0:
            break
        val = evaluate(model, val_ids[:args.eval_chars], eval_window)
        rec = {"epoch": epoch, "step": step, "train_loss": running / n_run, "val_loss": val,
               "val_ppl": math.exp(val), "wall_min": round(budget.wall_minutes(), 2),
               "cpu_min": round(budget.cpu_minutes(), 2)}
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if val < best:
            best = val
            ckpt.save_tensors(out / "model.safetensors", model.state_dict())
        ckpt.save_checkpoint(out / "checkpoints" / "last", model, opt, epoch=epoch, step=step)
        text_out = _sample_text(model, vocab, prompt, args.sample_tokens, args.temperature, rng)
        samples.write(f"--- epoch {epoch}, step {step}, val {val:.4f}\n{text_out}\n")
        samples.flush()
        print(f"epoch {epoch} step {step}: train {running / n_run:.4f}  val {val:.4f} nats/char "
              f"(ppl {math.exp(val):.2f})  {rec['wall_min']:.1f} min wall, "
              f"{rec['cpu_min']:.1f} min CPU", flush=True)
        if budget.spent():
            break
    wall, cpu = budget.wall_minutes(), budget.cpu_minutes()
    log.close()
    samples.close()
    return _final_report(model, out, vocab, val_ids, eval_window, prompt, args, rng,
                         {"steps": step, "train_wall_minutes": round(wall, 2),
                          "train_cpu_minutes": round(cpu, 2), "model": arch,
                          "params": n_params})


def _final_report(model, out, vocab, val_ids, eval_window, prompt, args, rng, info) -> int:
    """Load the best weights, measure the whole validation split, sample, write
    ``result.json``."""
    model.load_state_dict(ckpt.load_weights(out / "model.safetensors"))
    final = evaluate(model, val_ids, eval_window)
    sample = _sample_text(model, vocab, prompt, args.sample_tokens, args.temperature, rng)
    result = {"val_loss": final, "val_ppl": math.exp(final), "val_chars": len(val_ids),
              **info, "sample": sample}
    ckpt.write_json(out / "result.json", result)
    print(f"final: validation loss {final:.4f} nats/char (perplexity {math.exp(final):.2f}) on "
          f"all {len(val_ids)} validation characters after {info.get('steps')} steps, "
          f"{info.get('train_wall_minutes')} min wall / {info.get('train_cpu_minutes')} min "
          f"CPU of training\n{sample}")
    return 0


def eval_run(args) -> int:
    """``--eval-run RUN``: the final report (whole validation split, a sample) for the best
    weights of an earlier run, e.g. one stopped before its budget ran out."""
    out = Path(args.eval_run)
    config_path = out / "config.json"
    if not config_path.is_file() or not (out / "model.safetensors").is_file():
        raise FileNotFoundError(f"charlm: {out} has no config.json/model.safetensors; "
                                "--eval-run needs the folder of a charlm run")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    text = _text_path(getattr(args, "data", None) or config["data"]).read_text(encoding="utf-8")
    vocab = config["vocab"]
    ids = np.fromiter((vocab.index(c) for c in text), dtype=np.int64, count=len(text))
    val_ids = ids[len(ids) - config["val_chars"]:]
    model = M.build(config)
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = logs[-1] if logs else {}
    prompt = args.prompt or ("\n" if "\n" in vocab else vocab[0])
    seed = getattr(args, "seed", None)
    window = config["seq_len"] if config["model"] == "transformer" else 256
    return _final_report(model, out, vocab, val_ids, window, prompt, args,
                         np.random.default_rng(0 if seed is None else seed),
                         {"steps": last.get("step"), "train_wall_minutes": last.get("wall_min"),
                          "train_cpu_minutes": last.get("cpu_min"), "model": config["model"],
                          "params": sum(p.numel() for p in model.parameters()),
                          "evaluated_by": "--eval-run"})


__all__ = ["add_arguments", "run", "eval_run", "evaluate"]
