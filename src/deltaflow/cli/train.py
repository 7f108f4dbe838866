"""``deltaflow train``: train a model and keep everything about the run in one folder.

With no options it trains an MLP on the scikit-learn digits and prints where the run went:
``runs/<name>/`` (the layout of :mod:`deltaflow.train.run_folder`, the same for every task).

Option values come from, in order of precedence: the command line, ``--config FILE.toml``
(same keys, ``batch_size`` or ``batch-size``), the saved config of the run being resumed
(``--resume RUN``), the model's defaults within its task, the task's own defaults, the
defaults below. An option a task does not use is refused with one line; so is, on
``--resume``, an option that would change the model, the data or the schedule of the run
(:data:`RESUMABLE` may change).

On N processes (``mpiexec -n N deltaflow train ...``, ``srun``, or ``--nproc N``, which
starts the virtual environment's ``mpiexec`` itself) every rank runs this command;
``--batch-size`` is per process, as in PyTorch (the global batch is N times it).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

from .. import distributed as dist
from .. import io, models, tasks
from ..tasks import common, runner
from ..tasks.common import (
    device,
    fraction,
    hidden_sizes,
    integer,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    text,
)
from ..train import run_folder as rf
from ..train.tensorboard import summary_writer_class
from . import UsageError

META = ("resume", "config")     # options that pick a configuration but are not part of it
# left out of a run's config.toml: per-invocation choices, not part of what the run is
NOT_SAVED = META + ("name", "no_progress", "monitor", "detect_anomaly", "nproc", "tensorboard")
#: options that may differ from the saved config when a run is resumed (and take effect:
#: --epochs trains up to the new total, --lr scales every rate of the run from there on);
#: tasks add their own (``RESUMABLE`` in the task module)
RESUMABLE = ("epochs", "lr", "clip_grad", "early_stopping", "max_minutes", "max_cpu_minutes",
             "no_progress", "no_plot", "monitor", "detect_anomaly", "nproc", "tensorboard",
             "checkpoint_every", "on_nonfinite", "max_skipped")


# ------------------------------------------------------------------ tasks and their options
def task_modules() -> dict:
    """``{name: module or the ImportError it raised}`` for every ``deltaflow.tasks`` module
    that defines ``add_arguments`` and ``setup``."""
    found = {}
    for info in pkgutil.iter_modules(tasks.__path__):
        if info.name.startswith("_") or info.name in ("common", "runner"):
            continue
        try:
            mod = importlib.import_module(f"{tasks.__name__}.{info.name}")
        except Exception as err:  # a broken task must not take the whole CLI down
            found[info.name] = err
            continue
        if hasattr(mod, "setup") and hasattr(mod, "add_arguments"):
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
        self.modules: dict = {}         # task -> its module


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
        action = known[0] if known else self._group.add_argument(*flags, **kwargs)
        if "default" in kwargs and self._owner.startswith("task:"):
            # each task keeps its own default of an option that several declare
            task = self._owner.split(":", 1)[1]
            self._spec.task_defaults.setdefault(task, {})[action.dest] = kwargs["default"]
        if not (known and action.dest in self._common):
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
                    "config.toml, model.json, metrics.jsonl, model.safetensors, results.json, "
                    "curves.png and checkpoints/. Options may also come from --config "
                    "FILE.toml.")
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
    g.add_argument("--batch-size", default=64, type=positive_int, metavar="N",
                   help="samples per batch in each process (default 64); on P processes "
                        "the global batch is P x N")
    g.add_argument("--clip-grad", type=positive_float, metavar="MAX_NORM",
                   help="clip the gradient norm to MAX_NORM before each update")
    g.add_argument("--early-stopping", default=0, type=nonnegative_int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better validation loss")
    g.add_argument("--val-split", default=0.1, type=fraction, metavar="F",
                   help="hold out this fraction of the training data to validate each epoch "
                        "(default 0.1; 0: no validation). The test split is only used for "
                        "the final report")
    g.add_argument("--max-minutes", type=positive_float,
                   help="stop training after this much wall time")
    g.add_argument("--max-cpu-minutes", type=positive_float,
                   help="stop training after this much CPU time of this process (a fair "
                        "budget on a shared machine)")
    g.add_argument("--seed", default=0, type=integer, help="random seed (default 0)")
    g.add_argument("--device", default="cpu", type=device, help="cpu (default) or cuda")
    g.add_argument("--nproc", type=positive_int, metavar="P",
                   help="train data-parallel on P processes: starts this environment's "
                        "mpiexec -n P (under mpiexec or srun, leave it out)")
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
    g.add_argument("--tensorboard", type=text, metavar="DIR",
                   help="write TensorBoard event files to DIR/<run name> (tensorboard "
                        "--logdir DIR shows them; needs tensorboardX)")
    g.add_argument("--detect-anomaly", action="store_true",
                   help="stop at the op that produces the first NaN/Inf (slow)")
    g.add_argument("--checkpoint-every", type=positive_int, metavar="N",
                   help="also save checkpoints/last every N steps, mid-epoch (default: at "
                        "the end of each epoch only); a resume from it is bit-identical")
    g.add_argument("--on-nonfinite", default="stop", choices=["stop", "skip"],
                   help="a NaN/Inf loss or gradient, caught before the update: stop with the "
                        "anomaly report of the op that produced it (default), or skip that "
                        "update and go on")
    g.add_argument("--max-skipped", default=10, type=nonnegative_int, metavar="N",
                   help="with --on-nonfinite skip, stop at the NaN/Inf after N skipped "
                        "updates (default 10)")
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
        spec.modules[task] = mod
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


def _open_resumed(run_dir: Path, spec: _Spec, explicit: dict) -> dict:
    """The saved options of the run to resume, after checking it can be resumed."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"--resume: no run folder {run_dir}")
    if not (run_dir / rf.CONFIG_NAME).is_file():
        if (run_dir / "config.json").is_file():
            raise UsageError(f"--resume: {run_dir} was written by an earlier deltaflow "
                             f"(config.json, no {rf.CONFIG_NAME}) and cannot be resumed; "
                             f"train it again")
        raise FileNotFoundError(f"--resume: {run_dir} has no {rf.CONFIG_NAME}; is it a "
                                f"deltaflow run folder?")
    if not rf.has_checkpoint(run_dir):
        raise FileNotFoundError(f"--resume: {run_dir} has no checkpoint "
                                f"({run_dir / rf.CHECKPOINT}.json) -- it stopped before its "
                                f"first checkpoint")
    saved = check_config(rf.read_toml(run_dir / rf.CONFIG_NAME), run_dir / rf.CONFIG_NAME,
                         spec)
    for opt in ("name", "out"):
        if opt in explicit:
            raise UsageError(f"--resume continues {run_dir} in place; --{opt} does not apply")
    return saved


