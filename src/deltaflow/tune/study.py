"""Studies: many ``deltaflow train`` runs, chosen by Optuna, kept in one folder.

::

    runs/<study>/
        study.json        what the study is: search space, fixed train options, metric, storage
        study.db          the Optuna storage (SQLite; --storage puts it elsewhere)
        trial-0000/ ...   one deltaflow train run folder per trial
        best.toml         the best trial's options: deltaflow train --config best.toml
        history.png, importances.png

Each trial resolves its options exactly as ``deltaflow train`` does (``cli.train.resolve``:
the fixed options, then the sampled ones on top, as if given on the command line) and runs
through ``tasks.runner.run`` in this process, with :class:`~deltaflow.tune.pruning.TrialReport`
reporting each epoch's validation metric to the trial (median pruning). The objective is
the metric of the trial's last epoch, measured on the validation split of the training data
(``--val-split``); the test split is never read by the study.

Resume: a study whose process died is reopened by naming it again (``--study NAME``); the
trial that was RUNNING then is marked FAIL (it does not count), every finished trial is
kept, and trials continue until ``n_trials`` trials have finished (complete or pruned).
"""
from __future__ import annotations

import contextlib
import copy
import io as _io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import io
from ..train import NonFiniteLossError
from ..train import run_folder as rf
from .pruning import TrialReport
from .search_space import SearchSpace

STUDY_FILE = "study.json"
STORAGE_FILE = "study.db"
FORMAT = "deltaflow-study/1"
#: train options that are choices of one invocation, not part of what a study is
PER_INVOCATION = ("no_progress", "no_plot", "monitor", "detect_anomaly")
#: train options a study does not take (it names and places its trials itself)
REFUSED = {"resume": "trials are new runs", "name": "trials are named trial-NNNN; name the "
           "study with --study", "nproc": "trials run in this process"}
NOT_TUNABLE = ("config", "out", "task", *REFUSED, *PER_INVOCATION)


class StudyError(ValueError):
    """Settings a study cannot run with (the message names them)."""


def direction_of(metric: str, direction: str | None) -> str:
    """``minimize`` for losses and perplexities, ``maximize`` for accuracies, unless given."""
    if direction is not None:
        if direction not in ("minimize", "maximize"):
            raise StudyError(f"--direction must be minimize or maximize, got {direction!r}")
        return direction
    name = metric.removeprefix("val_")
    if "loss" in name or name in ("ppl", "error"):
        return "minimize"
    if "accuracy" in name or name.startswith("top"):
        return "maximize"
    raise StudyError(f"--metric {metric}: cannot tell whether to minimize or maximize it; "
                     f"add --direction minimize or --direction maximize")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise StudyError("tuning needs Optuna: pip install \"deltaflow[tune]\"") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)   # a failed trial: our one line
    return optuna


def open_storage(url: str):
    """Optuna's RDB storage at ``url`` (``sqlite:///path.db``, ``postgresql://...``)."""
    optuna = _optuna()
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many kinds; say which
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StudyError(f"--storage {url}: cannot be opened ({reason})") from None


def _fail_interrupted(storage, study) -> list[int]:
    """Mark the trials left RUNNING by a process that died as FAIL; their numbers."""
    optuna = _optuna()
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in running:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "stopped", "its process died; marked failed "
                                                         "when the study resumed")
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    return [t.number for t in running]


def finished(study) -> list:
    """The trials that count toward ``n_trials``: complete and pruned."""
    state = _optuna().trial.TrialState
    return study.get_trials(deepcopy=False, states=(state.COMPLETE, state.PRUNED))


def run_study(objective, *, storage, study_name: str, direction: str, seed: int,
              startup_trials: int = 5, n_trials: int | None = None,
              timeout: float | None = None, callbacks=()):
    """Create or reopen the study, fail what a dead process left RUNNING, and optimize
    until ``n_trials`` trials have finished in total (complete or pruned) or no trial
    starts after ``timeout`` seconds. TPE is seeded with ``seed`` plus the trials already
    in the study (a resumed study does not redraw the first trials); the first
    ``startup_trials`` trials are drawn at random and never pruned."""
    optuna = _optuna()
    if n_trials is None and timeout is None:
        raise StudyError("give the number of trials (--n-trials) or a --timeout")
    study = optuna.create_study(storage=storage, study_name=study_name, direction=direction,
                                load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise StudyError(f"study {study_name} was made to {study.direction.name.lower()} its "
                         f"metric, not to {direction}")
    if storage is not None:
        _fail_interrupted(storage, study)
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials),
                                               n_startup_trials=startup_trials)
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=startup_trials)
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    if n_trials is not None and len(finished(study)) >= n_trials:
        return study
    stop = [optuna.study.MaxTrialsCallback(n_trials, states=states)] if n_trials else []
    study.optimize(objective, timeout=timeout, callbacks=[*stop, *callbacks], catch=(),
                   gc_after_trial=False)
    return study


