"""Hyper-parameter search on Optuna: ``deltaflow tune`` and :func:`search`.

``import deltaflow`` does not import Optuna; the functions here import it when called
(``pip install "deltaflow[tune]"``). See docs/tuning.md.
"""
from __future__ import annotations

from pathlib import Path

from .pruning import TrialReport
from .search_space import Choice, FloatRange, IntRange, SearchSpace, SpaceError
from .study import StudyError


def _space(space) -> SearchSpace:
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, str | Path):
        return SearchSpace.from_sources(space)
    return SearchSpace.parse(dict(space))


def search(space, target, *, n_trials: int | None = None, timeout: float | None = None,
           metric: str | None = None, direction: str | None = None,
           storage: str | None = None, study_name: str | None = None, out="runs",
           seed: int | None = None, startup_trials: int = 5, plot: bool = True,
           verbose: bool = False):
    """Search ``space`` and return the ``optuna.Study``.

    Args:
        space: ``{option: spec}`` (``{"lr": "loguniform:1e-4:1e-1", "hidden": ["64",
            "128,128"]}``), a TOML file with such entries, or a :class:`SearchSpace`.
        target: the fixed ``deltaflow train`` options (a dict with the keys of a
            ``config.toml``, or the path of such a TOML file): every trial is then a run
            folder ``trial-NNNN`` in the study folder ``out/study_name``, with SQLite
            storage there unless ``storage`` is given, and ``best.toml`` and the plots are
            written at the end. Or a callable ``objective(params, trial) -> float`` (report
            epochs with :class:`TrialReport` or ``trial.report``): then no folder is made
            and the study lives in memory unless ``storage`` is given.
        n_trials: finished trials (complete or pruned) the study should hold in the end;
            a resumed study runs only the missing ones.
        timeout: start no trial after this many seconds.
        metric, direction: the epoch record's key to optimize (default ``val_loss``, on the
            validation split) and ``"minimize"``/``"maximize"`` (inferred for losses and
            accuracies); a resumed study keeps its own unless they are given.
        storage: an Optuna RDB URL (``sqlite:///study.db``).
        seed: TPE's seed (and, for a train config, the runs' ``seed``; default the
            config's, else 0).
        startup_trials: the first trials are drawn at random and never pruned.
    """
    from .study import direction_of, open_storage, run_study, tune_train
    space = _space(space)
    if callable(target):
        def objective(trial):
            return target(space.suggest(trial), trial)
        storage_obj = open_storage(storage) if storage else None
        return run_study(objective, storage=storage_obj, study_name=study_name,
                         direction=direction_of(metric or "val_loss", direction),
                         seed=0 if seed is None else seed, startup_trials=startup_trials,
                         n_trials=n_trials, timeout=timeout)
    from ..cli import build_parser
    from ..cli.train import check_config
    args = build_parser().parse_args(["train"])
    if isinstance(target, str | Path):
        args.config = str(target)
    else:
        for key, value in check_config(dict(target), "config", args.train_spec).items():
            setattr(args, key, value)
    if seed is not None:
        args.seed = seed
    if args.no_progress is None:
        args.no_progress = not verbose
    study, _ = tune_train(args, space, out=out, study=study_name, storage=storage,
                          n_trials=n_trials, timeout=timeout, metric=metric,
                          direction=direction, startup_trials=startup_trials, plot=plot,
                          verbose=verbose)
    return study


__all__ = ["Choice", "FloatRange", "IntRange", "SearchSpace", "SpaceError", "StudyError",
           "TrialReport", "search"]
