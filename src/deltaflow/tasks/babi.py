"""``deltaflow train --task babi``: end-to-end memory networks on the bAbI tasks.

One run trains a set of :class:`~deltaflow.models.memn2n.MemN2N` members side by side in one
:class:`~deltaflow.train.Trainer` loop: one model per task in ``--tasks`` (default), or one
model over all of them (``--joint``), each ``--repeats`` times from another initialisation.
A training step gives every member its own next batch of ``--batch-size`` questions and
minimises the sum of their losses; each member's gradient is clipped on its own
(``--clip-grad``, default 40), and plain SGD moves each member only by its own gradient, so
every member trains exactly as if it were trained alone. After training, each task's test
error is that of its member (of the repeat) with the lowest validation error.

The authors' recipe is the default (Sukhbaatar et al. 2015 and their MATLAB code): SGD,
``--lr 0.01`` on the loss summed over the batch, halved every ``--lr-decay-every 25``
epochs, ``--epochs 100``, batch 32, gradient norm clipped at 40, embedding 20 per task / 50
joint, 3 hops, adjacent tying, position and temporal encoding, memory of the last 50
sentences, 10 % of the training questions held out for validation, "linear start" (the
first ``--linear-start 20`` epochs without the hops' softmax, at half the rate) and "random
noise" (``--random-noise 0.1``: the temporal indices of a training story are spread over up
to 10 % more slots, as if empty memories were inserted between its sentences).

Batches are question indices, ``(members, batch)`` arrays (−1: none for that member); the
task looks the stories up in its arrays and cuts each batch to the memory slots and words
it uses. The training "loss" logged is the sum over the batch and the members (the
quantity minimised); ``error`` is the fraction of wrong answers; ``val_loss`` is the mean
cross-entropy per question.
"""
from __future__ import annotations

import math

import numpy as np

from .. import io, nn, optim
from ..autograd import no_grad
from ..data.babi import TASKS, babi_splits
from ..models.memn2n import TYING, MemN2N
from ..nn import functional as F
from ..tensor import Tensor
from ..train import Step, Task
from ..train import run_folder as rf
from .common import fraction, nonnegative_int, positive_int
from .runner import Setup

NOT_APPLICABLE = ("hidden", "activation", "batchnorm", "data_dir", "dropout", "scheduler",
                  "device", "model")
#: options that may differ when a run is resumed (besides the common ones)
RESUMABLE = ()
#: a task fails when its test error is above this (the paper's rule)
FAILED_ABOVE = 0.05


def task_list(value) -> list[int]:
    """``"1-20"``, ``"1,2,5-7"``, ``3`` or ``[1, 2]`` → the sorted task numbers."""
    import argparse
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    tasks = set()
    try:
        for item in items:
            low, _, high = str(item).strip().partition("-")
            tasks.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected task numbers like 1-20 or 1,2,5, got "
                                         f"{value!r}") from None
    if not tasks or not tasks <= set(TASKS):
        raise argparse.ArgumentTypeError(f"expected task numbers in 1-20, got {value!r}")
    return sorted(tasks)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("babi")
    g.add_argument("--data", default="babi:../shared/data/babi/en")
    g.add_argument("--optimizer", default="sgd")
    g.add_argument("--lr", default=0.01)
    g.add_argument("--momentum", default=0.0)
    g.add_argument("--epochs", default=100)
    g.add_argument("--batch-size", default=32)
    g.add_argument("--clip-grad", default=40.0)
    g.add_argument("--tasks", type=task_list, default=list(TASKS), metavar="1-20",
                   help="bAbI tasks to train on (default 1-20)")
    g.add_argument("--joint", action="store_true",
                   help="one model over all --tasks (default: one model per task)")
    g.add_argument("--repeats", type=positive_int, default=1, metavar="N",
                   help="train each model N times from other initialisations and keep the "
                        "one with the lowest validation error (the paper: 10)")
    g.add_argument("--memory-size", type=positive_int, default=50,
                   help="sentences of a story kept in memory, the last ones (default 50)")
    g.add_argument("--hops", type=positive_int, default=3, help="memory hops (default 3)")
    g.add_argument("--embed-dim", type=positive_int, default=None,
                   help="embedding size (default 20 per task, 50 joint)")
    g.add_argument("--tying", choices=TYING, default="adjacent",
                   help="adjacent (default) or layerwise weight tying")
    g.add_argument("--encoding", choices=("position", "bow"), default="position",
                   help="sentence encoding: position (default) or bag of words")
    g.add_argument("--no-temporal", action="store_true", help="no temporal encoding")
    g.add_argument("--linear-start", type=nonnegative_int, default=20, metavar="EPOCHS",
                   help="epochs without the hops' softmax at the start, at half the rate "
                        "(default 20; 0: none)")
    g.add_argument("--random-noise", type=fraction, default=0.1, metavar="F",
                   help="spread a training story's temporal indices over up to F more slots "
                        "(default 0.1; 0: none)")
    g.add_argument("--lr-decay-every", type=positive_int, default=25, metavar="EPOCHS",
                   help="halve the rate every EPOCHS epochs after the linear start "
                        "(default 25)")


