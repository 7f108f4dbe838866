"""``deltaflow.nn.parallel`` -- mirrors ``torch.nn.parallel``: data-parallel training."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
