"""The :class:`Trainer`: the training loop every PyTorch user writes, written once, for
every task.

For each batch the task's ``optimization_step`` runs (by default: forward → loss →
``zero_grad`` → ``backward`` → (clip) → ``optimizer.step`` → (per-batch scheduler step), see
:mod:`deltaflow.train.task`); after each epoch: validation, the per-epoch scheduler step,
then the callbacks (log, early stopping, checkpoints). Everything that decides the next
epoch -- weights, buffers, optimizer and scheduler state, epoch and step counters, the
global RNG and the training loader's shuffling generator, callback and task state -- is
saved by :meth:`Trainer.save_checkpoint`, so a run resumed from the checkpoint of epoch *k*
ends with the same weights, bit for bit, as a run that was never interrupted. A checkpoint
may also be taken between two steps (``checkpoint_every`` steps, or on SIGINT/SIGTERM, see
:mod:`deltaflow.train.interrupt`): it adds the position in the epoch (batches done, the
running sums of the epoch's means) and keeps the loader's state from the epoch's start, so
the resumed ``fit`` draws the epoch's order again, passes over the batches already done and
goes on from the saved random state, with the same bits as an uninterrupted run.

A NaN/Inf loss or gradient is caught before the update it would spoil
(``on_nonfinite``): ``"stop"`` re-runs the step under anomaly mode without updating and
raises the report of the op that produced it; ``"skip"`` drops that update, counts it and
goes on, up to ``max_skipped`` skipped updates in the run, then stops the same way.

Under ``mpiexec -n N`` (``dl.distributed`` initialized with a world size above 1) the same
loop trains data-parallel: the task's modules are wrapped in
``DistributedDataParallel``, each rank draws from its own random stream, the epoch's
losses and metrics are summed across ranks as (sum, count) pairs, and only rank 0 shows
the progress bar and writes files (see :mod:`deltaflow.train.distributed`).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import signal
import time
from pathlib import Path

import numpy as np

from .. import backend, io
from .. import random as dl_random
from ..autograd import detect_anomaly, no_grad
from ..autograd.anomaly import AnomalyError
from ..tensor import Tensor
from . import checkpoint as ckpt
from . import distributed as group
from .callbacks import Callback, Checkpoint, CurvePlot, MetricsLogger, ProgressBar
from .interrupt import StopRequests, TrainingInterrupted
from .metrics import Mean
from .task import SupervisedTask, Task


class NonFiniteLossError(ValueError):
    """The training loss became NaN or Inf (training stops instead of going on with NaNs)."""


NONFINITE_POLICIES = ("stop", "skip")


class _NonFinite(Exception):
    """Raised inside :meth:`Trainer.update` before a step on a NaN/Inf loss or gradient."""

    def __init__(self, what: str, optimizer):
        super().__init__(what)
        self.what, self.optimizer = what, optimizer


def _first_nonfinite_grad(params):
    """The first parameter whose gradient holds a NaN/Inf (a sum per gradient: non-finite
    when an element is, or when the sum overflows, which the exact test then rules out)."""
    for p in params:
        g = p.grad
        if g is None:
            continue
        xp = backend.xp_of(g.data)
        if not math.isfinite(float(xp.sum(g.data))) and not bool(xp.isfinite(g.data).all()):
            return p
    return None


class _EpochProgress:
    """Where the epoch in progress is: batches done, the running (sum, count) of each
    mean, samples, the learning rate at its start, seconds spent; saved with a checkpoint
    taken between two steps."""

    def __init__(self, lr: float, batches: int = 0, means=None, samples: int = 0,
                 elapsed: float = 0.0, skipped: int = 0):
        self.lr, self.batches, self.samples = lr, batches, samples
        self.elapsed, self.skipped = elapsed, skipped
        self.means: dict[str, Mean] = {}
        for key, (total, count) in (means or {}).items():
            self.means[key] = Mean()
            self.means[key].total, self.means[key].count = total, count
        self.start = time.perf_counter() - elapsed

    def state_dict(self) -> dict:
        return {"lr": self.lr, "batches": self.batches, "samples": self.samples,
                "elapsed": time.perf_counter() - self.start, "skipped": self.skipped,
                "means": {k: [m.total, m.count] for k, m in self.means.items()}}


def _loader_state(loader):
    """The loader's resumable state: ``loader.state_dict()`` (deltaflow's ``DataLoader``:
    its shuffling generator) or the state of a ``generator`` attribute; None if neither."""
    if hasattr(loader, "state_dict"):
        return {"state_dict": loader.state_dict()}
    gen = getattr(loader, "generator", None)
    if isinstance(gen, np.random.Generator):
        return {"generator": gen.bit_generator.state}
    return None


def _restore_loader_state(loader, state: dict) -> None:
    if "state_dict" in state and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(state["state_dict"])
    elif "generator" in state and isinstance(getattr(loader, "generator", None),
                                             np.random.Generator):
        loader.generator.bit_generator.state = state["generator"]
    else:
        raise ValueError(f"Trainer.fit: the checkpoint holds the training loader's state "
                         f"but this {type(loader).__name__} cannot restore it")


class _OptimizerSet:
    """Named optimizers checkpointed as one: ``state_dict()`` is ``{name: state}``."""

    def __init__(self, optimizers: dict):
        self.optimizers = optimizers

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.optimizers):
            raise ValueError(f"checkpoint: optimizers {sorted(state)} do not match this "
                             f"trainer's {sorted(self.optimizers)}")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])


class Trainer:
    """Fit, evaluate and predict: a model with an optimizer and a loss, or any :class:`Task`.

    Args:
        model: a ``dl.nn.Module`` (trained with ``loss_fn`` on ``(inputs, targets)``
            batches); None when ``task`` is given.
        optimizer: a ``dl.optim`` optimizer, a dict of named optimizers (for a task that
            updates with several, such as a GAN), or None for a trainer that only
            evaluates and predicts.
        loss_fn: ``loss_fn(output, target)`` returning a scalar mean loss
            (default ``nn.CrossEntropyLoss()``).
        task: a :class:`~deltaflow.train.task.Task` (instead of model/loss_fn/metrics).
        eval_loss_fn: the loss reported for validation (default ``loss_fn``).
        metrics: names computed on every batch and for validation: ``"accuracy"``,
            ``"topK"`` (e.g. ``"top5"``); ``()`` for none.
        scheduler: a ``dl.optim.lr_scheduler`` scheduler or None.
        scheduler_interval: ``"epoch"`` or ``"batch"``; default ``"batch"`` for
            ``OneCycleLR`` and ``"epoch"`` otherwise. ``ReduceLROnPlateau`` is stepped with
            ``scheduler_monitor`` (default ``val_loss``, else ``loss``) after each epoch.
        clip_grad_norm: clip the global gradient norm to this value before each update.
        callbacks: extra :class:`~deltaflow.train.callbacks.Callback` objects.
        run_dir: if given, write ``metrics.jsonl``, ``checkpoints/{last,best}.*``,
            ``model.safetensors`` (final weights) and ``curves.png`` (when ``plot`` and
            matplotlib is installed) there.
        progress: show a tqdm progress bar per epoch.
        device: move the model and each batch there (``"cpu"``/``"cuda"``).
        detect_anomaly: run under ``dl.autograd.detect_anomaly()`` (slow; finds the op that
            made the first NaN/Inf).
        distributed: None (default): train data-parallel when ``dl.distributed`` is
            initialized with a world size above 1 (``mpiexec -n N``); False: this process
            alone, whatever the world size.
        ddp_options: keyword arguments of ``DistributedDataParallel`` (``bucket_cap_mb``,
            ``find_unused_parameters``).
        checkpoint_every: with ``run_dir``, also save ``checkpoints/last`` every this many
            steps (None: at the end of each epoch only).
        on_nonfinite: a NaN/Inf loss or gradient, found before the update: ``"stop"``
            raises the :class:`~deltaflow.autograd.anomaly.AnomalyError` of the op that
            produced it (the step re-run under anomaly mode, nothing updated); ``"skip"``
            skips that update and counts it in ``skipped_steps``.
        max_skipped: with ``"skip"``, the update after this many skipped ones stops the run
            as ``"stop"`` would.
        handle_signals: with ``run_dir``, SIGINT/SIGTERM during ``fit`` save a checkpoint at
            the next step boundary and raise
            :class:`~deltaflow.train.interrupt.TrainingInterrupted`.

    In a distributed run the loaders must give each rank its own shard (e.g. a
    ``DistributedSampler``; its ``set_epoch`` is called before every epoch); the task's
    modules are wrapped by ``task.distribute``; rank ``r``'s global generator is rank 0's
    advanced by ``r`` jumps (:func:`deltaflow.train.distributed.rank_stream`), so dropout
    masks differ per rank; epoch records and ``evaluate`` are sums over all ranks; only
    rank 0 runs the callbacks marked ``main_process_only`` (progress bar, log, plot) and
    writes checkpoints and the final weights, then all ranks meet at a barrier.
    """

    def __init__(self, model=None, optimizer=None, loss_fn=None, *, task=None,
                 eval_loss_fn=None, metrics=("accuracy",),
                 scheduler=None, scheduler_interval: str | None = None,
                 scheduler_monitor: str | None = None, clip_grad_norm: float | None = None,
                 callbacks=(), run_dir=None, progress: bool = True, plot: bool = True,
                 device=None,
                 detect_anomaly: bool = False, distributed: bool | None = None,
                 ddp_options: dict | None = None, checkpoint_every: int | None = None,
                 on_nonfinite: str = "stop", max_skipped: int = 10,
                 handle_signals: bool = True):
        from ..optim import lr_scheduler
        if task is None:
            if model is None:
                raise TypeError("Trainer: pass a model (with optimizer and loss_fn) or a task")
            task = SupervisedTask(model, loss_fn, eval_loss_fn, metrics)
        elif not isinstance(task, Task):
            raise TypeError(f"Trainer: task must be a deltaflow.train.Task, got "
                            f"{type(task).__name__}")
        elif model is not None and model is not task.model:
            raise ValueError("Trainer: give the model through the task, not both")
        self.task, self.model = task, task.model
        self.optimizers = optimizer if isinstance(optimizer, dict) else \
            ({} if optimizer is None else {"optimizer": optimizer})
        self.optimizer = next(iter(self.optimizers.values()), None)
        self.scheduler = scheduler
        self._plateau = isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)
        if scheduler_interval is None:
            scheduler_interval = "batch" if isinstance(scheduler, lr_scheduler.OneCycleLR) \
                else "epoch"
        if scheduler_interval not in ("epoch", "batch"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'batch', got "
                             f"{scheduler_interval!r}")
        if self._plateau and scheduler_interval != "epoch":
            raise ValueError("Trainer: ReduceLROnPlateau can only be stepped per epoch")
        self.scheduler_interval, self.scheduler_monitor = scheduler_interval, scheduler_monitor
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"Trainer: clip_grad_norm must be > 0, got {clip_grad_norm}")
        self.clip_grad_norm = clip_grad_norm
        self.device = device
        if device is not None:
            self.model.to(device)
        self.detect_anomaly = detect_anomaly
        if on_nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"Trainer: on_nonfinite must be one of {NONFINITE_POLICIES}, got "
                             f"{on_nonfinite!r}")
        if not isinstance(max_skipped, int) or max_skipped < 0:
            raise ValueError(f"Trainer: max_skipped must be an int >= 0, got {max_skipped!r}")
        self.on_nonfinite, self.max_skipped = on_nonfinite, max_skipped
        self.skipped_steps = 0      # updates skipped for a NaN/Inf (on_nonfinite="skip")
        self.handle_signals = handle_signals
        self.rank, self.world_size = (0, 1) if distributed is False else group.rank_and_size()
        self.is_main = self.rank == 0
        if self.world_size > 1:
            from ..nn.parallel import DistributedDataParallel
            task.distribute(lambda module: DistributedDataParallel(module,
                                                                   **(ddp_options or {})))
            dl_random.set_rng_state(group.rank_stream(dl_random.get_rng_state(), self.rank))
        self.run_dir = Path(run_dir) if run_dir is not None else None
        callbacks = [task, *callbacks]
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: callbacks must be Callback objects, got "
                                f"{type(cb).__name__}")
        if progress and not any(isinstance(cb, ProgressBar) for cb in callbacks):
            callbacks.append(ProgressBar())
        if self.run_dir is not None:
            callbacks += [MetricsLogger(self.run_dir / "metrics.jsonl"),
                          Checkpoint(self.run_dir / "checkpoints", every_steps=checkpoint_every)]
            if plot:
                callbacks.append(CurvePlot(self.run_dir / "curves.png", title=self.run_dir.name))
        names = [cb.name for cb in callbacks]
        if len(set(names)) != len(names):
            raise ValueError(f"Trainer: two callbacks share a name ({names}); give them "
                             f"distinct `name`s so their states can be checkpointed")
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)
        self.epoch = 0          # epochs completed
        self.step = 0           # optimization steps taken
        self.history: list[dict] = []
        self.saved_world_size = None   # processes of the run whose checkpoint was loaded
        self.max_epochs = 0
        self.should_stop = False
        self.train_loader = None
        self._pending_loader_state = None
        self._progress: _EpochProgress | None = None   # the epoch in progress
        self._epoch_loader_state = None   # the training loader's state at its start
        self._resume_position = None      # a mid-epoch checkpoint's position, until used
        self._resume_rng = None
        self._dry_run = False             # re-running a step for the anomaly report
        self._stop_requests = StopRequests(enabled=False)
        self._saved_at = None             # where the latest checkpoint was taken

    @property
    def eval_loss_fn(self):
        """The validation loss of a supervised task (None for other tasks)."""
        return getattr(self.task, "eval_loss_fn", None)

    @property
    def loss_fn(self):
        """The training loss of a supervised task (None for other tasks)."""
        return getattr(self.task, "loss_fn", None)

    # ------------------------------------------------------------------ helpers
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            if cb.main_process_only and not self.is_main:
                continue
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    def _to_tensor(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(np.asarray(x))
        return x.to(self.device) if self.device is not None else x

    def _batch(self, batch) -> tuple:
        """A loader's batch as ``(inputs, targets)`` Tensors on the device (targets None
        for a batch of inputs only)."""
        if isinstance(batch, list | tuple):
            if len(batch) not in (1, 2):
                raise ValueError(f"Trainer: expected batches (inputs, targets), got a "
                                 f"{type(batch).__name__} of {len(batch)} items")
            batch = (*batch, None)[:2]
        else:
            batch = (batch, None)
        return tuple(None if b is None else self._to_tensor(b) for b in batch)

    @property
    def batches_done(self) -> int:
        """Batches of the epoch in progress already done (0 between epochs)."""
        return 0 if self._progress is None else self._progress.batches

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _anomaly(self):
        return detect_anomaly() if self.detect_anomaly else contextlib.nullcontext()

    # ------------------------------------------------------------------ training
    def update(self, loss, optimizer: str | None = None) -> None:
        """One update of ``optimizer`` (a name of the trainer's optimizers; default the
        only one) to decrease ``loss``: ``zero_grad`` → ``backward`` → the
        ``on_after_backward`` callbacks → clip the gradient norm of its parameters →
        ``step`` → the per-batch scheduler step of its scheduler."""
        if optimizer is None and len(self.optimizers) != 1:
            raise ValueError(f"Trainer.update: name the optimizer ({sorted(self.optimizers)})")
        opt = self.optimizer if optimizer is None else self.optimizers[optimizer]
        if self._dry_run:   # re-running the step for the anomaly report: no update
            opt.zero_grad()
            loss.backward()
            return
        which = "" if optimizer is None else f" for the {optimizer} update"
        value = float(loss.item())
        if not math.isfinite(value):
            raise _NonFinite(f"the loss{which} became {value}", opt)
        opt.zero_grad()
        loss.backward()
        self._call("on_after_backward")
        params = [p for group in opt.param_groups for p in group["params"]]
        bad = _first_nonfinite_grad(params)
        if bad is not None:
            name = next((n for n, q in self.model.named_parameters() if q is bad), "a parameter")
            raise _NonFinite(f"the gradient of {name}{which} holds NaN/Inf "
                             f"(loss {value:.6g})", opt)
        if self.clip_grad_norm is not None:
            from ..nn.utils import clip_grad_norm_
            clip_grad_norm_(params, self.clip_grad_norm)
        opt.step()
        if self.scheduler is not None and self.scheduler_interval == "batch" \
                and self.scheduler.optimizer is opt:
            self.scheduler.step()

    def fit(self, train_loader, val_loader=None, epochs: int = 1) -> list[dict]:
        """Train until ``epochs`` epochs *in total* have run (a resumed trainer continues
        from its epoch) or a callback sets ``should_stop`` (checked after every batch).
        Returns the history: one record per epoch with ``epoch``, ``step``, ``lr``, the
        task's ``loss`` and metrics, ``val_*`` when ``val_loader`` is given, ``time`` (s)
        and ``samples_per_s``. Tunes the allocator for training
        (:func:`deltaflow.backend.tune_allocator`)."""
        if epochs < 1:
            raise ValueError(f"Trainer.fit: epochs must be >= 1, got {epochs}")
        if not self.optimizers:
            raise ValueError("Trainer.fit: this trainer has no optimizer (optimizer=None is "
                             "for evaluate/predict only)")
        backend.tune_allocator()
        self.train_loader, self.max_epochs, self.should_stop = train_loader, epochs, False
        if self._pending_loader_state is not None:
            _restore_loader_state(train_loader, self._pending_loader_state)
            self._pending_loader_state = None
        self._stop_requests = StopRequests(self.handle_signals and self.run_dir is not None)
        with self._stop_requests, self._anomaly():
            self._call("on_fit_start")
            while self.epoch < epochs and not self.should_stop:
                logs = self._train_epoch(train_loader)
                if val_loader is not None:
                    logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
                self._epoch_scheduler_step(logs)
                self.history.append(logs)
                self._call("on_epoch_end", logs)
                if self.epoch < epochs and not self.should_stop:   # else: the end, then stop
                    self._check_stop_request()
            if self.run_dir is not None and self.is_main:
                io.save(self.model.state_dict(), self.run_dir / "model.safetensors")
            group.barrier()
            self._call("on_fit_end")
            self._check_stop_request(finished=True)
        return self.history

    def _agree(self) -> tuple[bool, int | None]:
        """``(should_stop, signal received)`` of any rank (one small all-reduce when
        distributed: a time budget or a signal may reach one rank first)."""
        stop, signum = self.should_stop, self._stop_requests.received
        if self.world_size > 1:
            stop, term, sigint = group.all_sum([stop, signum == signal.SIGTERM,
                                                signum == signal.SIGINT]) > 0
            signum = signal.SIGTERM if term else signal.SIGINT if sigint else None
        return bool(stop), signum

    def _check_stop_request(self, finished: bool = False, mid_epoch: bool = False,
                            signum: int | None = None) -> None:
        """After a step (``mid_epoch``), an epoch or the run: if SIGINT/SIGTERM came, save
        ``checkpoints/last`` here (unless just saved) and raise ``TrainingInterrupted``."""
        if not mid_epoch:
            signum = self._agree()[1]
        if signum is None:
            return
        stem = self.run_dir / "checkpoints" / "last"
        if mid_epoch and self._saved_at != self._position_of(stem):
            self.save_checkpoint(stem)
        raise TrainingInterrupted(signum, stem, self.epoch, self.step, finished=finished)

    def _reduce(self, means: dict) -> dict:
        """The means of all ranks' samples: each (sum, count) pair summed across ranks."""
        if self.world_size > 1:
            keys = sorted(means)
            sums = group.all_sum([x for k in keys for x in (means[k].total, means[k].count)])
            for i, key in enumerate(keys):
                means[key].total, means[key].count = sums[2 * i], sums[2 * i + 1]
        return {key: m.compute() for key, m in means.items()}

    def _train_epoch(self, loader) -> dict:
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        self._epoch_loader_state = _loader_state(loader)   # before the epoch's draws
        resume, self._resume_position = self._resume_position, None
        self._progress = progress = _EpochProgress(self._lr()) if resume is None \
            else _EpochProgress(**resume)
        self._call("on_epoch_start")
        self.model.train()
        batches = iter(loader)
        if resume is not None:   # a checkpoint between two steps: pass the batches done
            for _ in itertools.islice(batches, progress.batches):
                pass
            dl_random.set_rng_state(self._resume_rng)
        means = progress.means
        for batch in batches:
            batch = self._batch(batch)
            rng = dl_random.get_rng_state()
            try:
                step = self.task.optimization_step(self, batch)
            except _NonFinite as found:
                self._nonfinite(found, batch, rng)   # raises unless the update is skipped
                step, progress.skipped = None, progress.skipped + 1
            if step is not None:
                self.step += 1
                for key, value in step.values().items():
                    if not math.isfinite(value):
                        raise NonFiniteLossError(
                            f"the training {key} became {value} at epoch {self.epoch + 1}, "
                            f"step {self.step}; lower the learning rate, clip gradients, or "
                            f"run with anomaly detection (deltaflow train --detect-anomaly) "
                            f"to find the op")
                    means.setdefault(key, Mean()).update(value, step.n)
                progress.samples += step.n
            progress.batches += 1
            running = {key: m.compute() for key, m in means.items()}
            self._call("on_batch_end", {**running, "samples": progress.samples,
                                        "step": self.step})
            self.should_stop, signum = self._agree()
            self._check_stop_request(mid_epoch=True, signum=signum)
            if self.should_stop:
                break
        if progress.samples == 0 and progress.skipped == 0:
            raise ValueError("Trainer.fit: the training loader produced no batches")
        self.epoch += 1
        self._progress = None
        elapsed = time.perf_counter() - progress.start
        samples = progress.samples
        if self.world_size > 1:
            samples = int(group.all_sum([samples])[0])
            group.broadcast_buffers(self.model)   # validate and save rank 0's statistics
        skipped = {"skipped": progress.skipped} if self.on_nonfinite == "skip" else {}
        return {"epoch": self.epoch, "step": self.step, "lr": progress.lr,
                **self._reduce(means), **skipped,
                "time": elapsed, "samples_per_s": samples / max(elapsed, 1e-9)}

    def _nonfinite(self, found: _NonFinite, batch, rng) -> None:
        """A NaN/Inf loss or gradient before an update: skip it (``on_nonfinite="skip"``,
        within ``max_skipped``) or stop with the anomaly report of the step re-run."""
        where = f"at epoch {self.epoch + 1}, step {self.step + 1}"
        if self.on_nonfinite == "skip" and self.skipped_steps < self.max_skipped:
            found.optimizer.zero_grad()
            self.skipped_steps += 1
            return
        why = f"{found.what} {where}, before the update (not applied)"
        if self.on_nonfinite == "skip":
            why += f"; {self.skipped_steps} updates were skipped already (max_skipped)"
        report = self._rerun_under_anomaly_mode(batch, rng)
        if report is None:
            raise NonFiniteLossError(f"{why}; anomaly mode re-ran the step and no op produced "
                                     f"a NaN/Inf again (the step is not deterministic?)")
        raise AnomalyError(f"{why}; the step re-run under anomaly mode:\n{report}",
                           report.phase, report.op, report.module_path, report.source)

    def _rerun_under_anomaly_mode(self, batch, rng):
        """The :class:`AnomalyError` of this step re-run from the same random state under
        ``detect_anomaly`` without updating anything (None if it does not raise one)."""
        dl_random.set_rng_state(rng)
        self._dry_run = True
        try:
            with detect_anomaly():
                self.task.optimization_step(self, batch)
        except AnomalyError as err:
            return err
        finally:
            self._dry_run = False
        return None

    def _epoch_scheduler_step(self, logs: dict) -> None:
        if self.scheduler is None or self.scheduler_interval != "epoch":
            return
        if self._plateau:
            key = self.scheduler_monitor or ("val_loss" if "val_loss" in logs else "loss")
            if key not in logs:
                raise KeyError(f"Trainer: ReduceLROnPlateau monitors {key!r}, which is not "
                               f"among the epoch's metrics {sorted(logs)}")
            self.scheduler.step(logs[key])
        else:
            self.scheduler.step()

    # ------------------------------------------------------------------ inference
    def evaluate(self, loader) -> dict:
        """The task's mean loss and metrics over ``loader`` (its ``validation_step``, each
        batch weighted by its ``n``) in eval mode, without recording a graph; in a
        distributed run, over the shards of all ranks."""
        was_training = self.model.training
        self.model.eval()
        means: dict[str, Mean] = {}
        try:
            with no_grad():
                for batch in loader:
                    step = self.task.validation_step(self._batch(batch))
                    for key, value in step.values().items():
                        means.setdefault(key, Mean()).update(value, step.n)
        finally:
            self.model.train(was_training)
        if not means:
            raise ValueError("Trainer.evaluate: the loader produced no batches")
        return self._reduce(means)

    def predict(self, data, batch_size: int = 256) -> np.ndarray:
        """Model outputs (eval mode, no graph) for a loader, a Tensor or an array, as one
        NumPy array. Batches of ``(inputs, targets)`` use the inputs only. Each rank
        predicts what it is given (no communication)."""
        if isinstance(data, Tensor | np.ndarray):
            array = data.numpy() if isinstance(data, Tensor) else data
            data = (array[i:i + batch_size] for i in range(0, len(array), batch_size))
        was_training = self.model.training
        self.model.eval()
        outputs = []
        try:
            with no_grad():
                for batch in data:
                    x = self._batch(batch)[0]
                    outputs.append(self.model(x).numpy())
        finally:
            self.model.train(was_training)
        if not outputs:
            raise ValueError("Trainer.predict: no inputs")
        return np.concatenate(outputs)

    # ------------------------------------------------------------------ checkpoints
    def _checkpointed_optimizer(self):
        """The one optimizer (stored as before), or the named set of several."""
        if len(self.optimizers) > 1:
            return _OptimizerSet(self.optimizers)
        return self.optimizer

    def save_checkpoint(self, stem) -> Path:
        """Save everything needed to resume bit-exactly as checkpoint ``stem``
        (``stem.safetensors`` + ``stem.optim.safetensors`` + ``stem.json``).

        Distributed: called on every rank (the callbacks' ``state_dict`` may gather from
        all ranks; every rank's generator state is gathered); rank 0 writes, then all ranks
        meet at a barrier."""
        extra = {}
        if self.world_size > 1:
            extra["rng_states"] = group.gather_json(dl_random.get_rng_state())
        callbacks = {cb.name: cb.state_dict() for cb in self.callbacks}
        path = ckpt.checkpoint_paths(stem)[2]
        if self._progress is not None:   # between two steps: the epoch's start and position
            extra.update(position=self._progress.state_dict(),
                         loader_state=self._epoch_loader_state)
        elif self.train_loader is not None:
            extra["loader_state"] = _loader_state(self.train_loader)
        if self.is_main:
            path = ckpt.save_checkpoint(
                stem, self.model, self._checkpointed_optimizer(), self.scheduler,
                epoch=self.epoch, step=self.step, history=self.history,
                rng_state=dl_random.get_rng_state(), world_size=self.world_size,
                skipped_steps=self.skipped_steps, callbacks=callbacks,
                **{"loader_state": None, **extra})
        group.barrier()
        self._saved_at = self._position_of(stem)
        return path

    def _position_of(self, stem) -> tuple:
        return (Path(stem), self.epoch, self.step,
                None if self._progress is None else self._progress.batches)

    def load_checkpoint(self, stem) -> dict:
        """Restore a checkpoint written by :meth:`save_checkpoint`.

        Build the model, optimizer, scheduler and data loaders first, then load: the global
        RNG state is restored here and the loader's at the start of the next ``fit``. A
        checkpoint of a run on as many processes restores each rank's own generator; one
        of another world size gives rank ``r`` rank 0's saved stream jumped ``r`` times
        (``saved_world_size`` says which it was).
        """
        state = ckpt.load_checkpoint(stem, self.model, self._checkpointed_optimizer(),
                                     self.scheduler)
        missing = [k for k in ("epoch", "step", "rng_state") if k not in state]
        if missing:
            raise ValueError(f"{stem}: not a trainer checkpoint (no {', '.join(missing)})")
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = list(state.get("history", []))
        self.saved_world_size = int(state.get("world_size", 1))
        if self.saved_world_size == self.world_size and "rng_states" in state:
            dl_random.set_rng_state(state["rng_states"][self.rank])
        else:   # the same rule as a new run: rank r's stream is rank 0's, jumped r times
            dl_random.set_rng_state(group.rank_stream(state["rng_state"], self.rank))
        self._pending_loader_state = state.get("loader_state")
        self._resume_position = state.get("position")
        self._resume_rng = dl_random.get_rng_state()
        self.skipped_steps = int(state.get("skipped_steps", 0))
        saved = state.get("callbacks", {})
        for cb in self.callbacks:
            if cb.name in saved:
                cb.load_state_dict(saved[cb.name])
        return state
