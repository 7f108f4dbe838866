"""ChainDataset, StackDataset and the deltaflow.utils.data import path, against
torch.utils.data where PyTorch has the same thing."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow.data import (
    ChainDataset,
    DataLoader,
    IterableDataset,
    StackDataset,
    TensorDataset,
)


class Count(IterableDataset):
    def __init__(self, start, stop):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self):
        return self.stop - self.start


def test_chain_dataset_iterates_one_after_the_other():
    chain = ChainDataset([Count(0, 3), Count(10, 12)])
    assert list(chain) == [0, 1, 2, 10, 11] and len(chain) == 5
    assert list(chain) == [0, 1, 2, 10, 11], "iterable again"
    assert isinstance(Count(0, 2) + Count(5, 6), ChainDataset)
    assert list(Count(0, 2) + Count(5, 6)) == [0, 1, 5]
    assert [b.tolist() for b in DataLoader(chain, batch_size=2)] == [[0, 1], [2, 10], [11]]
    torch = pytest.importorskip("torch")

    class TorchCount(torch.utils.data.IterableDataset):
        def __init__(self, start, stop):
            self.start, self.stop = start, stop

        def __iter__(self):
            return iter(range(self.start, self.stop))

    theirs = torch.utils.data.ChainDataset([TorchCount(0, 3), TorchCount(10, 12)])
    assert list(theirs) == list(chain)


def test_chain_dataset_refuses_map_style_datasets():
    with pytest.raises(TypeError, match="ChainDataset only supports IterableDataset"):
        ChainDataset([Count(0, 1), TensorDataset(np.zeros(2))])


def test_stack_dataset_positional_and_keyword():
    images = TensorDataset(np.arange(8, dtype=np.float32).reshape(4, 2))
    labels = TensorDataset(np.arange(4))
    stacked = StackDataset(images, labels)
    assert len(stacked) == 4
    (x,), (y,) = stacked[2]
    assert x.tolist() == [4.0, 5.0] and int(y) == 2
    named = StackDataset(image=images, label=labels)
    assert set(named[1]) == {"image", "label"} and int(named[1]["label"][0]) == 1
    batch = next(iter(DataLoader(named, batch_size=3)))
    assert batch["image"][0].shape == (3, 2) and batch["label"][0].tolist() == [0, 1, 2]
    torch = pytest.importorskip("torch")
    theirs = torch.utils.data.StackDataset(a=list("wxyz"), b=range(4))
    ours = StackDataset(a=list("wxyz"), b=range(4))
    assert [ours[i] for i in range(4)] == [theirs[i] for i in range(4)]
    assert StackDataset(list("ab"), [1, 2])[1] == torch.utils.data.StackDataset(
        list("ab"), [1, 2])[1]


def test_stack_dataset_batches_whole_when_every_part_can():
    parts = TensorDataset(np.arange(6)), TensorDataset(np.arange(6) * 10)
    assert hasattr(StackDataset(*parts), "get_batch")
    assert not hasattr(StackDataset(parts[0], list(range(6))), "get_batch")
    fast = [tuple(t[0].tolist() for t in b) for b in DataLoader(StackDataset(*parts),
                                                                batch_size=4)]
    slow = [tuple(t[0].tolist() for t in b) for b in DataLoader(StackDataset(*parts),
                                                                batch_size=4,
                                                                collate_fn=dl.data.default_collate)]
    assert fast == slow == [([0, 1, 2, 3], [0, 10, 20, 30]), ([4, 5], [40, 50])]


@pytest.mark.parametrize("args,kwargs,message", [
    ((), {}, "(?i)at least one dataset should be passed"),
    (([1, 2], [1]), {}, "(?i)size mismatch between datasets"),
    (([1],), dict(b=[1]), "but both types are given"),
])
def test_stack_dataset_errors_match_torch(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        StackDataset(*args, **kwargs)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=message):
        torch.utils.data.StackDataset(*args, **kwargs)


def test_utils_data_is_torch_s_import_path():
    from deltaflow.utils.data import DataLoader as Loader
    from deltaflow.utils.data import WeightedRandomSampler, get_worker_info
    assert Loader is DataLoader and dl.utils.data.StackDataset is StackDataset
    assert WeightedRandomSampler is dl.data.WeightedRandomSampler
    assert get_worker_info() is None
    assert set(dl.utils.data.__all__) == set(dl.data.__all__)
