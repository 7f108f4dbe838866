"""An optimizer's checks for three classic mistakes (``dl.warnings``), run by
:meth:`Optimizer.step` in its first 16 steps only (nothing per op, nothing after that):

* ``UnusedParameterWarning`` — at step 3: parameters (``requires_grad``) that had no gradient
  at any of steps 1-3 while others had one (detached by mistake, or built from NumPy).
* ``GradAccumulationWarning`` — at steps 2-8: every gradient is still the same array that
  the previous step used (``optimizer.zero_grad()`` and ``model.zero_grad()`` replace it,
  a write such as ``p.grad.zero_()`` changes its version), so steps add up gradients.
* ``GraphKeptWarning`` — at steps 4, 8 and 16: the sum of the parameters' reference counts.
  A node of the graph holds its inputs, so a graph kept alive across steps (``total +=
  loss``) adds references to the parameters at every step: growth over 4-8 and at least
  1.5 times that over 8-16 (linear, as the kept graphs are) is confirmed by counting, once,
  the nodes whose backward already ran and that are still alive.
"""
from __future__ import annotations

import gc
import sys
import weakref

from ..warnings import (
    GradAccumulationWarning,
    GraphKeptWarning,
    UnusedParameterWarning,
    armed,
    warn_once,
)

UNUSED_STEPS = 3
ACCUMULATION_STEPS = 8
GRAPH_STEPS = (4, 8, 16)
LAST_CHECKED = max(UNUSED_STEPS, ACCUMULATION_STEPS, *GRAPH_STEPS)


class StepChecks:
    """One optimizer's record of its first steps."""

    def __init__(self):
        self.steps = 0            # step() calls so far, this one included once begun
        self.had_grad: set = set()  # ids of parameters with a gradient in steps 1-3
        self.grads: dict = {}     # id(p) -> (weakref to p.grad, its version) at the last step
        self.refcounts: list = []  # Σ refcount of the parameters at GRAPH_STEPS

    def __getstate__(self):  # weak references do not pickle; the next step starts afresh
        return {**self.__dict__, "grads": {}}

    def begin_step(self, optimizer) -> None:
        """Count this step and, in the first steps, run the checks due."""
        self.steps += 1
        if self.steps > LAST_CHECKED:
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if self.steps <= UNUSED_STEPS and armed(UnusedParameterWarning):
            self._unused(params)
        if self.steps <= ACCUMULATION_STEPS and armed(GradAccumulationWarning):
            self._accumulation(params)
        if self.steps in GRAPH_STEPS and armed(GraphKeptWarning):
            self._graph(params)

    def _unused(self, params) -> None:
        self.had_grad.update(id(p) for p in params if p.grad is not None)
        if self.steps < UNUSED_STEPS or not self.had_grad:
            return
        missing = [p for p in params if p.requires_grad and id(p) not in self.had_grad]
        if missing:
            names = parameter_names(missing, params)
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8
                                            else "")
            warn_once(UnusedParameterWarning,
                      f"{len(missing)} of the optimizer's {len(params)} parameters received "
                      f"no gradient in its first {UNUSED_STEPS} steps: {shown}. Is the "
                      f"forward pass using them (not a .detach()ed copy, not values taken "
                      f"through .numpy())? Fix the forward pass, or leave them out of the "
                      f"optimizer (or set requires_grad_(False)) if they are frozen")

    def _accumulation(self, params) -> None:
        now = {id(p): (p.grad, p.grad._version) for p in params if p.grad is not None}
        previous, self.grads = self.grads, {k: (weakref.ref(g), v) for k, (g, v) in now.items()}
        if not now or not previous:
            return
        if all(k in previous and previous[k][0]() is g and previous[k][1] == v
               for k, (g, v) in now.items()):
            warn_once(GradAccumulationWarning,
                      f"optimizer.step() (step {self.steps}) uses the same gradients as the "
                      f"step before, never cleared in between: each step adds this batch's "
                      f"gradient to all earlier ones. Fix: call optimizer.zero_grad() before "
                      f"each backward(). Accumulating over several steps on purpose? wrap "
                      f"the loop in `with dl.warnings.allow(dl.warnings."
                      f"GradAccumulationWarning):`")

    def _graph(self, params) -> None:
        self.refcounts.append(sum(sys.getrefcount(p) for p in params))
        if len(self.refcounts) < len(GRAPH_STEPS):
            return
        r4, r8, r16 = self.refcounts
        if r8 - r4 < 4 or r16 - r8 < 1.5 * (r8 - r4):
            return
        from ..autograd import Function
        gc.collect()
        kept = sum(1 for o in gc.get_objects()   # type(): a proxy's __class__ may warn
                   if issubclass(type(o), Function) and getattr(o, "released", False))
        if kept:
            warn_once(GraphKeptWarning,
                      f"the graphs of earlier steps are still alive: {kept} operations whose "
                      f"backward already ran are still referenced, and the references to "
                      f"the parameters grew by {r16 - r4} from step 4 to step 16. A loss or "
                      f"output is probably kept with its graph across steps, as in "
                      f"`total_loss += loss`; memory grows every step. Fix: keep "
                      f"loss.item() (or loss.detach()) instead")


def parameter_names(wanted, params) -> list[str]:
    """The parameters ``wanted``, named by their longest dotted path in a live module (the
    outermost one holding them; searched only when a warning fires) and their shape."""
    from ..nn.modules.module import Module

    names: dict = {}
    for obj in gc.get_objects():
        if issubclass(type(obj), Module):   # (a proxy's __class__ may warn: not looked up)
            for name, p in obj.named_parameters():
                if len(name) >= len(names.get(id(p), ("", ""))[0]):
                    names[id(p)] = (name, type(obj).__name__)
    index = {id(p): k for k, p in enumerate(params)}
    out = []
    for p in wanted:
        name, owner = names.get(id(p), (f"parameter {index[id(p)]}", "no module"))
        out.append(f"{name} ({owner}, shape {tuple(p.shape)})")
    return out


def has_stepped(optimizer) -> bool:
    """Whether ``optimizer`` has taken a step (or holds state restored from one)."""
    checks = optimizer.__dict__.get("_checks")
    return bool(optimizer.state) or (checks is not None and checks.steps > 0)