def _absolute_data(merged: dict) -> None:
    """Record data files and folders as absolute paths, so that the run's commands work
    from any directory."""
    kind, path = common.parse_data(merged["data"])
    if path is not None:
        merged["data"] = f"{kind}:{Path(path).resolve()}"
    if merged.get("data_dir"):
        merged["data_dir"] = str(Path(merged["data_dir"]).resolve())


def resolve(args) -> argparse.Namespace:
    """Merge defaults, the resumed run's config, ``--config`` and the command line; refuse
    options that do not apply to the task, and options a resume cannot change."""
    spec: _Spec = args.train_spec
    explicit = {d: getattr(args, d) for d in spec.defaults if getattr(args, d) is not None}
    from_file = check_config(rf.read_toml(explicit["config"]), explicit["config"], spec) \
        if explicit.get("config") else {}
    run_dir = Path(explicit["resume"]) if explicit.get("resume") else None
    saved = _open_resumed(run_dir, spec, explicit) if run_dir is not None else {}
    task = explicit.get("task") or from_file.get("task") or saved.get("task") \
        or spec.defaults["task"]
    if saved.get("task", task) != task:
        raise UsageError(f"--resume: {run_dir} is a --task {saved['task']} run, not {task}")
    if f"task:{task}" in spec.broken:
        raise UsageError(f"--task {task} is not available: {spec.broken[f'task:{task}']}")
    module = spec.modules[task]
    defaults = {**spec.defaults, **spec.task_defaults.get(task, {})}
    given = {**from_file, **explicit}
    model = given.get("model") or saved.get("model") or defaults["model"]
    model_defaults = getattr(module, "MODEL_DEFAULTS", {}).get(model, {})
    for dest, by_value in getattr(module, "VARIANT_DEFAULTS", {}).items():   # gan --loss
        value = given.get(dest, saved.get(dest, defaults.get(dest)))
        model_defaults = {**model_defaults, **by_value.get(value, {})}
    merged = {**defaults, **model_defaults, **saved, **given, "task": task}
    if f"model:{model}" in spec.broken:
        raise UsageError(f"--model {model} is not available: {spec.broken[f'model:{model}']}")
    mine = {f"task:{task}", f"model:{model}"}
    for dest in given:
        owners = spec.owners.get(dest)
        if owners and not owners & mine:
            whose = " / ".join(sorted(o.replace(":", " ") for o in owners))
            raise UsageError(f"{spec.flags[dest]} is an option of --{whose}, not of this run "
                             f"(--task {task})")
        if dest in module.NOT_APPLICABLE:
            raise UsageError(f"{spec.flags[dest]} does not apply to --task {task}")
    if task == "classify" and model not in models.available():
        raise UsageError(f"--model {model!r} is not a {task} model; available: "
                         f"{', '.join(models.available())}")
    if merged.get("val_split") == 0 and (merged.get("early_stopping")
                                         or merged.get("scheduler") == "plateau"):
        raise UsageError("--early-stopping and --scheduler plateau decide on the validation "
                         "loss; they need --val-split > 0 (never the test split)")
    try:
        _absolute_data(merged)
    except ValueError as err:
        raise UsageError(f"--data: {err}") from None
    if merged.get("lr") is None and merged.get("optimizer") in common.DEFAULT_LR:
        merged["lr"] = common.DEFAULT_LR[merged["optimizer"]]
    config_keys = [d for d in spec.defaults
                   if d not in NOT_SAVED and d not in ("run", "train_spec")
                   and d not in module.NOT_APPLICABLE
                   and (not spec.owners.get(d) or spec.owners[d] & mine)]
    if run_dir is not None:
        may_change = [*RESUMABLE, *module.RESUMABLE]
        world = explicit.get("nproc") or (dist.get_world_size() if dist.is_initialized() else 1)
        if rf.checkpoint_world_size(run_dir) != world:
            may_change.append("batch_size")   # e.g. to keep the global batch on another N
        for dest in given:
            if dest not in (*META, *may_change) and dest in config_keys \
                    and merged[dest] != saved.get(dest, merged[dest]):
                flags = ", ".join(spec.flags[d] for d in may_change if d in spec.flags)
                raise UsageError(f"--resume: {spec.flags[dest]} would change what {run_dir} "
                                 f"is (saved {saved[dest]!r}, given {merged[dest]!r}); only "
                                 f"{flags} may change on resume -- start a new run instead")
    if merged.get("tensorboard"):
        try:
            summary_writer_class()
        except ImportError as err:
            raise UsageError(f"--tensorboard: {err}") from None
    merged.pop("run", None)
    merged.pop("train_spec", None)
    merged["data_name"] = common.data_name(merged["data"])
    merged["saved_epochs"], merged["saved_lr"] = saved.get("epochs"), saved.get("lr")
    merged["saved_batch_size"] = saved.get("batch_size")
    merged["run_config"] = {k: merged[k] for k in config_keys}
    return argparse.Namespace(**merged)


