"""``RemovableHandle``: what every ``register_*hook`` returns (``Tensor.register_hook``, the
modules' forward and backward hooks), as ``torch.utils.hooks.RemovableHandle``."""
from __future__ import annotations

import itertools


class RemovableHandle:
    """One hook's entry in a dict of hooks (``id → hook``, run in registration order);
    ``remove()``, or leaving a ``with handle:`` block, unregisters it."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
