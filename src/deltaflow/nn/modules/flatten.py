"""Shape-only modules: ``Flatten``, ``Unflatten``, ``Identity``."""
from __future__ import annotations

from ... import functional as _F
from .module import Module

__all__ = ["Flatten", "Unflatten", "Identity"]


class Identity(Module):
    """Returns its input unchanged (constructor arguments are accepted and ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Flatten(Module):
    """Merges dims ``start_dim``..``end_dim`` into one (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return _F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim ``dim`` into ``unflattened_size``."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input):
        size = tuple(self.unflattened_size)
        known = 1
        for s in size:
            known *= s if s != -1 else 1
        n = input.shape[self.dim]
        if (-1 not in size and known != n) or (-1 in size and n % known):
            raise ValueError(f"Unflatten: size {size} does not match dim {self.dim} of size "
                             f"{n} in an input of shape {tuple(input.shape)}")
        return _F.unflatten(input, self.dim, size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