def default_name(opts) -> str:
    return "memn2n-joint" if opts.joint else "memn2n"


def data_root(spec) -> str:
    kind, _, path = str(spec).partition(":")
    if kind != "babi" or not path:
        raise ValueError(f"babi: pass the bAbI folder with --data babi:PATH, got {spec!r}")
    return path


# ------------------------------------------------------------------ the learning rate
class Schedule:
    """The rate factor of epoch e (0-based): ½ during the linear start (e < ls), then
    ½^⌊(e − ls + 1) / every⌋ — the authors' halving at every ``every``-th epoch, counted
    from the end of the linear start. A callable object, so the checkpoint keeps it."""

    def __init__(self, linear_start: int, every: int):
        self.linear_start, self.every = linear_start, every

    def __call__(self, epoch: int) -> float:
        if epoch < self.linear_start:
            return 0.5
        return 0.5 ** ((epoch - self.linear_start + 1) // self.every)


# ------------------------------------------------------------------ the data
class Store:
    """The questions of the train and test splits of the run's tasks in one set of arrays
    (train first), with each member's train / validation / test indices into them."""

    def __init__(self, root, tasks, memory_size):
        splits = babi_splits(root, tasks, memory_size)
        train, test = splits["train"], splits["test"]
        self.train, self.test, self.vocab = train, test, train.vocab
        self.n_train = len(train)
        self.stories = np.concatenate([train.stories, test.stories])
        self.queries = np.concatenate([train.queries, test.queries])
        self.time = np.concatenate([train.time, test.time])
        self.answers = np.concatenate([train.answers, test.answers])
        self.tasks = np.concatenate([train.tasks, test.tasks])
        self.filled = (self.time > 0).sum(1)          # sentences in memory

    def question(self, i: int):
        """The :class:`~deltaflow.data.babi.Question` at store index ``i``."""
        return (self.train.questions[i] if i < self.n_train
                else self.test.questions[i - self.n_train])

    def split(self, tasks, val_fraction: float, seed: int) -> dict:
        """``{"train", "val", "test"}`` store indices of ``tasks``: a seeded ``val_fraction``
        of each task's training questions held out (the same for every repeat)."""
        out = {"train": [], "val": [], "test": []}
        for task in tasks:
            idx = np.flatnonzero(self.tasks[:self.n_train] == task)
            order = np.random.default_rng([seed, task]).permutation(len(idx))
            n_val = int(round(len(idx) * val_fraction))
            out["val"].append(np.sort(idx[order[:n_val]]))
            out["train"].append(np.sort(idx[order[n_val:]]))
            out["test"].append(self.n_train + np.flatnonzero(self.tasks[self.n_train:] == task))
        return {k: np.concatenate(v) for k, v in out.items()}

    def batch(self, idx: np.ndarray, time=None):
        """``(story, query, time, answer)`` arrays of questions ``idx``, cut to the memory
        slots and words they use (``time``: other temporal indices)."""
        slots = max(int(self.filled[idx].max()), 1)
        story = self.stories[idx, :slots]
        words = max(int((story != 0).sum(-1).max()), 1)
        time = self.time[idx, :slots] if time is None else time[:, :slots]
        return story[:, :, :words], self.queries[idx], time, self.answers[idx]


def noisy_time(time: np.ndarray, noise: float, memory_size: int, rng) -> np.ndarray:
    """Random noise of the temporal indices (the authors' ``randomize_time``): a story of n
    sentences gets b ~ U{0..⌈n·noise⌉} blanks, its sentences take n of the indices
    1..n + b in random order (capped at ``memory_size``), sorted so that the latest
    sentence has the smallest."""
    n = (time > 0).sum(1)
    blanks = rng.integers(0, np.ceil(n * noise).astype(np.int64) + 1)
    width = time.shape[1] + int(blanks.max(initial=0))
    keys = rng.random((len(time), width))
    keys[np.arange(width) >= (n + blanks)[:, None]] = np.inf
    rank = np.argsort(np.argsort(keys, axis=1), axis=1) + 1       # a permutation of 1..n+b
    chosen = np.where(np.arange(width) < n[:, None], rank, 0)[:, :time.shape[1]]
    chosen = -np.sort(-chosen, axis=1)                             # descending, zeros last
    return np.minimum(chosen, memory_size)


class Batches:
    """An epoch of training batches: every member's training questions in its own shuffled
    order, ``batch`` at a time, as one ``(members, batch)`` index array (−1 once a member
    has run out). ``state_dict()`` keeps the generator, so a resumed run draws the same."""

    def __init__(self, members_idx: list, batch: int, seed: int):
        self.members_idx, self.batch = members_idx, batch
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        return max(math.ceil(len(idx) / self.batch) for idx in self.members_idx)

    def __iter__(self):
        orders = [self.generator.permutation(idx) for idx in self.members_idx]
        yield from _chunks(orders, self.batch, len(self))

    def state_dict(self) -> dict:
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.generator.bit_generator.state = state["generator"]


def _chunks(orders, batch, steps):
    for s in range(steps):
        out = np.full((len(orders), batch), -1, dtype=np.int64)
        for m, order in enumerate(orders):
            part = order[s * batch:(s + 1) * batch]
            out[m, :len(part)] = part
        yield (out,)


def eval_batches(members_idx: list, batch: int = 500) -> list:
    """The batches of a fixed split (validation, test), in order."""
    steps = max(math.ceil(len(idx) / batch) for idx in members_idx)
    return list(_chunks(members_idx, batch, steps))


# ------------------------------------------------------------------ the model set
class Members(nn.Module):
    """The run's MemN2N models, ``members[m]``; ``keys[m]`` = ``(tasks, repeat)``."""

    def __init__(self, config: dict):
        super().__init__()
        self.keys = [(tuple(k["tasks"]), int(k["repeat"])) for k in config["members"]]
        self.members = nn.ModuleList([MemN2N(**config["hparams"]) for _ in self.keys])

    def set_linear(self, linear: bool) -> None:
        for member in self.members:
            member.linear.data = np.array(bool(linear))


def member_keys(tasks, joint: bool, repeats: int) -> list[dict]:
    groups = [list(tasks)] if joint else [[t] for t in tasks]
    return [{"tasks": g, "repeat": r} for g in groups for r in range(repeats)]


def hparams(opts, vocab_size: int) -> dict:
    return dict(vocab_size=vocab_size, embed_dim=opts.embed_dim or (50 if opts.joint else 20),
                hops=opts.hops, memory_size=opts.memory_size, tying=opts.tying,
                position_encoding=opts.encoding == "position",
                temporal_encoding=not opts.no_temporal)


def run_member(member, store, idx, time=None):
    """``(logits, answers)`` of ``member`` on store questions ``idx``."""
    story, query, t, answers = store.batch(idx, time)
    return member(Tensor(story), Tensor(query), Tensor(t)), answers


class BabiTask(Task):
    """Every member's loss on its own batch, summed; per-member gradient clipping; the
    linear start switched by epoch; the random noise drawn from the task's generator; the
nil rows reset after every update."""

    def __init__(self, model: Members, store: Store, max_norm, linear_start: int,
                 noise: float, seed: int):
        self.model, self.store, self.max_norm = model, store, max_norm
        self.linear_start, self.noise = linear_start, noise
        self.rng = np.random.default_rng([seed, 2])

    def _step(self, batch, train: bool) -> Step:
        idx_all = batch[0].numpy()
        total, wrong, n = None, 0, 0
        for member, idx in zip(self.model.members, idx_all):
            idx = idx[idx >= 0]
            if not len(idx):
                continue
            time = None
            if train and self.noise > 0:
                time = noisy_time(self.store.time[idx], self.noise, member.memory_size,
                                  self.rng)
            logits, answers = run_member(member, self.store, idx, time)
            loss = F.cross_entropy(logits, Tensor(answers), reduction="sum")
            total = loss if total is None else total + loss
            wrong += int((logits.numpy().argmax(1) != answers).sum())
            n += len(idx)
        metrics = {"error": wrong / n}
        return Step(total, n, metrics) if train else Step(float(total.item()) / n, n, metrics)

    def training_step(self, batch) -> Step:
        return self._step(batch, True)

    def validation_step(self, batch) -> Step:
        return self._step(batch, False)

    def on_epoch_start(self, trainer) -> None:
        self.model.set_linear(trainer.epoch < self.linear_start)

    def on_after_backward(self, trainer) -> None:
        if self.max_norm is not None:
            for member in self.model.members:
                nn.utils.clip_grad_norm_(member.parameters(), self.max_norm)

    def on_batch_end(self, trainer, logs) -> None:
        for member in self.model.members:
            member.zero_nil_()

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


# ------------------------------------------------------------------ results
def member_errors(model: Members, store: Store, split_idx: list) -> list[dict]:
    """Per member, ``{task: test error}`` over its questions ``split_idx[m]``."""
    out = []
    was = model.training
    model.eval()
    with no_grad():
        for member, idx in zip(model.members, split_idx):
            if not len(idx):
                out.append({})
                continue
            wrong = np.zeros(len(idx), dtype=bool)
            for s in range(0, len(idx), 500):
                logits, answers = run_member(member, store, idx[s:s + 500])
                wrong[s:s + 500] = logits.numpy().argmax(1) != answers
            tasks = store.tasks[idx]
            out.append({int(t): float(wrong[tasks == t].mean()) for t in np.unique(tasks)})
    model.train(was)
    return out


def results(model: Members, store: Store, splits: list) -> dict:
    """Validation and test errors of every member, the repeat chosen for each model (the
    lowest mean validation error), the per-task test errors of the chosen members, their
    mean and the number of failed tasks (error > 5 %)."""
    val = member_errors(model, store, [s["val"] for s in splits])
    test = member_errors(model, store, [s["test"] for s in splits])
    def mean_val(m):   # no validation split: the first repeat
        return float(np.mean(list(val[m].values()))) if val[m] else 0.0

    chosen = {}
    for m, (tasks, _) in enumerate(model.keys):
        if tasks not in chosen or mean_val(m) < mean_val(chosen[tasks]):
            chosen[tasks] = m
    per_task = {t: test[m][t] for m in chosen.values() for t in test[m]}
    errors = [per_task[t] for t in sorted(per_task)]
    return {"test_error": {str(t): per_task[t] for t in sorted(per_task)},
            "mean_test_error": float(np.mean(errors)),
            "failed_tasks": int(sum(e > FAILED_ABOVE for e in errors)),
            "chosen": {",".join(map(str, k)): model.keys[m][1] for k, m in chosen.items()},
            "members": [{"tasks": list(k), "repeat": r,
                         "val_error": {str(t): e for t, e in val[m].items()},
                         "test_error": {str(t): e for t, e in test[m].items()}}
                        for m, (k, r) in enumerate(model.keys)]}


def table(res: dict, names: dict) -> str:
    """The per-task test-error table with the mean and the failed-task count."""
    lines = [f"{'task':>4}  {'name':<26} {'test error %':>12}"]
    for t, e in res["test_error"].items():
        lines.append(f"{t:>4}  {names.get(int(t), ''):<26} {100 * e:>12.1f}"
                     + ("  failed" if e > FAILED_ABOVE else ""))
    lines.append(f"{'mean':>4}  {'':<26} {100 * res['mean_test_error']:>12.1f}")
    lines.append(f"failed tasks (error > 5%): {res['failed_tasks']} of "
                 f"{len(res['test_error'])}")
    return "\n".join(lines)


# ------------------------------------------------------------------ setup
def setup(opts) -> Setup:
    root = data_root(opts.data)
    tasks = task_list(opts.tasks)
    store = Store(root, tasks, opts.memory_size)
    keys = member_keys(tasks, opts.joint, opts.repeats)
    config = {"hparams": hparams(opts, len(store.vocab)), "members": keys}
    model = Members(config)
    splits = {}
    for key in keys:
        group = tuple(key["tasks"])
        if group not in splits:
            splits[group] = store.split(group, opts.val_split, opts.seed)
    member_splits = [splits[tuple(k["tasks"])] for k in keys]
    train = Batches([s["train"] for s in member_splits], opts.batch_size, opts.seed)
    val = eval_batches([s["val"] for s in member_splits]) if opts.val_split > 0 else None
    optimizer = optim.SGD(model.parameters(), lr=opts.lr, momentum=opts.momentum)
    scheduler = optim.lr_scheduler.LambdaLR(optimizer,
                                            Schedule(opts.linear_start, opts.lr_decay_every))
    # each member's gradient is clipped on its own (BabiTask.on_after_backward): the
    # Trainer's clipping of all members' gradients together would couple them
    task = BabiTask(model, store, opts.clip_grad, opts.linear_start, opts.random_noise,
                    opts.seed)
    opts.clip_grad = None
    meta = {"task": "babi", "data": f"babi:{root}", "tasks": tasks, "joint": opts.joint,
            "memory_size": opts.memory_size, "vocab": store.vocab, "seed": opts.seed,
            "val_split": opts.val_split, "task_names": store.train.task_names, **config}

    def finish(trainer):
        res = results(model, store, member_splits)
        text = table(res, store.train.task_names)
        return res, {"test": f"mean error {100 * res['mean_test_error']:.1f}%, "
                             f"{res['failed_tasks']} failed tasks", "per task": "\n" + text}

    data = (f"bAbI {root}: tasks {_spec(tasks)}, {len(store.train)} train / "
            f"{len(store.test)} test questions ({opts.val_split:.0%} of train validates), "
            f"vocabulary {len(store.vocab)}")
    what = (f"MemN2N × {len(keys)} ({'joint' if opts.joint else 'one per task'}, "
            f"{opts.repeats} repeat{'s' if opts.repeats > 1 else ''}): "
            + ", ".join(f"{k}={v}" for k, v in config["hparams"].items()))
    return Setup(task, optimizer, train, val, meta, finish, scheduler, "epoch",
                 summary={"data": data, "model": what})


def _spec(tasks) -> str:
    return f"{tasks[0]}-{tasks[-1]}" if tasks == list(range(tasks[0], tasks[-1] + 1)) \
        else ",".join(map(str, tasks))


# ------------------------------------------------------------------ trained runs
def load_members(path):
    """``(members in eval mode, meta, run folder, weights file)`` of a trained babi run (a
    run folder or a checkpoint inside one), without its bAbI data."""
    run_dir, weights, meta = rf.open_trained(path, "babi")
    model = Members(meta)
    model.load_state_dict(io.load(weights))
    model.eval()
    return model, meta, run_dir, weights


def load_trained(path):
    """``(members in eval mode, meta, store, member splits, run folder, weights file)`` of a
    trained babi run (a run folder or a checkpoint inside one)."""
    model, meta, run_dir, weights = load_members(path)
    store = Store(data_root(meta["data"]), meta["tasks"], meta["memory_size"])
    if store.vocab != meta["vocab"]:
        raise ValueError(f"babi: {meta['data']} has other words than when {run_dir} was "
                         f"trained")
    splits = {}
    for tasks, _ in model.keys:
        if tasks not in splits:
            splits[tasks] = store.split(tasks, meta["val_split"], meta["seed"])
    return (model, meta, store, [splits[k] for k, _ in model.keys], run_dir, weights)


__all__ = ["BabiTask", "Batches", "Members", "Schedule", "Store", "load_members",
           "load_trained",
           "noisy_time", "results", "setup", "table", "task_list"]
