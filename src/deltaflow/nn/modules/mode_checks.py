"""The layers' checks for two classic mistakes (``dl.warnings``): evaluating with Dropout or
BatchNorm still in training mode inside ``no_grad()``, and BatchNorm training on a batch
of one. Each costs a flag test per forward; the message is built only when it fires."""
from __future__ import annotations

from ...autograd import grad_mode
from ...warnings import BatchOfOneWarning, EvalModeWarning, armed, warn_once
from .module import current_module_path


def _name(layer) -> str:
    path = current_module_path()
    return f"{type(layer).__name__} {path!r}" if path else type(layer).__name__


def check_eval_mode(layer) -> None:
    """Warn (once) when ``layer`` runs in training mode under ``no_grad()``."""
    if layer.training and not grad_mode.state.grad_enabled and armed(EvalModeWarning):
        effect = ("normalises by this batch's statistics and updates its running ones"
                  if hasattr(layer, "running_mean") else "drops activations at random")
        warn_once(EvalModeWarning,
                  f"{_name(layer)} is in training mode inside no_grad(), so it {effect}: "
                  f"evaluating? call model.eval() first (and model.train() to resume "
                  f"training); on purpose? wrap it in "
                  f"`with dl.warnings.allow(dl.warnings.EvalModeWarning):`")


def check_batch_of_one(layer, input) -> None:
    """Warn (once) when a BatchNorm layer in training mode gets a batch of one sample."""
    if (layer.training and input.shape[0] == 1 and input.data.size > input.shape[1]
            and armed(BatchOfOneWarning)):   # (1, C) alone is refused by batch_norm itself
        warn_once(BatchOfOneWarning,
                  f"{_name(layer)} is in training mode and got a batch of one sample "
                  f"(input shape {tuple(input.shape)}): its statistics come from that one "
                  f"sample. Fix: batches of 2 or more (DataLoader(..., drop_last=True) drops "
                  f"a last batch of one), or model.eval() to run single samples")
