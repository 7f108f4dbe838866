"""The fuzzing harness of every loader a user points at a file (docs/reliability.md,
"Hostile and damaged files").

:func:`fuzz` runs hypothesis on one loader: each generated file content is written to disk
and loaded; the load must either succeed or raise one ``ValueError`` whose message names
the file. Anything else fails the test: another exception type (a traceback of another
kind), a hang (a 60 s watchdog per input, far above any honest load of these small files),
or a peak of traced memory (Python and NumPy allocations) beyond a bound proportional to
the file — a header claiming terabytes must not allocate. ``CI_EXAMPLES`` inputs per loader
in the ordinary run; the ``slow`` tests run ``LARGE_EXAMPLES``. With
``DELTAFLOW_FUZZ_REPORT=file.jsonl`` each run appends ``{loader, tried, loaded, refused}``.
"""
from __future__ import annotations

import json
import os
import signal
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings

CI_EXAMPLES = 150
LARGE_EXAMPLES = 5000
WATCHDOG_S = 60
MEMORY_BASE = 32 << 20     # bytes any load may use (interpreter and library overhead)
MEMORY_PER_BYTE = 200      # and per byte of the file (object arrays of CSV cells, JSON)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a load ran for more than {WATCHDOG_S} s")


def guarded(call, names, size: int, memory_per_byte=MEMORY_PER_BYTE) -> bool:
    """``call()`` under the watchdog and the memory bound (``size``: bytes of input); True
    when it returned, False when it raised a ValueError naming one of ``names`` (files);
    any other outcome raises."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(WATCHDOG_S)
    tracemalloc.start()
    try:
        call()
        loaded = True
    except ValueError as err:
        message = str(err)
        assert any(str(n) in message for n in names), \
            f"the error does not name the file: {message!r}"
        loaded = False
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    bound = MEMORY_BASE + memory_per_byte * size
    assert peak <= bound, f"loading {size} bytes allocated {peak} bytes"
    return loaded


def check_load(load, path: Path, content: bytes, **kw) -> bool:
    """Write ``content`` to ``path`` and :func:`guarded` ``load(path)``."""
    path.write_bytes(content)
    return guarded(lambda: load(path), [path], len(content), **kw)


def fuzz(name: str, strategy, trial, examples: int) -> None:
    """Run ``examples`` values of ``strategy`` through ``trial(value) -> loaded?``."""
    counts = {"loader": name, "tried": 0, "loaded": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value):
        loaded = trial(value)
        counts["tried"] += 1
        counts["loaded" if loaded else "refused"] += 1

    run()
    report = os.environ.get("DELTAFLOW_FUZZ_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as f:
            f.write(json.dumps({**counts, "examples": examples}) + "\n")


def fuzz_file(name: str, strategy, load, folder: Path, suffix: str, examples: int,
              **kw) -> None:
    """:func:`fuzz` of a one-file loader: each content of ``strategy`` (bytes) is written
    to ``folder/fuzzed<suffix>`` and given to ``load``."""
    path = folder / f"fuzzed{suffix}"
    fuzz(name, strategy, lambda content: check_load(load, path, content, **kw), examples)


def mutations(noise, valid: bytes):
    """A strategy of damaged versions of ``valid``: cut, bytes flipped, inserted, deleted,
    overwritten, or replaced by random bytes."""
    from hypothesis import strategies as st

    n = len(valid)
    cut = st.integers(0, n).map(lambda k: valid[:k])
    flips = st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(1, 255)),
                     min_size=1, max_size=8).map(lambda fs: _flip(valid, fs))
    insert = st.tuples(st.integers(0, n), noise).map(
        lambda t: valid[:t[0]] + t[1] + valid[t[0]:])
    delete = st.tuples(st.integers(0, n), st.integers(1, 64)).map(
        lambda t: valid[:t[0]] + valid[t[0] + t[1]:])
    overwrite = st.tuples(st.integers(0, n), noise).map(
        lambda t: valid[:t[0]] + t[1] + valid[t[0] + len(t[1]):])
    return st.one_of(cut, flips, insert, delete, overwrite, noise)


def _flip(valid: bytes, flips) -> bytes:
    out = bytearray(valid)
    for i, x in flips:
        if out:
            out[i % len(out)] ^= x
    return bytes(out)
