"""Pieces every training task shares: data sources, optimizer and scheduler from options,
the trainer's optional callbacks, the printed summary.

Options arrive as an ``argparse.Namespace`` already resolved by ``deltaflow.cli.train``
(command line over ``--config`` file over a resumed run's saved config over defaults).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .. import backend, io, optim
from ..data import DataLoader, Subset
from ..train.distributed import ShardSampler, rank_and_size

#: data sources understood by ``--data``; ``csv``, ``text`` and ``babi`` take ``:PATH``
DATA_KINDS = ("digits", "mnist", "fashion-mnist", "csv", "text", "babi")
#: the kinds that take ``:PATH``
PATH_KINDS = ("csv", "text", "babi")

#: ``--lr`` when not given, per optimizer
DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3, "rmsprop": 1e-3, "adagrad": 1e-2}

OPTIMIZERS = tuple(DEFAULT_LR)
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")


def parse_data(spec: str) -> tuple[str, str | None]:
    """``"digits"`` → ``("digits", None)``; ``"csv:data.csv"`` → ``("csv", "data.csv")``."""
    kind, sep, path = str(spec).partition(":")
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data {spec!r}; expected digits, mnist, fashion-mnist, "
                         f"csv:PATH, text:PATH or babi:PATH")
    if kind in PATH_KINDS and not path:
        raise ValueError(f"--data {kind} needs a file: --data {kind}:PATH")
    if kind not in PATH_KINDS and sep:
        raise ValueError(f"--data {kind} takes no path (use --data-dir for its folder)")
    return kind, path or None


def data_name(spec: str) -> str:
    kind, path = parse_data(spec)
    return Path(path).stem if path else kind


# ------------------------------------------------------------------ option value types
def _number(value, kind, what):
    if isinstance(value, bool):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None


def positive_int(value) -> int:
    n = _number(value, int, "a positive integer")
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def integer(value) -> int:
    return _number(value, int, "an integer")


def positive_float(value) -> float:
    x = _number(value, float, "a positive number")
    if not x > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return x


def nonnegative_float(value) -> float:
    x = _number(value, float, "a number >= 0")
    if not x >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value!r}")
    return x


def fraction(value) -> float:
    x = _number(value, float, "a number in [0, 1)")
    if not 0 <= x < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value!r}")
    return x


def nonnegative_int(value) -> int:
    n = _number(value, int, "an integer >= 0")
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return n


def hidden_sizes(value) -> list[int]:
    """``"512,512"`` or ``[512, 512]`` → ``[512, 512]``; ``""``/``"none"`` → ``[]``."""
    if isinstance(value, str):
        text = value.strip()
        items = [] if text.lower() in ("", "none") else text.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise argparse.ArgumentTypeError(f"expected layer widths like 512,512, got {value!r}")
    try:
        sizes = [positive_int(v.strip() if isinstance(v, str) else v) for v in items]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected positive layer widths like 512,512, got "
                                         f"{value!r}") from None
    return sizes


def text(value) -> str:
    if not isinstance(value, str):
        raise argparse.ArgumentTypeError(f"expected a string, got {value!r}")
    return value


def device(value) -> str:
    value = text(value)
    try:
        return backend.normalize_device(value)
    except (ValueError, RuntimeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# ------------------------------------------------------------------ loaders
def train_loader(dataset, batch_size: int, seed: int, drop_last: bool = False) -> DataLoader:
    """The shuffled training loader, ``batch_size`` samples per process: in one process
    ``DataLoader(shuffle=True, generator=seed)``; under ``mpiexec -n N`` this rank's shard
    of the very same order (:class:`~deltaflow.train.distributed.ShardSampler`), so the N
    ranks' batches together are the one-process batches of ``N × batch_size``."""
    if rank_and_size()[1] == 1:
        return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=drop_last,
                          generator=seed)
    generator = np.random.default_rng(seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=ShardSampler(dataset, generator),
                      drop_last=drop_last, generator=generator)


