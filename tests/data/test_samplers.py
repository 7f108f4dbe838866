"""Samplers and the DataLoader options ported PyTorch code passes (sampler, batch_sampler,
num_workers, pin_memory ...), checked against torch.utils.data where the order is not
random."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
)


def _ds(n=10):
    return TensorDataset(np.arange(n, dtype=np.float32)[:, None], np.arange(n))


def _targets(loader):
    return [y.numpy().tolist() for _, y in loader]


@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (3, True), (5, False)])
def test_batch_sampler_matches_torch(batch_size, drop_last):
    torch = pytest.importorskip("torch")
    ours = list(BatchSampler(SequentialSampler(range(10)), batch_size, drop_last))
    theirs = list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(10)),
                                                batch_size, drop_last))
    assert ours == theirs
    assert len(BatchSampler(SequentialSampler(range(10)), batch_size, drop_last)) == len(theirs)


def test_random_samplers_are_seeded_permutations_and_resume():
    s = RandomSampler(range(10), generator=0)
    first = list(s)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    state = s.state_dict()
    second = list(s)
    s.load_state_dict(state)
    assert list(s) == second
    drawn = list(RandomSampler(range(4), replacement=True, num_samples=9, generator=1))
    assert len(drawn) == 9 and set(drawn) <= set(range(4))
    assert len(list(RandomSampler(range(4), num_samples=9, generator=1))) == 9
    subset = list(SubsetRandomSampler([7, 2, 5], generator=0))
    assert sorted(subset) == [2, 5, 7]


def test_dataloader_with_sampler_and_batch_sampler():
    ds = _ds()
    loader = DataLoader(ds, batch_size=4, sampler=SubsetRandomSampler([1, 3, 5, 7, 9],
                                                                      generator=0))
    got = _targets(loader)
    assert len(loader) == 2 and sorted(sum(got, [])) == [1, 3, 5, 7, 9]
    batches = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, True))
    assert _targets(batches) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(batches) == 2


def test_pytorch_worker_options_are_accepted_and_change_nothing():
    plain = _targets(DataLoader(_ds(23), batch_size=4, shuffle=True, generator=3))
    ported = DataLoader(_ds(23), batch_size=4, shuffle=True, generator=3, num_workers=2,
                        pin_memory=True, persistent_workers=True, timeout=0)
    assert _targets(ported) == plain


def test_loader_resumes_the_sampler_order():
    loader = DataLoader(_ds(), batch_size=3, sampler=RandomSampler(range(10), generator=5))
    _targets(loader)
    state = loader.state_dict()
    after = _targets(loader)
    loader.load_state_dict(state)
    assert _targets(loader) == after


@pytest.mark.parametrize("kwargs,message", [
    (dict(batch_size=2, batch_sampler=[[0, 1]]), "batch_sampler option is mutually exclusive"),
    (dict(shuffle=True, sampler=[0, 1]), "sampler option is mutually exclusive with shuffle"),
    (dict(num_workers=-1), "num_workers must be an int >= 0"),
])
def test_option_errors_match_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(_ds(), **kwargs)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=message.split(" must")[0]):
        torch.utils.data.DataLoader(list(range(10)), **kwargs)


def test_a_ported_training_loop_runs():
    dl.manual_seed(0)
    model = dl.nn.Linear(1, 10)
    opt = dl.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(_ds(), batch_size=4, shuffle=True, num_workers=0, pin_memory=False)
    for x, y in loader:
        opt.zero_grad()
        dl.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
