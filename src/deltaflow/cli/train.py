"""``deltaflow train``: train a model and keep everything about the run in one folder.

With no options it trains an MLP on the scikit-learn digits and prints where the run went:
``runs/<name>/`` holds ``config.toml`` (every option, reusable with ``--config``),
``metrics.jsonl``, ``model.safetensors``, ``model.json``, ``results.json``, ``curves.png`` and
``checkpoints/{last,best}.*``.

Option values come from, in order of precedence: the command line, ``--config FILE.toml``
(same keys, ``batch_size`` or ``batch-size``), the saved config of the run being resumed
(``--resume RUN``), the task's own defaults, the defaults below.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import shutil
import sys
from pathlib import Path

from .. import backend, models, tasks
from ..tasks import common
from . import UsageError

META = ("resume", "config")     # options that pick a configuration but are not part of it
# left out of a run's config.toml: per-invocation choices, not part of what the run is
NOT_SAVED = META + ("name", "no_progress", "monitor", "detect_anomaly")


# ------------------------------------------------------------------ value types
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


# ------------------------------------------------------------------ tasks and their options
def task_modules() -> dict:
    """``{name: module or the ImportError it raised}`` for every ``deltaflow.tasks`` module
    that defines ``add_arguments`` and ``run``."""
    found = {}
    for info in pkgutil.iter_modules(tasks.__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        try:
            mod = importlib.import_module(f"{tasks.__name__}.{info.name}")
        except Exception as err:  # a broken task must not take the whole CLI down
            found[info.name] = err
            continue
        if hasattr(mod, "run") and hasattr(mod, "add_arguments"):
            found[info.name] = mod
    return found


class _Spec:
    """What ``run`` needs to know about the parser: defaults, value types, owners."""

    def __init__(self):
        self.defaults: dict = {}
        self.types: dict = {}
        self.choices: dict = {}
        self.flags: dict = {}           # dest -> "--option"
        self.owners: dict = {}          # dest -> {"task:charlm", "model:cnn", ...}
        self.task_defaults: dict = {}   # task -> {dest: default} (a task's own defaults)
        self.broken: dict = {}          # task/model -> the error that kept it from loading
        self.common: set = set()        # dests of the options defined here (not by tasks)
        self.managed: set = set()       # tasks with MANAGED_RUN (see resolve)


class _OwnedGroup:
    """An argument group that records which task/model added each option.

    A task re-declaring a common option only sets that option's default for the task; two
    tasks declaring the same option share it.
    """

    def __init__(self, parser, group, owner, spec, common_dests):
        self._parser, self._group, self._owner = parser, group, owner
        self._spec, self._common = spec, common_dests

    def add_argument(self, *flags, **kwargs):
        known = [self._parser._option_string_actions[f] for f in flags
                 if f in self._parser._option_string_actions]
        if known:
            action = known[0]
            if action.dest in self._common:
                if "default" in kwargs and self._owner.startswith("task:"):
                    task = self._owner.split(":", 1)[1]
                    self._spec.task_defaults.setdefault(task, {})[action.dest] = \
                        kwargs["default"]
            else:
                self._spec.owners.setdefault(action.dest, set()).add(self._owner)
            return action
        action = self._group.add_argument(*flags, **kwargs)
        self._spec.owners.setdefault(action.dest, set()).add(self._owner)
        return action

    def add_argument_group(self, *args, **kwargs):
        return self

    def __getattr__(self, name):
        return getattr(self._group, name)


def add_parser(subparsers, name):
    parser = subparsers.add_parser(
        name, help="train a model (default: an MLP on the digits)",
        description="Train a model; the run folder (default runs/<model>-<data>-<time>/) gets "
                    "config.toml, metrics.jsonl, model.safetensors, curves.png and "
                    "checkpoints/. Options may also come from --config FILE.toml.")
    spec = _Spec()
    found = task_modules()
    g = parser.add_argument_group("what to train")
    g.add_argument("--task", default="classify", choices=sorted(found),
                   help="classify (default) or another task")
    g.add_argument("--data", default="digits", type=text, metavar="SOURCE",
                   help="digits (default), mnist, fashion-mnist, csv:PATH or text:PATH")
    g.add_argument("--data-dir", type=text, metavar="DIR",
                   help="folder with the MNIST/Fashion-MNIST IDX files")
    g.add_argument("--model", default="mlp", type=text,
                   help="classify: " + ", ".join(models.available()) + " (default mlp); "
                        "other tasks name their own models")
    g.add_argument("--hidden", default=[256, 256], type=hidden_sizes, metavar="N,N",
                   help="hidden layer widths of the MLP (default 256,256)")
    g.add_argument("--activation", default="relu",
                   choices=["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "silu",
                            "selu"], help="hidden activation (default relu)")
    g.add_argument("--dropout", default=0.2, type=fraction, metavar="P",
                   help="dropout after each hidden layer (default 0.2)")
    g.add_argument("--batchnorm", action="store_true", help="BatchNorm1d after each hidden "
                                                            "linear layer")
    g = parser.add_argument_group("how to train")
    g.add_argument("--optimizer", default="adam", choices=list(common.OPTIMIZERS),
                   help="default adam")
    g.add_argument("--lr", type=positive_float,
                   help="learning rate (default: " + ", ".join(
                       f"{k} {v:g}" for k, v in common.DEFAULT_LR.items()) + ")")
    g.add_argument("--momentum", default=0.9, type=nonnegative_float,
                   help="for sgd (Nesterov) and rmsprop (default 0.9)")
    g.add_argument("--weight-decay", default=0.0, type=nonnegative_float, metavar="WD")
    g.add_argument("--scheduler", default="cosine", choices=list(common.SCHEDULERS),
                   help="learning-rate schedule (default cosine)")
    g.add_argument("--epochs", default=20, type=positive_int,
                   help="total epochs (default 20; with --resume: train up to this many)")
    g.add_argument("--batch-size", default=64, type=positive_int, metavar="N")
    g.add_argument("--clip-grad", type=positive_float, metavar="MAX_NORM",
                   help="clip the gradient norm to MAX_NORM before each update")
    g.add_argument("--early-stopping", default=0, type=nonnegative_int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation loss")
    g.add_argument("--seed", default=0, type=integer, help="random seed (default 0)")
    g.add_argument("--device", default="cpu", type=device, help="cpu (default) or cuda")
    g = parser.add_argument_group("run folder and output")
    g.add_argument("--out", default="runs", type=text, metavar="DIR",
                   help="parent folder of runs (default runs)")
    g.add_argument("--name", type=text, help="run name (default <model>-<data>-<time>)")
    g.add_argument("--resume", type=text, metavar="RUN",
                   help="continue RUN from its last checkpoint up to --epochs")
    g.add_argument("--config", type=text, metavar="FILE.toml",
                   help="read options from a TOML file (same names as the options)")
    g.add_argument("--monitor", action="store_true",
                   help="record gradient flow per layer; report and plots in the run folder")
    g.add_argument("--detect-anomaly", action="store_true",
                   help="stop at the op that produces the first NaN/Inf (slow)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--no-plot", action="store_true", help="do not write curves.png")
    common_dests = {a.dest for a in parser._actions}
    spec.common = common_dests - {"help"}

    for task, mod in sorted(found.items()):
        if isinstance(mod, Exception):
            spec.broken[f"task:{task}"] = mod
            continue
        group = parser.add_argument_group(f"--task {task}")
        mod.add_arguments(_OwnedGroup(parser, group, f"task:{task}", spec, common_dests))
        if getattr(mod, "MANAGED_RUN", False):
            spec.managed.add(task)
    for model in models.available():
        try:
            adder = models.argument_adders_for(model)
        except Exception as err:  # noqa: BLE001 - reported when that model is chosen
            spec.broken[f"model:{model}"] = err
            continue
        if adder is not None:
            group = parser.add_argument_group(f"--model {model}")
            adder(_OwnedGroup(parser, group, f"model:{model}", spec, common_dests))

    for action in parser._actions:
        if action.dest == "help":
            continue
        spec.defaults[action.dest] = action.default
        spec.types[action.dest] = action.type
        spec.choices[action.dest] = action.choices
        spec.flags[action.dest] = action.option_strings[0] if action.option_strings \
            else action.dest
        action.default = None  # None now means "not given on the command line"
    parser.set_defaults(run=run, train_spec=spec)
    return parser


# ------------------------------------------------------------------ resolving options
def _is_flag(spec: _Spec, dest: str) -> bool:
    return spec.types[dest] is None and isinstance(spec.defaults[dest], bool)


def check_config(raw: dict, source, spec: _Spec) -> dict:
    """Validate and convert a TOML config's keys and values like command-line options."""
    out = {}
    for key, value in raw.items():
        dest = key.replace("-", "_")
        if dest not in spec.defaults or dest in META or dest in ("run", "train_spec"):
            raise UsageError(f"{source}: unknown option {key!r}")
        if isinstance(value, dict):
            raise UsageError(f"{source}: {key} must be a value, not a table")
        if _is_flag(spec, dest):
            if not isinstance(value, bool):
                raise UsageError(f"{source}: {key} must be true or false, got {value!r}")
        elif spec.types[dest] is not None:
            try:
                value = spec.types[dest](value)
            except argparse.ArgumentTypeError as err:
                raise UsageError(f"{source}: {key}: {err}") from None
        if spec.choices[dest] is not None and value not in spec.choices[dest]:
            raise UsageError(f"{source}: {key} must be one of "
                             f"{', '.join(map(str, spec.choices[dest]))}, got {value!r}")
        out[dest] = value
    return out


