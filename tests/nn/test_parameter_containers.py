"""nn.ParameterList and nn.ParameterDict: registration under PyTorch's names, the list and
dict protocols, repr, state_dict round trips with torch."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn

from .helpers import torch


def mixture(lib):
    """The same model in deltaflow (``lib=dl``) or PyTorch (``lib=torch``)."""

    class Mixture(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2, 3)),
                                                 lib.zeros(3)])
            self.extra = lib.nn.ParameterDict({"scale": lib.ones(1), "bias": lib.zeros(3)})

        def forward(self, x):
            return ((x @ self.weights[0] + self.weights[1] + self.extra["bias"])
                    * self.extra["scale"])

    return Mixture()


def test_parameters_are_registered_with_torchs_names():
    d, t = mixture(dl), mixture(torch)
    assert list(dict(d.named_parameters())) == list(dict(t.named_parameters())) == [
        "weights.0", "weights.1", "extra.bias", "extra.scale"]   # a plain dict: sorted keys
    assert list(d.state_dict()) == list(t.state_dict())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in d.parameters())
    assert len(list(d.parameters())) == 4


def test_state_dict_round_trip_and_gradients_match_torch():
    t = mixture(torch).double()
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.randn_like(p))
    d = mixture(dl).double()
    d.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2))
    d_out, t_out = d(dl.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=1e-12)
    d_out.sum().backward()
    t_out.sum().backward()
    for (name, dp), tp in zip(d.named_parameters(), t.parameters()):
        np.testing.assert_allclose(dp.grad.numpy(), tp.grad.numpy(), rtol=1e-12, err_msg=name)


def test_parameter_list_protocol():
    a, b, c = (nn.Parameter(dl.ones(n)) for n in (1, 2, 3))
    pl = nn.ParameterList([a])
    assert pl.append(b) is pl and pl.extend([c]) is pl
    assert len(pl) == 3 and list(pl) == [a, b, c] and pl[-1] is c and pl[1] is b
    sliced = pl[1:]
    assert isinstance(sliced, nn.ParameterList) and list(sliced) == [b, c]
    pl += [dl.zeros(4)]
    assert isinstance(pl[3], nn.Parameter) and pl[3].shape == (4,)
    pl[0] = dl.full((5,), 2.0)
    assert isinstance(pl[0], nn.Parameter) and pl[0].shape == (5,)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2", "3"]
    with pytest.raises(IndexError, match="ParameterList: index 4 is out of range for 4 "
                                         "parameters"):
        pl[4]
    with pytest.raises(TypeError, match="ParameterList.extend: expected an iterable"):
        pl.extend(dl.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        pl(1)


def test_parameter_list_shares_data_of_the_tensors_it_wraps():
    t = dl.zeros(3)
    pl = nn.ParameterList([t])
    t.data[0] = 5
    assert pl[0].tolist() == [5, 0, 0]


def test_parameter_dict_protocol():
    pd = nn.ParameterDict(OrderedDict([("z", dl.ones(1)), ("a", dl.ones(2))]))
    assert list(pd) == ["z", "a"]                            # an OrderedDict keeps its order
    pd.update([("m", dl.zeros(3))])
    pd["b"] = nn.Parameter(dl.ones(4))
    assert list(pd.keys()) == ["z", "a", "m", "b"] and len(pd) == 4 and "m" in pd
    assert [k for k, _ in pd.items()] == list(pd.keys()) and len(list(pd.values())) == 4
    assert all(isinstance(v, nn.Parameter) for v in pd.values())
    assert [n for n, _ in pd.named_parameters()] == ["z", "a", "m", "b"]
    assert pd.get("nope") is None and pd.get("a") is pd["a"]
    assert pd.setdefault("c", dl.ones(1)) is pd["c"]
    m = pd.pop("m")
    assert m.shape == (3,) and "m" not in pd and "m" not in dict(pd.named_parameters())
    assert pd.popitem()[0] == "c"
    copy = pd.copy()
    assert list(copy) == list(pd) and copy["a"] is pd["a"]
    del pd["z"]
    assert list(pd) == ["a", "b"]
    assert list(reversed(pd)) == ["b", "a"]
    pd.clear()
    assert len(pd) == 0 and not list(pd.parameters())
    with pytest.raises(KeyError):
        pd["a"]
    with pytest.raises(TypeError, match="ParameterDict: keys must be strings, got int"):
        pd[1] = dl.ones(1)
    with pytest.raises(KeyError, match="parameter name can"):
        pd["a.b"] = dl.ones(1)
    assert "a.b" not in pd
    with pytest.raises(ValueError, match="ParameterDict.update: element #0 should be a "
                                         "\\(name, parameter\\) pair"):
        pd.update([("a", dl.ones(1), 3)])
    with pytest.raises(RuntimeError, match="ParameterDict should not be called"):
        pd(1)


def test_reprs_match_torch_up_to_the_dtype_spelling():
    d = nn.ParameterList([nn.Parameter(dl.ones(2)), dl.zeros(3, 4)])
    t = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2)), torch.zeros(3, 4)])
    assert repr(d) == repr(t).replace("torch.", "")
    assert repr(nn.ParameterList()) == repr(torch.nn.ParameterList())
    assert repr(nn.ParameterDict({"w": dl.ones(2, 2)})) == (
        "ParameterDict(  (w): Parameter containing: [float32 of size 2x2])")


def test_to_dtype_converts_the_parameters_in_place():
    pd = nn.ParameterDict({"w": dl.ones(2)})
    w = pd["w"]
    pd.double()
    assert pd["w"] is w and w.dtype == dl.float64
