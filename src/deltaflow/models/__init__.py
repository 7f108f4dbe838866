"""Ready-made models used by the CLI.

``REGISTRY`` maps the names ``deltaflow train --model NAME`` accepts (image/feature
classifiers) to ``"module:function"`` builders, imported only when used. A builder is
``build(input_shape, num_classes, args) -> nn.Module``: ``input_shape`` is one sample's shape
(``(64,)``, ``(1, 28, 28)``), ``args`` a namespace of CLI options (read with
``getattr(args, "hidden", None)`` so Python callers may pass fewer). A builder's module may
define ``add_arguments(parser)`` for options only that model uses.

The character language model, the GAN and the end-to-end memory network (``charlm.py``,
``gan.py``, ``memn2n.py``: :class:`~deltaflow.models.memn2n.MemN2N`) are built by their own
tasks and are not in this registry.
"""
from __future__ import annotations

import importlib

REGISTRY: dict = {
    "mlp": "deltaflow.models.mlp:build",
    "cnn": "deltaflow.models.cnn:build",
}


def register(name: str, builder) -> None:
    """Add a builder (a callable or a ``"module:function"`` string) as model ``name``."""
    REGISTRY[name] = builder


def available() -> list[str]:
    return sorted(REGISTRY)


def _resolve(target):
    if callable(target):
        return target, None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr), module


def get(name: str):
    """The builder of model ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    return _resolve(REGISTRY[name])[0]


def build(name: str, input_shape, num_classes: int, args=None):
    """Build model ``name`` for samples of ``input_shape`` with ``num_classes`` outputs."""
    from types import SimpleNamespace
    return get(name)(tuple(input_shape), int(num_classes), args or SimpleNamespace())


def argument_adders_for(name: str):
    """The ``add_arguments(parser)`` of model ``name``'s module, or None."""
    module = _resolve(REGISTRY[name])[1]
    return getattr(module, "add_arguments", None) if module is not None else None
