"""Every optimizer reproduces PyTorch's parameter trajectory (float64, 20 steps, same grads)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import optim

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 2, 2)]
STEPS = 20

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
]


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _make_params(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    ours = [dl.nn.Parameter(dl.tensor(a.copy())) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    return ours, theirs


def _grads(step, seed=1):
    rng = np.random.default_rng((seed, step))
    return [rng.standard_normal(s) for s in SHAPES]


def _set_grads(ours, theirs, step):
    for i, (p, g) in enumerate(zip(ours, _grads(step))):
        p.grad = dl.tensor(g.copy())
        if theirs is not None:
            theirs[i].grad = torch.tensor(g.copy())


def _run(opt, params, steps, start=0, theirs=None, topt=None):
    for k in range(start, start + steps):
        _set_grads(params, theirs, k)
        opt.step()
        if topt is not None:
            topt.step()


def _assert_same(ours, theirs, msg=""):
    for i, (p, t) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-5, atol=1e-12,
                                   err_msg=f"{msg} parameter {i}")


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_trajectory_matches_torch(case):
    name, kw = case
    ours, theirs = _make_params()
    opt = getattr(optim, name)(ours, **kw)
    topt = getattr(torch.optim, name)(theirs, **kw)
    for k in range(STEPS):
        _set_grads(ours, theirs, k)
        opt.step()
        topt.step()
        _assert_same(ours, theirs, f"step {k}")
    for p, t in zip(ours, theirs):
        assert set(opt.state[p]) == set(topt.state[t])


@pytest.mark.parametrize("name,group_kw", [
    ("SGD", [dict(lr=0.1, momentum=0.9), dict(lr=0.01, nesterov=True, momentum=0.5)]),
    ("Adam", [dict(lr=0.01), dict(lr=0.001, amsgrad=True, weight_decay=0.1)]),
    ("AdamW", [dict(weight_decay=0.0), dict(lr=0.02, betas=(0.5, 0.9))]),
    ("RMSprop", [dict(centered=True), dict(momentum=0.9, lr=0.001)]),
    ("Adagrad", [dict(lr_decay=0.1), dict(lr=0.5)]),
])
def test_param_groups_match_torch(name, group_kw):
    ours, theirs = _make_params()
    groups = [dict(params=ours[:1], **group_kw[0]), dict(params=ours[1:2], **group_kw[1])]
    tgroups = [dict(params=theirs[:1], **group_kw[0]), dict(params=theirs[1:2], **group_kw[1])]
    opt = getattr(optim, name)(groups, lr=0.05)
    topt = getattr(torch.optim, name)(tgroups, lr=0.05)
    opt.add_param_group({"params": [ours[2]], "lr": 0.003})
    topt.add_param_group({"params": [theirs[2]], "lr": 0.003})
    _run(opt, ours, STEPS, theirs=theirs, topt=topt)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_state_dict_roundtrip_resumes_exactly(case):
    name, kw = case
    full, _ = _make_params()
    opt = getattr(optim, name)(full, **kw)
    _run(opt, full, STEPS)

    first, _ = _make_params()
    opt1 = getattr(optim, name)(first, **kw)
    _run(opt1, first, 7)
    sd = opt1.state_dict()
    weights = [p.data.copy() for p in first]
    _run(opt1, first, 3, start=7)  # the snapshot must not follow later updates
    # what a checkpoint keeps: arrays as copies, everything else through JSON
    arrays = {(i, k): v.numpy().copy() for i, s in sd["state"].items()
              for k, v in s.items() if isinstance(v, dl.Tensor)}
    skeleton = json.loads(json.dumps({
        "state": {i: {k: (None if isinstance(v, dl.Tensor) else v) for k, v in s.items()}
                  for i, s in sd["state"].items()},
        "param_groups": sd["param_groups"]}))
    for i, s in skeleton["state"].items():
        for k in s:
            if s[k] is None:
                s[k] = arrays[(int(i), k)]

    resumed = [dl.nn.Parameter(dl.tensor(w)) for w in weights]
    opt2 = getattr(optim, name)(resumed, lr=123.0) if name == "SGD" else \
        getattr(optim, name)(resumed)
    opt2.load_state_dict(skeleton)
    assert opt2.param_groups[0]["lr"] == (kw.get("lr", opt.defaults["lr"]))
    _run(opt2, resumed, STEPS - 7, start=7)
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_layout_matches_torch():
    ours, theirs = _make_params()
    groups = [dict(params=ours[:2]), dict(params=ours[2:], lr=0.1)]
    tgroups = [dict(params=theirs[:2]), dict(params=theirs[2:], lr=0.1)]
    opt, topt = optim.Adam(groups, lr=0.01), torch.optim.Adam(tgroups, lr=0.01)
    _run(opt, ours, 2, theirs=theirs, topt=topt)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sd["state"].keys() == tsd["state"].keys() == {0, 1, 2}
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        for k, v in g.items():
            assert k in tg and (tuple(v) if k == "betas" else v) == tg[k], k
    assert sd["state"][0]["step"] == 2
    np.testing.assert_allclose(sd["state"][2]["exp_avg"].numpy(),
                               tsd["state"][2]["exp_avg"].numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_float32_kept_and_grad_untouched(name):
    rng = np.random.default_rng(0)
    p = dl.nn.Parameter(dl.tensor(rng.standard_normal((5, 4)).astype(np.float32)))
    kw = dict(momentum=0.9, weight_decay=0.1) if name in ("SGD", "RMSprop") else \
        dict(weight_decay=0.1)
    opt = getattr(optim, name)([p], lr=0.1, **kw)
    for _ in range(3):
        g = rng.standard_normal((5, 4)).astype(np.float32)
        p.grad = dl.tensor(g.copy())
        before = p.data
        opt.step()
        assert p.data is before, "update must be in place"
        np.testing.assert_array_equal(p.grad.data, g)
    assert p.dtype == np.float32
    for v in opt.state[p].values():
        assert not hasattr(v, "dtype") or v.dtype == np.float32


def test_sgd_first_momentum_buffer_is_a_copy_of_the_gradient():
    p = dl.nn.Parameter(dl.zeros(3, dtype=dl.float64))
    opt = optim.SGD([p], lr=1.0, momentum=0.9)
    g = np.array([1.0, 2.0, 3.0])
    p.grad = dl.tensor(g)
    with dl.warnings.allow(dl.warnings.GradAccumulationWarning):   # one gradient, two steps
        opt.step()
        opt.step()  # second step scales the buffer in place: must not touch the gradient
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(p.data, -(g + 1.9 * g))


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = dl.nn.Parameter(dl.ones(2)), dl.nn.Parameter(dl.ones(2))
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = dl.ones(2)
    opt.step()
    np.testing.assert_array_equal(a.data, [0.5, 0.5])
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    shared = a.grad.data
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and not a.grad.data.any() and b.grad is None
    assert shared.all(), "zero_grad must not write into a gradient array"
    opt.zero_grad()
    assert a.grad is None


def test_closure_returns_loss():
    p = dl.nn.Parameter(dl.tensor([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == 9.0
    assert float(p.data[0]) == pytest.approx(3.0 - 0.25 * 6.0)


def test_errors_are_clear():
    p = dl.nn.Parameter(dl.ones(2))
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([p], lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="2 parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}, {"params": [1]}]})
    with pytest.raises(ValueError, match="has 2 parameters in the state dict"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1]}]})
    adam = optim.Adam([p])
    with pytest.raises(ValueError, match="shape"):
        adam.load_state_dict({"state": {0: {"step": 1, "exp_avg": np.zeros(3),
                                            "exp_avg_sq": np.zeros(2)}},
                              "param_groups": [adam.state_dict()["param_groups"][0]]})