def resolve(args) -> argparse.Namespace:
    """Merge defaults, the resumed run's config, ``--config`` and the command line.

    For a task with ``MANAGED_RUN = True`` (classify) the defaults above apply and the CLI
    manages the run folder (``run_dir``, ``resuming``, config.toml). Other tasks get the
    options they declared with their defaults and every other option that was not given
    as None, and manage their output themselves.
    """
    spec: _Spec = args.train_spec
    explicit = {d: getattr(args, d) for d in spec.defaults if getattr(args, d) is not None}
    from_file = check_config(common.read_toml(explicit["config"]), explicit["config"], spec) \
        if explicit.get("config") else {}
    task = explicit.get("task") or from_file.get("task") or spec.defaults["task"]
    if f"task:{task}" in spec.broken:
        raise UsageError(f"--task {task} is not available: {spec.broken[f'task:{task}']}")
    managed = task in spec.managed
    saved, run_dir = {}, None
    if managed and explicit.get("resume"):
        run_dir = Path(explicit["resume"])
        if not run_dir.is_dir():
            raise FileNotFoundError(f"--resume: no run folder {run_dir}")
        if not (run_dir / common.CONFIG_NAME).is_file():
            raise FileNotFoundError(f"--resume: {run_dir} has no {common.CONFIG_NAME}; is it "
                                    f"a deltaflow run folder?")
        sidecar = run_dir / (common.CHECKPOINT + ".json")
        if not sidecar.is_file():
            raise FileNotFoundError(f"--resume: {run_dir} has no checkpoint ({sidecar}) -- "
                                    f"it stopped before its first epoch ended")
        saved = check_config(common.read_toml(run_dir / common.CONFIG_NAME),
                             run_dir / common.CONFIG_NAME, spec)
        if saved.get("task", task) != task:
            raise UsageError(f"--resume: {run_dir} is a --task {saved['task']} run, not {task}")
        for opt in ("name", "out"):
            if opt in explicit:
                raise UsageError(f"--resume continues {run_dir} in place; --{opt} does not "
                                 f"apply")
    defaults = dict(spec.defaults)
    if not managed:
        defaults = {d: (v if d not in spec.common or isinstance(v, bool) else None)
                    for d, v in defaults.items()}
    merged = {**defaults, **spec.task_defaults.get(task, {}), **saved, **from_file,
              **explicit, "task": task}
    model = merged["model"]
    if f"model:{model}" in spec.broken:
        raise UsageError(f"--model {model} is not available: {spec.broken[f'model:{model}']}")
    mine = {f"task:{task}", f"model:{model}"}
    for dest in {**from_file, **explicit}:
        owners = spec.owners.get(dest)
        if owners and not owners & mine:
            whose = " / ".join(sorted(o.replace(":", " ") for o in owners))
            raise UsageError(f"{spec.flags[dest]} is an option of --{whose}, not of this run "
                             f"(--task {task})")
    merged.pop("run", None)
    merged.pop("train_spec", None)
    merged["run_dir"], merged["resuming"] = run_dir, run_dir is not None
    if not managed:
        return argparse.Namespace(**merged)
    if model not in models.available():
        raise UsageError(f"--model {model!r} is not a {task} model; available: "
                         f"{', '.join(models.available())}")
    try:
        common.parse_data(merged["data"])
    except ValueError as err:
        raise UsageError(f"--data: {err}") from None
    if merged.get("lr") is None and merged.get("optimizer") in common.DEFAULT_LR:
        merged["lr"] = common.DEFAULT_LR[merged["optimizer"]]
    merged["saved_epochs"] = saved.get("epochs")
    merged["config_keys"] = [d for d in spec.defaults
                             if d not in NOT_SAVED and d not in ("run", "train_spec")
                             and (not spec.owners.get(d) or spec.owners[d] & mine)]
    return argparse.Namespace(**merged)


