"""malloc is tuned where deltaflow owns the process (the CLI, Trainer.fit), never by
``import deltaflow`` (backend.tune_allocator; docs/architecture.md "Memory allocator")."""
import os
import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _run(code, **env):
    """Run ``code`` in a fresh interpreter without malloc settings in its environment;
    return its stdout."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("DELTAFLOW_TUNE_MALLOC", "MALLOC_TRIM_THRESHOLD_",
                          "MALLOC_MMAP_THRESHOLD_")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env},
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip()


def test_import_leaves_malloc_alone():
    code = ("import ctypes\n"
            "calls = []\n"
            "class CDLL(ctypes.CDLL):  # records every look-up of mallopt\n"
            "    def __getattr__(self, name):\n"
            "        if name == 'mallopt':\n"
            "            calls.append(self._name)\n"
            "        return super().__getattr__(name)\n"
            "ctypes.CDLL = CDLL\n"
            "import deltaflow, deltaflow.nn, deltaflow.optim, deltaflow.train\n"
            "print(calls, deltaflow.backend.allocator_tuned)")
    assert _run(code) == "[] False"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_tune_allocator_on_request():
    code = ("from deltaflow import backend\n"
            "print(backend.tune_allocator(), backend.allocator_tuned)")
    assert _run(code) == "True True"
    assert _run(code, DELTAFLOW_TUNE_MALLOC="0") == "False False"
    assert _run(code, MALLOC_TRIM_THRESHOLD_="131072") == "False False"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_cli_tunes_malloc():
    code = ("import contextlib, io\n"
            "from deltaflow import backend, cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    cli.main([])\n"
            "print(backend.allocator_tuned)")
    assert _run(code) == "True"
    assert _run(code, DELTAFLOW_TUNE_MALLOC="0") == "False"
