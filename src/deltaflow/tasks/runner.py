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
from ..train.interrupt import TrainingInterrupted, signal_name
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


def _position_note(trainer, position) -> str:
    """``, at step 57 (batch 12 of epoch 3)`` for a checkpoint taken between two steps."""
    if not position:
        return ""
    return (f", at step {trainer.step} (batch {position['batches']} of epoch "
            f"{trainer.epoch + 1})")


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
    except TrainingInterrupted as stop:
        if main:
            print(_stopped(stop, opts, run_dir), file=sys.stderr, flush=True)
        return 128 + stop.signum
    except AnomalyError as err:
        _discard_unless_resumable(main, resuming, run_dir)
        if main:
            print(f"error: {err}" + (f"\n(run folder: {run_dir})" if run_dir.exists() else ""),
                  file=sys.stderr)
        return 1
    except io.WriteError as err:
        _discard_unless_resumable(main, resuming, run_dir)
        if main and rf.has_checkpoint(run_dir):
            raise _resumable(err, opts, run_dir) from None
        raise
    except BaseException:
        _discard_unless_resumable(main, resuming, run_dir)
        raise


def _discard_unless_resumable(main: bool, resuming: bool, run_dir: Path) -> None:
    """A new run that failed before its first checkpoint (bad data, a bad option, a NaN
    under --detect-anomaly, a full disk) leaves nothing behind."""
    if main and not resuming and not rf.has_checkpoint(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)


def resume_command(opts, run_dir: Path) -> str:
    """The command that continues ``run_dir`` (under the same number of processes)."""
    world = rank_and_size()[1]
    launcher = f"mpiexec -n {world} " if world > 1 and opts.nproc is None else ""
    nproc = f" --nproc {opts.nproc}" if opts.nproc else ""
    return f"{launcher}deltaflow train --resume {run_dir}{nproc}"


def _resumable(err, opts, run_dir: Path):
    """A failed write, with what still works: the last checkpoint and the resume command."""
    err.message += (f"; the last checkpoint (epoch {rf.checkpoint_epoch(run_dir)}) is intact: "
                    f"make room, then {resume_command(opts, run_dir)}")
    return err


def _stopped(stop: TrainingInterrupted, opts, run_dir: Path) -> str:
    """The line printed when SIGINT/SIGTERM stopped training."""
    name = signal_name(stop.signum)
    if stop.finished:
        return (f"{name}: training had finished ({stop.epoch} epochs, model.safetensors "
                f"written); stopped before the test report: {resume_command(opts, run_dir)} "
                f"writes it")
    return (f"{name}: stopped at epoch {stop.epoch + 1}, step {stop.step}; checkpoint saved "
            f"({stop.checkpoint}); resume with: {resume_command(opts, run_dir)}")


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
                      device=opts.device, detect_anomaly=opts.detect_anomaly,
                      checkpoint_every=opts.checkpoint_every, on_nonfinite=opts.on_nonfinite,
                      max_skipped=opts.max_skipped)
    position = None
    if resuming:
        position = trainer.load_checkpoint(run_dir / rf.CHECKPOINT).get("position")
        if opts.saved_lr is not None and opts.lr != opts.saved_lr:
            _scale_lr(trainer, opts.lr, opts.saved_lr)
    main = trainer.is_main
    if main:
        rf.save_config(run_dir, opts.run_config)
        io.save_json(setup.meta, run_dir / rf.META_NAME)
        note = (f" (resumed after epoch {trainer.epoch}" + _position_note(trainer, position)
                + _processes_note(trainer) + ")") if resuming else ""
        print(f"run: {run_dir}{note}", flush=True)
    start_epoch, start = trainer.epoch, time.perf_counter()
    trainer.fit(setup.train_loader, setup.val_loader, epochs=opts.epochs)
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
