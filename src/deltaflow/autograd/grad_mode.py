"""Grad mode: whether new operations are recorded in the graph.

``no_grad()`` and ``enable_grad()`` work as context managers and as decorators. The mode is
per thread, as in PyTorch: a data-loading thread under ``no_grad`` never stops the training
thread from recording.
"""
from __future__ import annotations

import functools
import threading


class _State(threading.local):
    """Each thread starts with these class defaults."""

    grad_enabled = True
    anomaly_enabled = False


state = _State()


def is_grad_enabled() -> bool:
    return state.grad_enabled


class _GradMode:
    """Base of the grad-mode switches: a context manager, and a decorator with or without
    parentheses (``@dl.no_grad()`` or ``@dl.no_grad``)."""

    enabled: bool

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self(func) if callable(func) else self

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Do not record operations: results have ``requires_grad=False``."""
    enabled = False


class enable_grad(_GradMode):
    """Record operations again inside a ``no_grad`` block."""
    enabled = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode: bool = True):
        self.enabled = bool(mode)

    def __call__(self, fn):  # pragma: no cover - rarely used as decorator
        mode = self.enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


inference_mode = no_grad
