"""Module: registration, iteration, state_dict round trips with PyTorch, modes, devices,
hooks, repr and the module path stack."""
from collections import OrderedDict

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn.modules.module import _BackwardHook, current_module_path
from opcheck import assert_gradcheck, assert_gradgradcheck

from .helpers import compare_module, load_from_torch, rand, torch

tnn = torch.nn

GRADCHECKED = ("_BackwardHook",)
GRADGRADCHECKED = GRADCHECKED


class DlNet(nn.Module):
    def __init__(self, mod=nn):
        super().__init__()
        self.features = mod.Sequential(mod.Linear(4, 8), mod.BatchNorm1d(8), mod.ReLU(),
                                       mod.Dropout(0.0))
        self.heads = mod.ModuleList([mod.Linear(8, 3), mod.Linear(8, 2, bias=False)])
        self.extra = mod.ModuleDict({"norm": mod.LayerNorm(5)})
        self.scale = mod.Parameter(dl.ones(5) if mod is nn else torch.ones(5))

    def forward(self, x):
        h = self.features(x)
        out = dl.cat([self.heads[0](h), self.heads[1](h)], dim=1)
        return self.extra["norm"](out) * self.scale


class TorchNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.features = tnn.Sequential(tnn.Linear(4, 8), tnn.BatchNorm1d(8), tnn.ReLU(),
                                       tnn.Dropout(0.0))
        self.heads = tnn.ModuleList([tnn.Linear(8, 3), tnn.Linear(8, 2, bias=False)])
        self.extra = tnn.ModuleDict({"norm": tnn.LayerNorm(5)})
        self.scale = tnn.Parameter(torch.ones(5))

    def forward(self, x):
        h = self.features(x)
        out = torch.cat([self.heads[0](h), self.heads[1](h)], dim=1)
        return self.extra["norm"](out) * self.scale


def test_names_and_state_dict_keys_match_torch():
    d, t = DlNet(), TorchNet()
    assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in d.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(d.state_dict()) == list(t.state_dict())
    assert [n for n, _ in d.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in d.named_children()] == [n for n, _ in t.named_children()]
    assert len(list(d.parameters())) == len(list(t.parameters()))
    assert [n for n, _ in d.named_parameters(prefix="m", recurse=False)] == ["m.scale"]
    assert repr(d).replace("DlNet", "TorchNet") == repr(t)


def test_whole_model_forward_and_grads_match_torch():
    compare_module(DlNet(), TorchNet(), rand(6, 4))
    d, t = DlNet(), TorchNet()
    compare_module(d, t, rand(6, 4))
    compare_module(d, t, rand(6, 4, seed=2), train=False)


def test_state_dict_round_trip_and_values_are_tensors():
    a, b = DlNet(), DlNet()
    a(dl.randn(5, 4))
    sd = a.state_dict()
    assert all(isinstance(v, dl.Tensor) and not v.requires_grad for v in sd.values())
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    # loading copies: changing the source afterwards leaves b alone
    sd["scale"].data[...] = 7
    assert not np.any(b.scale.numpy() == 7)


def test_load_accepts_torch_tensors_and_keeps_dtype():
    t = tnn.Linear(3, 2)
    d = nn.Linear(3, 2)
    d.load_state_dict(t.state_dict())  # torch tensors (with requires_grad) directly
    np.testing.assert_allclose(d.weight.numpy(), t.weight.detach().numpy())
    assert d.weight.dtype == dl.float32
    p = d.weight
    d.load_state_dict({k: v.double().numpy() for k, v in t.state_dict().items()})
    assert d.weight is p and d.weight.dtype == dl.float32


def test_load_state_dict_strict_errors_list_everything():
    d = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sd = d.state_dict()
    del sd["0.bias"]
    sd["2.weight"] = np.zeros(2)
    sd["0.weight"] = np.zeros((3, 3))
    with pytest.raises(RuntimeError) as err:
        d.load_state_dict(sd)
    msg = str(err.value)
    assert 'Missing key(s) in state_dict: "0.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "2.weight"' in msg
    assert "size mismatch for 0.weight" in msg and "(3, 3)" in msg and "(2, 3)" in msg
    del sd["0.weight"]
    result = d.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["0.weight", "0.bias"]
    assert result.unexpected_keys == ["2.weight"]
    sd["0.weight"] = np.zeros((1, 3))
    with pytest.raises(RuntimeError, match="size mismatch"):
        d.load_state_dict(sd, strict=False)


def test_batchnorm_state_dict_without_num_batches_tracked_loads():
    bn = nn.BatchNorm1d(3)
    sd = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    assert bn.load_state_dict(sd).missing_keys == []