# ------------------------------------------------------------------ trials as train runs
class TrainTrials:
    """The objective of a study of ``deltaflow train`` runs: each trial is a run folder
    ``trial-NNNN`` in the study folder, trained with the fixed options and the trial's
    sampled ones (``train_args``: the parsed ``deltaflow train`` options)."""

    def __init__(self, train_args, space: SearchSpace, study_dir: Path, metric: str):
        self.train_args, self.space = train_args, space
        self.study_dir, self.metric = Path(study_dir), metric

    def options(self, params: dict, name: str):
        """The resolved options of a run with ``params`` set as on the command line."""
        from ..cli.train import check_config, resolve
        args = copy.copy(self.train_args)
        given = {key: v if isinstance(v, bool) else str(v) for key, v in params.items()}
        for key, value in check_config(given, "search space", args.train_spec).items():
            setattr(args, key, value)
        args.name, args.out = name, str(self.study_dir)
        return resolve(args)

    def check(self) -> object:
        """Resolve the runs at both ends of every range (and every choice's first and last
        value), so a bad parameter fails before anything is written; the first one's
        options."""
        from ..cli.train import check_config
        spec = self.train_args.train_spec
        for key, dist in self.space.items():
            if key not in spec.defaults or key in ("run", "train_spec"):
                raise StudyError(f"search space: unknown parameter {key.replace('_', '-')!r}: "
                                 f"deltaflow train has no --{key.replace('_', '-')}")
            if key in NOT_TUNABLE:
                raise StudyError(f"search space: {spec.flags[key]} cannot be tuned")
            for value in dist.ends():
                check_config({key: value if isinstance(value, bool) else str(value)},
                             "search space", spec)
        ends = [{k: d.ends()[i] for k, d in self.space.items()} for i in (0, -1)]
        first = self.options(ends[0], "trial")
        self.options(ends[1], "trial")
        if self.metric.startswith("val_") and (first.task == "gan" or not first.val_split):
            raise StudyError(f"--metric {self.metric} needs a validation split: --task "
                             f"{first.task} with --val-split {first.val_split} has none "
                             f"(the test split is never used for tuning)")
        return first

    def __call__(self, trial):
        import optuna

        from ..tasks import runner
        opts = self.options(self.space.suggest(trial), f"trial-{trial.number:04d}")
        module = self.train_args.train_spec.modules[opts.task]
        report = TrialReport(trial, self.metric)
        try:
            with contextlib.redirect_stdout(_io.StringIO()):   # the trial's own summary
                status = runner.run(module, opts, callbacks=[report])
        except NonFiniteLossError as err:
            status, reason = 1, str(err)
        else:
            reason = f"pruned after epoch {report.epochs}" if report.pruned else \
                "anomaly detected (report above)" if status else None
        finally:
            trial.set_user_attr("run", Path(opts.run_dir).name)
            trial.set_user_attr("epochs", report.epochs)
        if reason is not None:
            trial.set_user_attr("stopped", reason)
            raise optuna.TrialPruned(reason)
        return report.value