def eval_loader(dataset, batch_size: int) -> DataLoader:
    """A loader over this rank's samples ``rank, rank + N, ...`` of ``dataset`` (all of them
    in one process), not padded: the Trainer sums (loss·n, n) over the ranks, so
    validation and test metrics are those of the whole split."""
    rank, world = rank_and_size()
    if world > 1:
        dataset = Subset(dataset, range(rank, len(dataset), world))
    return DataLoader(dataset, batch_size=batch_size)


# ------------------------------------------------------------------ optimization
def make_optimizer(params, args):
    """The optimizer named by ``args.optimizer`` with ``lr``, ``momentum``,
    ``weight_decay`` (``lr`` None → :data:`DEFAULT_LR`)."""
    name = args.optimizer
    lr = args.lr if args.lr is not None else DEFAULT_LR[name]
    wd = args.weight_decay or 0.0
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=args.momentum, weight_decay=wd,
                         nesterov=args.momentum > 0)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=args.momentum, weight_decay=wd)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


def make_scheduler(optimizer, args, steps_per_epoch: int):
    """``(scheduler or None, interval)`` for ``args.scheduler`` over ``args.epochs`` epochs.

    step: ×0.1 at 1/3 and 2/3 of the epochs; cosine: to 0 over the epochs (per epoch);
    onecycle: warm-up to ``lr`` then anneal (per batch); plateau: ×0.1 after 2 epochs
    without a better validation loss.
    """
    name, epochs = args.scheduler, args.epochs
    sched = optim.lr_scheduler
    if name == "none":
        return None, "epoch"
    if name == "step":
        milestones = sorted({max(1, epochs // 3), max(1, 2 * epochs // 3)})
        return sched.MultiStepLR(optimizer, milestones=milestones, gamma=0.1), "epoch"
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    if name == "onecycle":
        max_lr = optimizer.param_groups[0]["lr"]
        return sched.OneCycleLR(optimizer, max_lr=max_lr,
                                total_steps=epochs * steps_per_epoch), "batch"
    if name == "plateau":
        return sched.ReduceLROnPlateau(optimizer, factor=0.1, patience=2), "epoch"
    raise ValueError(f"unknown scheduler {name!r}; expected one of {', '.join(SCHEDULERS)}")


# ------------------------------------------------------------------ trainer extras
class RunExtras:
    """Callbacks and context the common options ask for: ``--monitor`` (a gradient-flow
    monitor whose report and plots go to the run folder), ``--tensorboard DIR`` (event
    files in ``DIR/<run name>``, the run's config as hparams) and ``--no-progress``."""

    def __init__(self, args, model, run_dir):
        from ..train import GradientMonitorCallback
        self.run_dir, self.monitor, self.callbacks = Path(run_dir), None, []
        if args.monitor:
            from ..diagnostics import GradientMonitor
            self.monitor = GradientMonitor(model)
            self.callbacks.append(GradientMonitorCallback(self.monitor))
        if args.tensorboard:
            from ..train import TensorBoard
            self.callbacks.append(TensorBoard(Path(args.tensorboard) / self.run_dir.name,
                                              hparams=args.run_config))
        self.progress = not args.no_progress

    def finish(self, plot: bool = True) -> list[Path]:
        """Write the monitor's report (and plots); return the files written."""
        if self.monitor is None:
            return []
        written = [self.run_dir / "gradient_report.txt"]
        with io.atomic_write(written[0]) as f:
            f.write(str(self.monitor.report()) + "\n")
        if plot:
            from ..train.plots import have_matplotlib
            if have_matplotlib():
                for method, file in (("plot_grad_norms", "grad_norms.png"),
                                     ("plot_gradient_flow", "gradient_flow.png")):
                    if hasattr(self.monitor, method):
                        getattr(self.monitor, method)(self.run_dir / file)
                        written.append(self.run_dir / file)
        self.monitor.remove()  # detach its hooks from the model
        return written


def print_summary(lines: dict, file=None) -> None:
    """Aligned ``key: value`` lines."""
    file = file or sys.stdout
    width = max(len(k) for k in lines)
    for key, value in lines.items():
        print(f"{key:<{width}}  {value}", file=file)
