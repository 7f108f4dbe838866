"""Fixtures shared by the test modules."""
from __future__ import annotations

import pytest

from deltaflow import jit
from deltaflow import warnings as mistakes


@pytest.fixture(autouse=True)
def every_mistake_warning_armed():
    """Each test starts with deltaflow's mistake warnings re-armed (they fire once per
    process), and pyproject's filterwarnings turns them into errors: the suite's own
    training loops make none of the classic mistakes (docs/reliability.md); a test that
    makes one on purpose says so with pytest.warns or dl.warnings.allow."""
    mistakes.reset()


@pytest.fixture
def set_jit():
    """``set_jit(flag)`` switches deltaflow's compiled kernels on or off
    (:func:`deltaflow.jit.set_enabled`) for the rest of the test; the setting before the
    test comes back after it."""
    before = jit.enabled()
    yield jit.set_enabled
    jit.set_enabled(before)
