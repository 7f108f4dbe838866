"""Padding layers around :func:`deltaflow.nn.functional.pad`: ``ZeroPad1d/2d/3d``,
``ConstantPad1d/2d/3d``, ``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d`` and
``CircularPad1d/2d/3d``. ``padding`` is an int (every side) or a tuple
``(left, right[, top, bottom[, front, back]])``, as in PyTorch."""
from __future__ import annotations

from ... import functional as _F
from .module import Module

__all__ = [f"{kind}Pad{n}d" for kind in ("Zero", "Constant", "Reflection", "Replication",
                                          "Circular") for n in (1, 2, 3)]


class _PadNd(Module):
    """Pad the last ``_dims`` dims of the input with ``mode``."""

    _dims: int = 1
    mode: str = "constant"

    def __init__(self, padding):
        super().__init__()
        count = 2 * self._dims
        padding = (padding,) * count if isinstance(padding, int) else tuple(padding)
        if len(padding) != count:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of "
                             f"{count} ints, got {padding}")
        self.padding = padding

    def forward(self, input):
        return _F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return _F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"




class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros."""

    _dims = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last 2 dims with zeros."""

    _dims = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last 3 dims with zeros."""

    _dims = 3


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``."""

    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last 2 dims with ``value``."""

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last 3 dims with ``value``."""

    _dims = 3


class ReflectionPad1d(_PadNd):
    """Pad the last dim with the input mirrored at each edge (edge not repeated);
    input (N, C, L) or (C, L)."""

    _dims = 1
    mode = "reflect"


class ReflectionPad2d(_PadNd):
    """Pad the last 2 dims with the input mirrored at each edge (edge not repeated);
    input (N, C, H, W) or (C, H, W)."""

    _dims = 2
    mode = "reflect"


class ReflectionPad3d(_PadNd):
    """Pad the last 3 dims with the input mirrored at each edge (edge not repeated);
    input (N, C, D, H, W) or (C, D, H, W)."""

    _dims = 3
    mode = "reflect"


class ReplicationPad1d(_PadNd):
    """Pad the last dim with copies of the edge; input (N, C, L) or (C, L)."""

    _dims = 1
    mode = "replicate"


class ReplicationPad2d(_PadNd):
    """Pad the last 2 dims with copies of the edge; input (N, C, H, W) or (C, H, W)."""

    _dims = 2
    mode = "replicate"


class ReplicationPad3d(_PadNd):
    """Pad the last 3 dims with copies of the edge; input (N, C, D, H, W) or (C, D, H, W)."""

    _dims = 3
    mode = "replicate"


class CircularPad1d(_PadNd):
    """Pad the last dim with the input wrapped around; input (N, C, L) or (C, L)."""

    _dims = 1
    mode = "circular"


class CircularPad2d(_PadNd):
    """Pad the last 2 dims with the input wrapped around; input (N, C, H, W) or (C, H, W)."""

    _dims = 2
    mode = "circular"


class CircularPad3d(_PadNd):
    """Pad the last 3 dims with the input wrapped around; input (N, C, D, H, W) or (C, D, H, W)."""

    _dims = 3
    mode = "circular"
