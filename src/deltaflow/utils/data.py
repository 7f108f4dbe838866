"""``deltaflow.utils.data``: :mod:`deltaflow.data` at PyTorch's import path
(``from deltaflow.utils.data import DataLoader`` as ``from torch.utils.data import ...``);
the same objects, nothing else."""
from ..data import *  # noqa: F403
from ..data import __all__  # noqa: F401