@dataclass
class StudyFolder:
    """A study folder and what it holds about the study (``study.json``)."""

    path: Path
    settings: dict
    new: bool

    @classmethod
    def locate(cls, out, name: str) -> StudyFolder:
        path = Path(out) / name
        if not path.exists():
            return cls(path, {}, True)
        file = path / STUDY_FILE
        if not file.is_file():
            raise StudyError(f"--study {name}: {path} exists and is not a study folder (no "
                             f"{STUDY_FILE}); choose another name")
        settings = io.load_json(file)
        if settings.get("format") != FORMAT:
            raise StudyError(f"{file}: not a {FORMAT} file")
        return cls(path, settings, False)

    def merge(self, given: dict) -> dict:
        """The study's settings: the saved ones, with what this invocation gives, which
        must agree with them on a resume."""
        if self.new:
            return given
        pairs = [(f"--{k.replace('_', '-')}", v, self.settings["train"].get(k))
                 for k, v in given["train"].items()]
        pairs += [("search space" if k == "space" else f"--{k.replace('_', '-')}", v,
                   self.settings.get(k)) for k, v in given.items() if k != "train"]
        for what, value, saved in pairs:
            if value not in (None, {}) and json.loads(json.dumps(value)) != saved:
                raise StudyError(f"--study {self.path.name} exists with another {what} "
                                 f"(saved {_shown(saved)}, given {_shown(value)}); resume it "
                                 f"with the same settings (or none) or start a new study")
        return dict(self.settings)

    def storage_url(self) -> str:
        return self.settings.get("storage") or \
            f"sqlite:///{(self.path / STORAGE_FILE).resolve()}"

    @contextlib.contextmanager
    def locked(self):
        """Hold an exclusive lock on the study for this process (POSIX)."""
        try:
            import fcntl
        except ImportError:   # no advisory locks (Windows): one process at a time, please
            yield
            return
        with open(self.path / STUDY_FILE, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StudyError(f"study {self.path} is in use by another process") from None
            yield


def _shown(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


def train_options_given(args) -> dict:
    """The ``deltaflow train`` options given to the study (what it is made of)."""
    spec = args.train_spec
    return {d: getattr(args, d) for d in spec.defaults
            if d not in ("run", "train_spec", "out", *PER_INVOCATION)
            and getattr(args, d, None) is not None}


def tune_train(train_args, space: SearchSpace, *, out="runs", study: str | None = None,
               storage: str | None = None, n_trials: int | None = None,
               timeout: float | None = None, metric: str | None = None,
               direction: str | None = None, startup_trials: int | None = None,
               plot: bool = True, verbose: bool = False):
    """Run (or resume) a study of ``deltaflow train`` runs; returns ``(study, folder)``.
    ``train_args``: parsed ``deltaflow train`` options (None: not given)."""
    for key, why in REFUSED.items():
        if getattr(train_args, key, None) is not None:
            raise StudyError(f"{train_args.train_spec.flags[key]} does not apply to a study: "
                             f"{why}")
    folder = StudyFolder.locate(out, study) if study else None
    given = {"space": space.specs(), "train": train_options_given(train_args),
             "metric": metric, "direction": direction, "startup_trials": startup_trials,
             "storage": storage}
    settings = folder.merge(given) if folder else given
    space = SearchSpace.parse(settings["space"], "search space")
    if not space:
        raise StudyError("the search space is empty: give --param NAME=SPEC or --space "
                         "FILE.toml")
    for key, value in settings["train"].items():
        if getattr(train_args, key, None) is None:
            setattr(train_args, key, value)
    settings["metric"] = settings["metric"] or "val_loss"
    settings["direction"] = direction_of(settings["metric"], settings["direction"])
    if settings["startup_trials"] is None:
        settings["startup_trials"] = 5
    trials = TrainTrials(train_args, space, Path(out) / (study or "_"), settings["metric"])
    first = trials.check()
    storage_obj = open_storage(settings["storage"]) if settings["storage"] else None
    if folder is None:   # named like a run folder: tune-<model>-<data>-<date>-<time>
        module = train_args.train_spec.modules[first.task]
        name = "tune-" + rf.default_name(module.default_name(first), first.data_name)
        folder = StudyFolder(rf.new_run_dir(out, name), {}, True)
    elif folder.new:
        folder.path.mkdir(parents=True)
    trials.study_dir = folder.path
    if folder.new:
        folder.settings = {"format": FORMAT, "study": folder.path.name, **settings}
        io.save_json(folder.settings, folder.path / STUDY_FILE)
    try:
        with folder.locked():
            storage_obj = storage_obj or open_storage(folder.storage_url())
            say = _Announce(settings["metric"]) if verbose else None
            if verbose:
                judged = f"on the validation split of the training data, --val-split " \
                    f"{first.val_split:g}" if settings["metric"].startswith("val_") else \
                    "as each epoch's record gives it"
                print(f"study: {folder.path} ({'new' if folder.new else 'resumed'}; "
                      f"{settings['direction']} {settings['metric']} {judged}; the test "
                      f"split is not used)", flush=True)
            result = run_study(trials, storage=storage_obj, study_name=folder.path.name,
                               direction=settings["direction"], seed=first.seed,
                               startup_trials=settings["startup_trials"], n_trials=n_trials,
                               timeout=timeout, callbacks=[say] if say else [])
    except BaseException:
        if folder.new and not _any_finished(storage_obj, folder.path.name):
            shutil.rmtree(folder.path, ignore_errors=True)
            if settings["storage"] and storage_obj is not None:
                with contextlib.suppress(Exception):
                    _optuna().delete_study(study_name=folder.path.name, storage=storage_obj)
        raise
    from . import report
    report.finish(result, folder.path, settings["metric"], plot=plot and not train_args.no_plot,
                  verbose=verbose)
    return result, folder.path


def _any_finished(storage, name: str) -> bool:
    if storage is None:
        return False
    try:
        return bool(finished(_optuna().load_study(study_name=name, storage=storage)))
    except Exception:  # noqa: BLE001 - no study there: nothing finished
        return False


class _Announce:
    """One line per finished trial (an Optuna study callback)."""

    def __init__(self, metric: str):
        self.metric = metric

    def __call__(self, study, trial):
        from .report import format_params
        value = "" if trial.value is None else f"  {self.metric} {trial.value:.4f}"
        stopped = trial.user_attrs.get("stopped")
        epochs = trial.user_attrs.get("epochs", 0)
        print(f"trial {trial.number:>3}  {trial.state.name.lower():<8}{value}  "
              f"({epochs} epoch{'' if epochs == 1 else 's'}"
              + (f"; {stopped}" if stopped and trial.state.name == "PRUNED" else "")
              + f")  {format_params(trial.params)}", flush=True)