def test_non_persistent_buffers_and_registration_rules():
    m = nn.Module()
    m.register_buffer("keep", dl.zeros(2))
    m.register_buffer("temp", dl.ones(2), persistent=False)
    m.register_parameter("w", nn.Parameter(dl.zeros(3)))
    m.register_parameter("none", None)
    assert list(m.state_dict()) == ["w", "keep"]
    assert [n for n, _ in m.named_buffers()] == ["keep", "temp"]
    assert [n for n, _ in m.named_parameters()] == ["w"]
    m.keep = dl.ones(2)  # assigning a tensor to a buffer name rebinds the buffer
    assert m._buffers["keep"] is m.keep
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = dl.zeros(3)
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", dl.zeros(1))
    with pytest.raises(TypeError, match="nn.Parameter or None required"):
        m.register_parameter("q", dl.zeros(1))
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        _ = m.nope
    del m.w
    assert "w" not in dict(m.named_parameters())
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2
    assert seq.get_submodule("1") is shared and seq.get_parameter("0.bias") is shared.bias


def test_train_eval_requires_grad_zero_grad_apply():
    d = DlNet()
    d.eval()
    assert not any(m.training for m in d.modules())
    d.train()
    assert all(m.training for m in d.modules())
    d(dl.randn(4, 4)).sum().backward()
    assert all(p.grad is not None for p in d.parameters())
    d.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.numpy()) for p in d.parameters())
    d.zero_grad()
    assert all(p.grad is None for p in d.parameters())
    d.requires_grad_(False)
    assert not any(p.requires_grad for p in d.parameters())
    seen = []
    d.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "DlNet" and seen[0] == "Linear"


def test_to_double_float_keeps_parameter_identity_and_int_buffers():
    d = DlNet()
    params = list(d.parameters())
    d.to(dl.float64)
    assert all(p.dtype == dl.float64 for p in d.parameters())
    assert [id(p) for p in d.parameters()] == [id(p) for p in params]
    bn = d.features[1]
    assert bn.running_mean.dtype == dl.float64 and bn.num_batches_tracked.dtype == dl.int64
    d.float()
    assert all(p.dtype == dl.float32 for p in d.parameters())
    d.double().to(device="cpu", dtype="float32")
    assert all(p.dtype == dl.float32 and p.device == "cpu" for p in d.parameters())
    with pytest.raises(TypeError, match="floating point"):
        d.to(dl.int64)


def test_containers():
    s = nn.Sequential(OrderedDict([("a", nn.Linear(2, 3)), ("act", nn.ReLU()),
                                   ("b", nn.Linear(3, 1))]))
    assert list(s.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert isinstance(s[1], nn.ReLU) and s[-1] is s.b and len(s) == 3
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub._modules) == ["act", "b"]
    s2 = nn.Sequential(nn.ReLU()).append(nn.Tanh())
    assert list(s2._modules) == ["0", "1"]
    del s2[0]
    assert list(s2._modules) == ["0"] and isinstance(s2[0], nn.Tanh)
    with pytest.raises(IndexError, match="out of range"):
        s2[3]
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh()).extend([nn.Sigmoid()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "ReLU", "Tanh", "Sigmoid"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    md = nn.ModuleDict([("x", nn.ReLU())])
    md["y"] = nn.Tanh()
    assert list(md.keys()) == ["x", "y"] and "y" in md and len(md) == 2
    assert md.pop("x").__class__ is nn.ReLU and list(md) == ["y"]


def test_repr_matches_torch_for_nested_models():
    d = nn.Sequential(nn.Linear(3, 4), nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()]),
                      nn.Sequential(nn.LayerNorm(4), nn.GELU(approximate="tanh")),
                      nn.ModuleDict({"drop": nn.Dropout(0.1)}), nn.Embedding(5, 2),
                      nn.BatchNorm1d(4, affine=False), nn.ModuleList())
    t = tnn.Sequential(tnn.Linear(3, 4), tnn.ModuleList([tnn.ReLU(), tnn.ReLU(), tnn.Tanh()]),
                       tnn.Sequential(tnn.LayerNorm(4), tnn.GELU(approximate="tanh")),
                       tnn.ModuleDict({"drop": tnn.Dropout(0.1)}), tnn.Embedding(5, 2),
                       tnn.BatchNorm1d(4, affine=False), tnn.ModuleList())
    assert repr(d) == repr(t)
    assert repr(nn.Linear(2, 2)) == repr(tnn.Linear(2, 2))


def test_parameter_repr_and_wrapping():
    p = nn.Parameter(dl.tensor(np.array([1.0, 2.0])))
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert p.requires_grad and p.is_leaf


# -------------------------------------------------------------------------------- hooks
def test_forward_pre_hook_and_forward_hook_can_replace_values():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    y = lin(dl.randn(3, 2))
    np.testing.assert_allclose(y.numpy(), np.broadcast_to(lin.bias.numpy() + 1, (3, 2)),
                               rtol=1e-6)
    assert calls == [(3, 2)]
    h1.remove()
    h2.remove()
    x = dl.randn(3, 2)
    np.testing.assert_allclose(lin(x).numpy(), (x @ lin.weight.T + lin.bias).numpy(),
                               rtol=1e-6)
    assert calls == [(3, 2)]