def _checkpoint_epoch(run_dir: Path) -> int:
    with open(run_dir / (common.CHECKPOINT + ".json"), encoding="utf-8") as f:
        return int(json.load(f).get("epoch", 0))


def run(args) -> int:
    opts = resolve(args)
    module = importlib.import_module(f"{tasks.__name__}.{opts.task}")
    if opts.task not in args.train_spec.managed:
        return _run_task(module, opts)
    if opts.resuming:
        done = _checkpoint_epoch(opts.run_dir)
        if done >= opts.epochs:
            print(f"{opts.run_dir} has already trained {done} epochs (--epochs {opts.epochs}); "
                  f"pass --epochs N with N > {done} to train further")
            return 0
        if opts.saved_epochs not in (None, opts.epochs) and opts.scheduler != "none":
            if opts.scheduler == "onecycle":
                raise UsageError(f"--resume: the onecycle schedule of {opts.run_dir} was "
                                 f"planned for {opts.saved_epochs} epochs and cannot be "
                                 f"extended to {opts.epochs}")
            print(f"note: the {opts.scheduler} schedule was planned for {opts.saved_epochs} "
                  f"epochs; it continues unchanged up to epoch {opts.epochs}", file=sys.stderr)
    else:
        opts.run_dir = common.new_run_dir(opts)
    common.save_config(opts.run_dir, {k: getattr(opts, k) for k in opts.config_keys})
    try:
        return _run_task(module, opts)
    except BaseException:
        # a new run that failed before its first checkpoint (bad data, bad option) leaves
        # nothing behind
        if not opts.resuming and not (opts.run_dir / "checkpoints").exists():
            shutil.rmtree(opts.run_dir, ignore_errors=True)
        raise


def _run_task(module, opts) -> int:
    from ..autograd.anomaly import AnomalyError
    try:
        return int(module.run(opts) or 0)
    except AnomalyError as err:
        print(f"error: {err}", file=sys.stderr)
        if opts.run_dir is not None:
            print(f"(run folder: {opts.run_dir})", file=sys.stderr)
        return 1