def _without_nproc(argv: list) -> list:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: list) -> int:
    """``mpiexec -n nproc python -m deltaflow <argv without --nproc>`` with this virtual
    environment's ``mpiexec`` (the ``[distributed]`` extra); its exit status."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.is_file() or importlib.util.find_spec("mpi4py") is None:
        missing = "mpi4py" if mpiexec.is_file() else f"mpiexec ({mpiexec})"
        raise UsageError(f"--nproc {nproc} needs MPI, and {missing} is not installed in this "
                         f"environment: pip install -e \".[distributed]\" (or run under your "
                         f"cluster's mpiexec / srun without --nproc)")
    command = [str(mpiexec), "-n", str(nproc), sys.executable, "-m", "deltaflow",
               *_without_nproc(argv)]
    return subprocess.call(command)


def run(args) -> int:
    joined = not dist.is_initialized()   # mpiexec/srun: join the launcher's group
    if joined:
        dist.init_process_group()
    try:
        opts = resolve(args)
        if opts.nproc is None:
            return _train(args, opts)
        if dist.get_world_size() > 1:
            raise UsageError("--nproc starts mpiexec itself; under mpiexec or srun leave it "
                             "out")
    finally:
        if joined:
            dist.destroy_process_group()
    return launch(opts.nproc, args.argv)


def _finished(run_dir: Path, epochs: int) -> bool:
    """Whether the run wrote its final weights and report after ``epochs`` epochs (a run
    stopped during its final save or its test report is finished by a resume)."""
    results = run_dir / rf.RESULTS_NAME
    if not (results.is_file() and (run_dir / rf.WEIGHTS_NAME).is_file()):
        return False
    try:
        return io.load_json(results).get("epochs") == epochs
    except ValueError:
        return False


def _train(args, opts) -> int:
    module = args.train_spec.modules[opts.task]
    world = dist.get_world_size()
    if opts.resume is not None:
        run_dir = Path(opts.resume)
        done = rf.checkpoint_epoch(run_dir)
        if done >= opts.epochs and _finished(run_dir, done):
            if dist.get_rank() == 0:
                print(f"{run_dir} has already trained {done} epochs (--epochs {opts.epochs}); "
                      f"pass --epochs N with N > {done} to train further")
            return 0
        saved_world, saved_batch = rf.checkpoint_world_size(run_dir), opts.saved_batch_size
        if opts.scheduler == "onecycle" and (saved_world, saved_batch) != (world,
                                                                           opts.batch_size):
            raise UsageError(f"--resume: the onecycle schedule of {run_dir} was planned for "
                             f"the steps of {saved_world} processes with batches of "
                             f"{saved_batch}; it cannot continue on {world} with batches of "
                             f"{opts.batch_size}")
        if opts.saved_epochs not in (None, opts.epochs) and opts.scheduler != "none":
            if opts.scheduler == "onecycle":
                raise UsageError(f"--resume: the onecycle schedule of {run_dir} was "
                                 f"planned for {opts.saved_epochs} epochs and cannot be "
                                 f"extended to {opts.epochs}")
            if dist.get_rank() == 0:
                print(f"note: the {opts.scheduler} schedule was planned for "
                      f"{opts.saved_epochs} epochs; it continues unchanged up to epoch "
                      f"{opts.epochs}", file=sys.stderr)
        if opts.saved_lr not in (None, opts.lr) and opts.scheduler == "onecycle":
            raise UsageError(f"--resume: the onecycle schedule of {run_dir} cannot change its "
                             f"learning rate")
    return runner.run(module, opts)
