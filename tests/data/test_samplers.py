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
    WeightedRandomSampler,
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


def test_pytorch_worker_options_change_no_batch():
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
    (dict(num_workers=-1), "num_workers option should be non-negative"),
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


WEIGHTS = [1.0, 2.0, 3.0, 4.0, 0.0]


def _second_position_probabilities(p):
    """P(second draw = j) without replacement: Σ_i p_i · p_j / (1 − p_i), i ≠ j."""
    p = np.asarray(p) / np.sum(p)
    return np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(len(p)) if i != j)
                     for j in range(len(p))])


def test_weighted_sampler_with_replacement_follows_the_weights_as_torch():
    torch = pytest.importorskip("torch")
    n = 20000
    ours = list(WeightedRandomSampler(WEIGHTS, n, generator=0))
    theirs = list(torch.utils.data.WeightedRandomSampler(
        WEIGHTS, n, generator=torch.Generator().manual_seed(0)))
    expected = np.array(WEIGHTS) / sum(WEIGHTS)
    for drawn in (ours, theirs):
        assert len(drawn) == n and all(isinstance(i, int) for i in drawn[:5])
        freq = np.bincount(drawn, minlength=5) / n
        np.testing.assert_allclose(freq, expected, atol=4 * np.sqrt(0.25 / n))
        assert freq[4] == 0
    assert len(WeightedRandomSampler(dl.tensor(WEIGHTS), 7)) == 7


def test_weighted_sampler_without_replacement_matches_torch_statistics():
    torch = pytest.importorskip("torch")
    rounds = 3000
    ours_sampler = WeightedRandomSampler(np.array(WEIGHTS), 3, replacement=False, generator=1)
    torch_gen = torch.Generator().manual_seed(1)
    ours = np.array([list(ours_sampler) for _ in range(rounds)])
    theirs = np.array([list(torch.utils.data.WeightedRandomSampler(
        WEIGHTS, 3, replacement=False, generator=torch_gen)) for _ in range(rounds)])
    tolerance = 4 * np.sqrt(0.25 / rounds)
    for draws in (ours, theirs):
        assert all(len(set(row)) == 3 and 4 not in row for row in draws.tolist())
        np.testing.assert_allclose(np.bincount(draws[:, 0], minlength=5) / rounds,
                                   np.array(WEIGHTS) / sum(WEIGHTS), atol=tolerance)
        np.testing.assert_allclose(np.bincount(draws[:, 1], minlength=5) / rounds,
                                   _second_position_probabilities(WEIGHTS), atol=tolerance)
    everything = list(WeightedRandomSampler([0.5, 0.1, 9.0], 3, replacement=False,
                                            generator=0))
    assert sorted(everything) == [0, 1, 2]


def test_weighted_sampler_resumes_and_feeds_a_loader():
    sampler = WeightedRandomSampler(WEIGHTS, 12, generator=3)
    loader = DataLoader(_ds(5), batch_size=4, sampler=sampler)
    _targets(loader)
    state = loader.state_dict()
    after = _targets(loader)
    loader.load_state_dict(state)
    assert _targets(loader) == after and len(loader) == 3
    assert 4 not in sum(after, [])


@pytest.mark.parametrize("args,kwargs,message", [
    ((WEIGHTS, 0), {}, "num_samples should be a positive integer value"),
    ((WEIGHTS, 2), dict(replacement=1), "replacement should be a boolean value"),
    (([[1.0, 2.0]], 2), {}, "weights should be a 1d sequence"),
])
def test_weighted_sampler_errors_match_torch(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        WeightedRandomSampler(*args, **kwargs)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=message):
        torch.utils.data.WeightedRandomSampler(*args, **kwargs)


def test_weighted_sampler_refuses_impossible_weights():
    with pytest.raises(ValueError, match="cannot draw 5 samples without replacement from 4"):
        WeightedRandomSampler(WEIGHTS, 5, replacement=False)
    for weights in ([0.0, 0.0], [1.0, -1.0], [1.0, np.nan]):
        with pytest.raises(ValueError, match="non-negative and not all zero"):
            WeightedRandomSampler(weights, 2)
