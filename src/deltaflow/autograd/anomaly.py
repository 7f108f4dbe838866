"""Anomaly detection (placeholder: the diagnostics work fills in the checks).

``detect_anomaly()`` switches on two hooks that the core calls for every op:
``on_forward(fn, inputs, output)`` after an op's forward and
``on_backward(fn, grad_outputs, grad_inputs)`` after its backward.
"""
from __future__ import annotations

from .grad_mode import state


class detect_anomaly:
    def __enter__(self):
        self._prev = state.anomaly_enabled
        state.anomaly_enabled = True
        return self

    def __exit__(self, *exc):
        state.anomaly_enabled = self._prev
        return False


def on_forward(fn, inputs, output) -> None:
    pass


def on_backward(fn, grad_outputs, grad_inputs) -> None:
    pass
