"""``deltaflow.utils``: PyTorch's ``torch.utils`` import paths (``deltaflow.utils.data``)."""
from . import data

__all__ = ["data"]
