"""Stochastic weight averaging and exponential moving averages of a model's weights, as
``torch.optim.swa_utils``: :class:`AveragedModel` keeps the average, :class:`SWALR` anneals
the rate to a constant SWA rate, :func:`update_bn` recomputes BatchNorm statistics for the
averaged weights."""
from __future__ import annotations

import copy
import itertools
import math

from ..autograd import no_grad
from ..creation import tensor
from ..nn.modules.module import Module
from ..tensor import Tensor
from ..warnings import EvalModeWarning, allow
from .lr_scheduler import LRScheduler, group_values


def _count(num_averaged) -> float:
    return float(num_averaged.item() if isinstance(num_averaged, Tensor) else num_averaged)


def get_ema_avg_fn(decay: float = 0.999):
    """``avg_fn`` of an exponential moving average: ``decay·ema + (1 − decay)·current``."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_avg_fn: decay must be in [0, 1], got {decay}")

    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """``avg_fn`` of the running mean: ``avg + (current − avg)/(n + 1)``."""
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999):
    """``multi_avg_fn`` of an exponential moving average, in place over lists of tensors:
    ``ema ← lerp(ema, current, 1 − decay)`` (integer tensors: ``decay·ema +
    (1 − decay)·current``, truncated)."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"get_ema_multi_avg_fn: decay must be in [0, 1], got {decay}")

    def ema_update(ema_params, current_params, num_averaged):
        for ema, current in zip(ema_params, current_params):
            ema.copy_(ema.lerp(current, 1 - decay) if ema.is_floating_point()
                      else ema * decay + current * (1 - decay))
    return ema_update


def get_swa_multi_avg_fn():
    """``multi_avg_fn`` of the running mean, in place over lists of tensors:
    ``avg ← lerp(avg, current, 1/(n + 1))``."""
    def swa_update(averaged_params, current_params, num_averaged):
        weight = 1.0 / (_count(num_averaged) + 1)
        for avg, current in zip(averaged_params, current_params):
            avg.copy_(avg.lerp(current, weight) if avg.is_floating_point()
                      else avg + (current - avg) * weight)
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are an average of ``model``'s over the calls to
    :meth:`update_parameters` (SWA's running mean by default; ``avg_fn(avg, current,
    n_averaged)`` returning the new value, or ``multi_avg_fn(avg_list, current_list,
    n_averaged)`` updating lists in place, e.g. :func:`get_ema_multi_avg_fn`).

    ``use_buffers=True`` averages the buffers too; otherwise they are copied from ``model``
    at every update. The buffer ``n_averaged`` (int64) counts the updates. ``forward`` calls
    the averaged copy, which is ``self.module``.
    """

    def __init__(self, model: Module, device=None, avg_fn=None, multi_avg_fn=None,
                 use_buffers: bool = False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype="int64", device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _averaged(self, module: Module) -> list[Tensor]:
        return list(itertools.chain(module.parameters(), module.buffers())
                    if self.use_buffers else module.parameters())

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        pairs = [(ours, theirs.detach().to(ours.device)) for ours, theirs in
                 zip(self._averaged(self.module), self._averaged(model))]
        if int(self.n_averaged.item()) == 0:
            for ours, theirs in pairs:
                ours.copy_(theirs)
        elif self.multi_avg_fn is not None:
            by_dtype: dict = {}
            for ours, theirs in pairs:
                lists = by_dtype.setdefault(ours.dtype, ([], []))
                lists[0].append(ours)
                lists[1].append(theirs)
            for ours_list, theirs_list in by_dtype.values():
                self.multi_avg_fn(ours_list, theirs_list, self.n_averaged)
        else:
            avg_fn = self.avg_fn if self.avg_fn is not None else get_swa_avg_fn()
            for ours, theirs in pairs:
                ours.copy_(avg_fn(ours.detach(), theirs, self.n_averaged))
        if not self.use_buffers:
            for ours, theirs in zip(self.module.buffers(), model.buffers()):
                ours.copy_(theirs.detach().to(ours.device))
        self.n_averaged.add_(1)


@no_grad()
def update_bn(loader, model: Module, device=None) -> None:
    """Recompute the running statistics of ``model``'s BatchNorm layers (every module with
    ``reset_running_stats()`` and a ``momentum``) in one pass over ``loader``, as a
    cumulative average (``momentum=None``) in training mode; a batch that is a list or
    tuple contributes its first element. Each layer's momentum and the model's mode are
    restored afterwards."""
    momenta = {m: m.momentum for m in model.modules()
               if hasattr(m, "reset_running_stats") and hasattr(m, "momentum")}
    if not momenta:
        return
    for module in momenta:
        module.reset_running_stats()
        module.momentum = None
    was_training = model.training
    model.train()
    with allow(EvalModeWarning):   # training mode under no_grad is the point here
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's rate from its current value to ``swa_lr`` over ``anneal_epochs``
    epochs (``anneal_strategy`` ``"cos"``: α = (1 − cos(π·t))/2, ``"linear"``: α = t, for
    t = epoch/anneal_epochs), then keep ``swa_lr``: ``lr = α·swa_lr + (1 − α)·lr₀``."""

    def __init__(self, optimizer, swa_lr, anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1):
        for group, lr in zip(optimizer.param_groups, group_values(optimizer, "swa_lr",
                                                                 swa_lr)):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"SWALR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be an integer >= 0, got "
                             f"{anneal_epochs}")
        self._anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2 if self._anneal_strategy == "cos" else t

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        """The rate that annealing with weight ``alpha`` turned into ``lr``."""
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, prev_lrs)]


__all__ = ["AveragedModel", "SWALR", "get_ema_avg_fn", "get_ema_multi_avg_fn",
           "get_swa_avg_fn", "get_swa_multi_avg_fn", "update_bn"]
