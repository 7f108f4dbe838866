"""``Fetcher``: how a DataLoader turns a task into a batch, the same in the main process
(``num_workers=0``) and in a worker process.

A map-style task is an int64 array of dataset indices: the batch is
``dataset.get_batch(indices)`` when the dataset has it and the default collation is used,
else ``collate_fn([dataset[i] for i in indices])``. An iterable dataset is read as a stream,
``batch_size`` samples per batch (the last one shorter unless ``drop_last``).
"""
from __future__ import annotations


class Fetcher:
    """Batches of ``dataset`` (picklable: a worker process receives it)."""

    def __init__(self, dataset, collate_fn, batch_size: int | None, drop_last: bool,
                 fast: bool):
        self.dataset, self.collate_fn = dataset, collate_fn
        self.batch_size, self.drop_last, self.fast = batch_size, drop_last, fast

    def __call__(self, indices):
        """The batch of a map-style dataset at ``indices``."""
        if self.fast:
            return self.dataset.get_batch(indices)
        return self.collate_fn([self.dataset[int(i)] for i in indices])

    def stream(self):
        """The batches of an iterable dataset, in stream order."""
        chunk = []
        for sample in self.dataset:
            chunk.append(sample)
            if len(chunk) == self.batch_size:
                yield self.collate_fn(chunk)
                chunk = []
        if chunk and not self.drop_last:
            yield self.collate_fn(chunk)