def test_full_backward_hook_matches_torch():
    d, t = nn.Sequential(nn.Linear(3, 4), nn.Tanh()), tnn.Sequential(tnn.Linear(3, 4),
                                                                      tnn.Tanh())
    load_from_torch(d, t)
    got, want = [], []
    d[1].register_full_backward_hook(
        lambda m, gi, go: got.append([g.numpy().copy() for g in gi + go]))
    t[1].register_full_backward_hook(
        lambda m, gi, go: want.append([g.numpy().copy() for g in gi + go]))
    x = rand(5, 3)
    w = rand(5, 4, seed=1)
    (d(dl.tensor(x)) * dl.tensor(w)).sum().backward()
    (t(torch.tensor(x)) * torch.tensor(w)).sum().backward()
    assert len(got) == len(want) == 1
    for a, b in zip(got[0], want[0]):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_full_backward_hook_replaces_grad_input_and_handles_leaf_input():
    lin = nn.Linear(3, 2)
    seen = []

    def hook(m, grad_input, grad_output):
        seen.append(grad_input)
        if grad_input[0] is not None:
            return (grad_input[0] * 0,)

    lin.register_full_backward_hook(hook)
    x = dl.randn(4, 3, requires_grad=True)
    lin(x).sum().backward()
    assert not np.any(x.grad.numpy())
    assert lin.weight.grad is not None and np.any(lin.weight.grad.numpy())
    lin(dl.randn(4, 3)).sum().backward()  # input without grad: hook gets (None,)
    assert seen[-1] == (None,)


def test_gradcheck_backward_hook_identity():
    def fn(a, b):
        st = {"module": nn.Identity(), "n_args": 2, "n_in": 2}
        outs = _BackwardHook.apply(a, b, state=st, role="out")
        return _BackwardHook.apply(*outs, state=st, role="in")

    assert_gradcheck(fn, rand(2, 3), rand(3, seed=1))
    assert_gradgradcheck(lambda a, b: [o * o for o in fn(a, b)], rand(2, 3), rand(3, seed=1))


def test_backward_hooks_see_differentiable_gradients_under_create_graph():
    """A full backward hook on a module inside a double backward gets gradient Tensors."""
    seen = []
    act = nn.Tanh()
    act.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].requires_grad))
    x = dl.tensor(np.array([0.3, -0.7]), requires_grad=True)
    (g,) = dl.autograd.grad(act(x).sum(), x, create_graph=True)
    (h,) = dl.autograd.grad(g.sum(), x)
    t = np.tanh(x.data)
    np.testing.assert_allclose(h.numpy(), -2 * t * (1 - t * t))
    assert seen[0] is True   # (the second backward passes the hooked module again)


def test_current_module_path_names_nested_modules():
    paths = []

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.Linear(2, 2)
            self.act = nn.ReLU()

        def forward(self, x):
            paths.append(current_module_path())
            return self.act(self.attn(x))

    model = nn.Sequential(nn.Linear(2, 2), Block(), nn.Sequential(Block()))
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.ReLU)):
            m.register_forward_hook(lambda mod, a, o: paths.append(current_module_path()))
    model(dl.randn(1, 2))
    assert paths == ["model.0", "model.1", "model.1.attn", "model.1.act", "model.2.0",
                     "model.2.0.attn", "model.2.0.act"]
    assert current_module_path() == ""
    with pytest.raises(ValueError):
        model(dl.randn(1, 3))
    assert current_module_path() == ""  # the stack unwinds on errors


def test_current_module_path_loss_is_named_loss():
    seen = []
    loss = nn.MSELoss()
    loss.register_forward_hook(lambda m, a, o: seen.append(current_module_path()))
    loss(dl.randn(2), dl.randn(2))
    assert seen == ["loss"]


def test_deepcopy_and_pickle_give_independent_modules():
    import copy
    import pickle
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m(dl.randn(5, 3))
    for c in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert isinstance(c[0].weight, nn.Parameter) and c[0].weight is not m[0].weight
        np.testing.assert_array_equal(c[0].weight.numpy(), m[0].weight.numpy())
        assert int(c[1].num_batches_tracked.item()) == 1
        c(dl.randn(5, 3)).sum().backward()
        assert c[0].weight.grad is not None and m[0].weight.grad is None


def test_module_paths_are_per_thread():
    import threading
    seen = {}

    class Probe(nn.Module):
        def forward(self, x):
            seen[threading.current_thread().name] = current_module_path()
            return x

    outer = nn.Sequential(nn.Identity(), Probe())

    def other():
        Probe()(1)

    class Launch(nn.Module):
        def forward(self, x):
            t = threading.Thread(target=other, name="other")
            t.start()
            t.join()
            return outer(x)

    Launch()(0)
    # the other thread's Probe is a root there; an unregistered module is named by its class
    assert seen == {"other": "model", threading.current_thread().name: "model.Sequential.1"}
