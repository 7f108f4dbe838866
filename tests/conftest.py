"""Fixtures shared by the test modules."""
from __future__ import annotations

import pytest

from deltaflow import jit


@pytest.fixture
def set_jit():
    """``set_jit(flag)`` switches deltaflow's compiled kernels on or off
    (:func:`deltaflow.jit.set_enabled`) for the rest of the test; the setting before the
    test comes back after it."""
    before = jit.enabled()
    yield jit.set_enabled
    jit.set_enabled(before)
