"""DistributedSampler against torch.utils.data.DistributedSampler."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl

torch = pytest.importorskip("torch")
from torch.utils.data import DistributedSampler as TorchSampler  # noqa: E402


@pytest.mark.parametrize("n", [10, 11, 3, 1])
@pytest.mark.parametrize("replicas", [1, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_shards_match_torch(n, replicas, drop_last):
    data = list(range(n))
    for rank in range(replicas):
        ours = dl.data.DistributedSampler(data, replicas, rank, shuffle=False,
                                          drop_last=drop_last)
        theirs = TorchSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


@pytest.mark.parametrize("n,replicas", [(10, 3), (5, 4)])
def test_shuffled_shards_are_torchs_sharding_of_our_order(n, replicas):
    sampler = dl.data.DistributedSampler(range(n), replicas, 0, seed=5)
    sampler.set_epoch(2)
    order = np.random.default_rng(5 + 2).permutation(n)
    for rank in range(replicas):
        ours = dl.data.DistributedSampler(range(n), replicas, rank, seed=5)
        ours.set_epoch(2)
        theirs = TorchSampler(list(order), replicas, rank, shuffle=False)
        assert list(ours) == [int(order[i]) for i in theirs]


def test_epochs_seeds_and_resume():
    a = dl.data.DistributedSampler(range(20), 2, 1, seed=3)
    first = list(a)
    assert list(a) == first                      # deterministic per epoch
    a.set_epoch(1)
    second = list(a)
    assert second != first
    b = dl.data.DistributedSampler(range(20), 2, 1, seed=3)
    b.load_state_dict(a.state_dict())
    assert list(b) == second
    shards = [set(dl.data.DistributedSampler(range(20), 2, r, seed=3)) for r in range(2)]
    assert shards[0].isdisjoint(shards[1]) and shards[0] | shards[1] == set(range(20))


def test_defaults_and_errors():
    s = dl.data.DistributedSampler(range(5))   # no process group: one replica
    assert (s.num_replicas, s.rank, len(s)) == (1, 0, 5)
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval "
                                         r"\[0, 1\]"):
        dl.data.DistributedSampler(range(5), 2, 2)
    loader = dl.data.DataLoader(list(range(8)), batch_size=2,
                                sampler=dl.data.DistributedSampler(range(8), 2, 0,
                                                                   shuffle=False))
    assert [b.tolist() for b in loader] == [[0, 2], [4, 6]]
