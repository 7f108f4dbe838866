"""logical_* are logical for every dtype; & | ^ ~ are bitwise, as in torch."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl

torch = pytest.importorskip("torch")

VALUES = {"bool": [True, False, True, False], "int": [0, 3, -2, 5],
          "float": [0.0, 1.5, -2.0, 0.0]}


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
@pytest.mark.parametrize("a_kind", list(VALUES))
@pytest.mark.parametrize("b_kind", list(VALUES))
def test_logical_matches_torch(name, a_kind, b_kind):
    a, b = VALUES[a_kind], VALUES[b_kind][::-1]
    ours = getattr(dl, name)(dl.tensor(a), dl.tensor(b)).numpy()
    theirs = getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == np.bool_


@pytest.mark.parametrize("op", ["__and__", "__or__", "__xor__"])
@pytest.mark.parametrize("kind", ["bool", "int"])
def test_operators_are_bitwise_like_torch(op, kind):
    a, b = VALUES[kind], VALUES[kind][::-1]
    ours = getattr(dl.tensor(a), op)(dl.tensor(b)).numpy()
    theirs = getattr(torch.tensor(a), op)(torch.tensor(b)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal((~dl.tensor(a)).numpy(), (~torch.tensor(a)).numpy())


def test_bitwise_of_floats_is_refused():
    with pytest.raises(TypeError, match="bitwise_and: needs integer or bool tensors"):
        dl.tensor([1.0]) & dl.tensor([2.0])
    with pytest.raises(TypeError, match="bitwise_not"):
        ~dl.tensor([1.0])
