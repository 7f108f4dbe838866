"""``run(task_module, opts)``: what ``deltaflow train`` does for every task, in one place.

A task module (classify, charlm, gan) builds a :class:`Setup` from the options — its
:class:`~deltaflow.train.Task`, optimizer(s), scheduler, loaders, the ``model.json`` it
needs later — and the rest is the same for all: the run folder, the one
:class:`~deltaflow.train.Trainer` loop, checkpoints and bit-identical ``--resume``, the
common callbacks (``--monitor``, ``--early-stopping``, time budgets), ``results.json`` and
the printed summary.

On ``--resume`` the checkpoint is loaded before anything in the folder is rewritten; a new
``--lr`` scales the learning rate and the schedule's base rates from there on.

Under ``mpiexec -n N`` every rank runs this; rank 0 makes the run folder (and tells the
others its name), writes every file and prints; the others train and evaluate their shards.
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import io
from .. import random as dl_random
from ..autograd.anomaly import AnomalyError
from ..train import EarlyStopping, Trainer
from ..train import run_folder as rf
from ..train.budget import TimeBudget
from ..train.distributed import broadcast_text, rank_and_size
from .common import RunExtras, print_summary


@dataclass
class Setup:
    """What a task module hands the runner.

    ``finish(trainer) -> (results, summary lines)`` writes nothing itself: the runner saves
    ``results`` as ``results.json`` and prints the lines."""

    task: object
    optimizer: object
    train_loader: object
    val_loader: object
    meta: dict
    finish: object
    scheduler: object = None
    scheduler_interval: str = "epoch"
    summary: dict = field(default_factory=dict)


def _scale_lr(trainer, new_lr: float, old_lr: float) -> None:
    """A resumed run's new ``--lr``: every rate (current, initial, the schedule's bases)
    times ``new_lr / old_lr``."""
    ratio = new_lr / old_lr
    for opt in trainer.optimizers.values():
        for group in opt.param_groups:
            group["lr"] *= ratio
            if "initial_lr" in group:
                group["initial_lr"] *= ratio
    if trainer.scheduler is not None and hasattr(trainer.scheduler, "base_lrs"):
        trainer.scheduler.base_lrs = [base * ratio for base in trainer.scheduler.base_lrs]


def _processes_note(trainer) -> str:
    """`` of a run on 2 processes, now on 3`` when a resume changes the world size."""
    saved, now = trainer.saved_world_size, trainer.world_size
    return "" if saved in (None, now) else f" of a run on {saved} processes, now on {now}"


def run(module, opts, callbacks=()) -> int:
    """Train ``module``'s task with the resolved options ``opts`` (see cli/train.py);
    ``callbacks`` join the run's own (``deltaflow tune`` reports each epoch to its trial)."""
    resuming = opts.resume is not None
    main = rank_and_size()[0] == 0
    if resuming:
        run_dir = Path(opts.resume)
    else:   # rank 0 names and makes the folder (names hold the time, and -2, -3 ...)
        run_dir = Path(broadcast_text(str(rf.new_run_dir(
            opts.out, opts.name or rf.default_name(module.default_name(opts),
                                                   opts.data_name))) if main else None))
    opts.run_dir = run_dir
    try:
        return _run(module, opts, run_dir, resuming, callbacks)
    except BaseException:
        # a new run that failed before its first checkpoint (bad data, bad option) leaves
        # nothing behind
        if main and not resuming and not (run_dir / "checkpoints").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _run(module, opts, run_dir: Path, resuming: bool, extra_callbacks) -> int:
    dl_random.manual_seed(opts.seed)
    setup = module.setup(opts)
    extras = RunExtras(opts, setup.task.model, run_dir)
    callbacks = [*extras.callbacks, *extra_callbacks]
    if opts.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=opts.early_stopping))
    if opts.max_minutes is not None or opts.max_cpu_minutes is not None:
        callbacks.append(TimeBudget(opts.max_minutes, opts.max_cpu_minutes))
    trainer = Trainer(task=setup.task, optimizer=setup.optimizer, scheduler=setup.scheduler,
                      scheduler_interval=setup.scheduler_interval,
                      clip_grad_norm=opts.clip_grad, callbacks=callbacks, run_dir=run_dir,
                      progress=not opts.no_progress, plot=not opts.no_plot,
                      device=opts.device, detect_anomaly=opts.detect_anomaly)
    if resuming:
        trainer.load_checkpoint(run_dir / rf.CHECKPOINT)
        if opts.saved_lr is not None and opts.lr != opts.saved_lr:
            _scale_lr(trainer, opts.lr, opts.saved_lr)
    main = trainer.is_main
    if main:
        rf.save_config(run_dir, opts.run_config)
        io.save_json(setup.meta, run_dir / rf.META_NAME)
        print(f"run: {run_dir}" + (f" (resumed after epoch {trainer.epoch}"
                                   + _processes_note(trainer) + ")" if resuming else ""),
              flush=True)
    start_epoch, start = trainer.epoch, time.perf_counter()
    try:
        trainer.fit(setup.train_loader, setup.val_loader, epochs=opts.epochs)
    except AnomalyError as err:
        print(f"error: {err}\n(run folder: {run_dir})", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    results, lines = setup.finish(trainer)   # evaluates on every rank's shard
    if not main:
        return 0
    results = {**results, "epochs": trainer.epoch, "steps": trainer.step,
               "train_seconds": elapsed}
    if trainer.world_size > 1:
        results.update(processes=trainer.world_size,
                       global_batch_size=trainer.world_size * opts.batch_size)
    io.save_json(results, run_dir / rf.RESULTS_NAME)
    written = extras.finish(plot=not opts.no_plot)
    ran = trainer.epoch - start_epoch
    n_params = sum(p.numel() for p in setup.task.model.parameters())
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir()
                   if not p.name.startswith("."))
    summary = {
        "run": str(run_dir),
        **setup.summary,
        "parameters": f"{n_params:,}",
        **({"processes": f"{trainer.world_size}, batch {opts.batch_size} per process = "
                         f"{trainer.world_size * opts.batch_size} global"}
           if trainer.world_size > 1 else {}),
        "epochs": f"{trainer.epoch}" + (f" (resumed after {start_epoch})" if start_epoch
                                        else "")
                  + (", stopped early" if trainer.should_stop else ""),
        "train time": f"{elapsed:.1f} s" + (f" ({elapsed / ran:.2f} s/epoch)" if ran else ""),
        **lines,
        "files": ", ".join(files),
    }
    if written:
        summary["diagnostics"] = ", ".join(p.name for p in written)
    print_summary(summary)
    return 0
