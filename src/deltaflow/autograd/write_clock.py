"""The in-place-write clock, for the engine's check that saved values were not overwritten.

Every in-place write to a Tensor sets its ``_version`` to the next tick of one global clock
(:func:`stamp`); ``Function.apply`` records the clock's value then in the node's
``clock_at_forward``, and the engine looks closer only when the clock moved since
(``latest > fn.clock_at_forward``): one integer comparison per node when nothing was
written in place.

The clock also remembers, for each array whose memory was written, the tick of the latest
write (:func:`written_since`), so that a write through one Tensor is seen by a node that
saved another Tensor viewing the same memory (``v = h[0]; z = v * w; h.mul_(2)``, or a
``detach()``ed alias), as PyTorch's version counter, shared by views, sees it.
"""
from __future__ import annotations

import itertools
import weakref

_ticks = itertools.count(1)
latest = 0  # the last tick handed out: the time of the latest in-place write
_written = {}  # id(memory owner) -> (tick of its latest write, weak reference to it)


def _owner(array):
    """The array that owns ``array``'s memory (NumPy and CuPy keep views' ``base`` flat)."""
    base = getattr(array, "base", None)
    return base if base is not None and hasattr(base, "shape") else array


def stamp(tensor) -> None:
    """Mark ``tensor`` (and the memory it views) as written in place now."""
    global latest
    latest = tensor._version = next(_ticks)
    owner = _owner(tensor.data)
    key = id(owner)
    _written.pop(key, None)                   # re-inserted last: newest writes at the end

    def forget(ref, key=key):
        if _written.get(key, (0, None))[1] is ref:
            del _written[key]
    try:
        _written[key] = (latest, weakref.ref(owner, forget))
    except TypeError:                         # an array type without weak references
        pass


def tick() -> int:
    """Advance the clock without a write (``inplace.write`` marks where its nodes begin)."""
    global latest
    latest = next(_ticks)
    return latest


def written_since(clock):
    """The arrays (memory owners) written in place after ``clock``, newest first."""
    for tick, ref in reversed(list(_written.values())):
        if tick <= clock:
            return
        owner = ref()
        if owner is not None:
            yield owner
