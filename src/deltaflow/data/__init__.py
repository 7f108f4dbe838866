"""``deltaflow.data``: datasets and loaders (mirrors ``torch.utils.data``), built-in datasets."""
from . import datasets
from .collate import default_collate
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split

__all__ = ["ConcatDataset", "DataLoader", "Dataset", "IterableDataset", "Subset",
           "TensorDataset", "datasets", "default_collate", "random_split"]
