"""Pieces every training task shares: optimizer and scheduler from options, the run folder
and its config, the trainer's optional callbacks, the printed summary.

Options arrive as an ``argparse.Namespace`` already resolved by ``deltaflow.cli.train``
(command line over ``--config`` file over a resumed run's saved config over defaults).
"""
from __future__ import annotations

import datetime
import json
import math
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the tomli backport
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

from .. import optim

#: data sources understood by ``--data``; ``csv`` and ``text`` take ``:PATH``
DATA_KINDS = ("digits", "mnist", "fashion-mnist", "csv", "text")

#: ``--lr`` when not given, per optimizer
DEFAULT_LR = {"sgd": 0.05, "adam": 3e-3, "adamw": 3e-3, "rmsprop": 1e-3, "adagrad": 1e-2}

OPTIMIZERS = tuple(DEFAULT_LR)
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")

CONFIG_NAME = "config.toml"
CHECKPOINT = "checkpoints/last"


def parse_data(spec: str) -> tuple[str, str | None]:
    """``"digits"`` → ``("digits", None)``; ``"csv:data.csv"`` → ``("csv", "data.csv")``."""
    kind, sep, path = str(spec).partition(":")
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data {spec!r}; expected digits, mnist, fashion-mnist, "
                         f"csv:PATH or text:PATH")
    if kind in ("csv", "text") and not path:
        raise ValueError(f"--data {kind} needs a file: --data {kind}:PATH")
    if kind not in ("csv", "text") and sep:
        raise ValueError(f"--data {kind} takes no path (use --data-dir for its folder)")
    return kind, path or None


def data_name(spec: str) -> str:
    kind, path = parse_data(spec)
    return Path(path).stem if path else kind


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


# ------------------------------------------------------------------ run folder + config
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if isinstance(value, float) and math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(config: dict) -> str:
    """Flat ``key = value`` TOML for a dict of scalars and lists (None values left out)."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in config.items() if v is not None)


def read_toml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    if tomllib is None:
        raise ValueError("reading TOML config files needs Python 3.11 or newer (tomllib)")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: invalid TOML: {err}") from None


def new_run_dir(args) -> Path:
    """``args.out/args.name`` (default name ``<model>-<data>-<date>-<time>``), made fresh:
    an existing folder gets a ``-2``, ``-3``, ... suffix rather than being overwritten."""
    name = args.name or "-".join([getattr(args, "model", None) or args.task,
                                  data_name(args.data),
                                  datetime.datetime.now().strftime("%Y%m%d-%H%M%S")])
    base = Path(args.out) / name
    run_dir, n = base, 1
    while run_dir.exists():
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    run_dir.mkdir(parents=True)
    return run_dir


def save_config(run_dir, config: dict) -> None:
    from ..train.checkpoint import _atomic_write
    text = "# deltaflow train options of this run (usable with --config)\n" + dump_toml(config)
    _atomic_write(Path(run_dir) / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text))


def save_json(path, obj) -> None:
    from ..train.checkpoint import write_json
    write_json(path, obj)


# ------------------------------------------------------------------ trainer extras
class RunExtras:
    """Callbacks and context the common options ask for: ``--monitor`` (a gradient-flow
    monitor whose report and plots go to the run folder) and ``--no-progress``."""

    def __init__(self, args, model, run_dir):
        from ..train import GradientMonitorCallback
        self.run_dir, self.monitor, self.callbacks = Path(run_dir), None, []
        if args.monitor:
            from ..diagnostics import GradientMonitor
            self.monitor = GradientMonitor(model)
            self.callbacks.append(GradientMonitorCallback(self.monitor))
        self.progress = not args.no_progress

    def finish(self, plot: bool = True) -> list[Path]:
        """Write the monitor's report (and plots); return the files written."""
        if self.monitor is None:
            return []
        written = [self.run_dir / "gradient_report.txt"]
        written[0].write_text(str(self.monitor.report()) + "\n")
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
