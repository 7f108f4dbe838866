"""NAdam, RAdam, Adamax, Adadelta, Rprop, ASGD and LBFGS reproduce torch.optim's parameter
trajectories (float64, same gradients, within 1e-10), resume exactly from a saved state
dict, and every optimizer takes torch's signature, flags included."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import optim

torch = pytest.importorskip("torch")

SHAPES = [(4, 3), (3,), (2, 2, 2)]
STEPS = 20
TOL = dict(rtol=1e-10, atol=1e-10)
ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax", "Adadelta",
       "Rprop", "ASGD", "LBFGS"]

CASES = [
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict()),
    ("RAdam", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1)),   # rectified from step 6
    ("RAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1), maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=5, weight_decay=0.1, maximize=True)),
]


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


@pytest.fixture(autouse=True)
def torch_float64():
    """torch keeps scalar state (step, eta, mu, mu_product) in its default dtype; deltaflow
    keeps Python floats: compare with torch's default dtype float64."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _make_params(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in SHAPES]
    return ([dl.nn.Parameter(dl.tensor(a.copy())) for a in arrays],
            [torch.tensor(a.copy(), requires_grad=True) for a in arrays])


def _set_grads(ours, theirs, step):
    rng = np.random.default_rng((1, step))
    for i, shape in enumerate(SHAPES):
        g = rng.standard_normal(shape)
        if step % 3 == 2:        # now and then a gradient that agrees in sign (Rprop grows)
            g = np.abs(g) * np.sign(ours[i].data)
        ours[i].grad = dl.tensor(g.copy())
        if theirs is not None:
            theirs[i].grad = torch.tensor(g.copy())


def _run(opt, params, steps, start=0):
    for k in range(start, start + steps):
        _set_grads(params, None, k)
        opt.step()


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_trajectory_matches_torch(case):
    name, kw = case
    ours, theirs = _make_params()
    opt, topt = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    for k in range(STEPS):
        _set_grads(ours, theirs, k)
        opt.step()
        topt.step()
        for i, (p, t) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), **TOL,
                                       err_msg=f"step {k}, parameter {i}")
    for p, t in zip(ours, theirs):
        assert set(opt.state[p]) == set(topt.state[t])
        for key, value in topt.state[t].items():
            ours_value = opt.state[p][key]
            np.testing.assert_allclose(np.asarray(ours_value), value.numpy(), **TOL,
                                       err_msg=key)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_state_dict_roundtrip_through_a_file_resumes_exactly(case, tmp_path):
    name, kw = case
    full, _ = _make_params()
    _run(getattr(optim, name)(full, **kw), full, STEPS)

    first, _ = _make_params()
    opt = getattr(optim, name)(first, **kw)
    _run(opt, first, 7)
    dl.save(opt.state_dict(), tmp_path / "optim.safetensors")
    weights = [p.data.copy() for p in first]
    resumed = [dl.nn.Parameter(dl.tensor(w)) for w in weights]
    opt2 = getattr(optim, name)(resumed)
    opt2.load_state_dict(dl.load(tmp_path / "optim.safetensors"))
    assert opt2.param_groups[0] == {**opt.param_groups[0], "params": resumed}
    _run(opt2, resumed, STEPS - 7, start=7)
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name", ALL)
def test_state_dict_layout_matches_torch(name):
    ours, theirs = _make_params()
    opt, topt = getattr(optim, name)(ours), getattr(torch.optim, name)(theirs)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"][0].keys() == tsd["param_groups"][0].keys()
    for key, value in tsd["param_groups"][0].items():
        assert (tuple(sd["param_groups"][0][key]) if isinstance(value, tuple)
                else sd["param_groups"][0][key]) == value, key


@pytest.mark.parametrize("name", ALL)
def test_signature_matches_torch(name):
    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].kind == param.kind, key
        if key != "params":
            assert ours[key].default == param.default, key


@pytest.mark.parametrize("name", ALL[:-1])
def test_flags(name):
    cls = getattr(optim, name)
    takes = inspect.signature(cls).parameters
    p = dl.nn.Parameter(dl.ones(3, dtype=dl.float64))
    quiet = {k: v for k, v in dict(foreach=False, fused=False).items() if k in takes}
    opt = cls([p], **quiet)
    p.grad = dl.ones(3, dtype=dl.float64)
    opt.step()
    for flag in ("differentiable", "capturable"):
        if flag in takes:
            with pytest.raises(ValueError, match=f"{name}: {flag}=True is not supported"):
                cls([p], **{flag: True})
            with pytest.raises(ValueError, match=f"{flag}=True"):
                cls([{"params": [p], flag: True}])
            saved = opt.state_dict()
            saved["param_groups"][0][flag] = True
            with pytest.raises(ValueError, match=f"{flag}=True"):
                cls([p]).load_state_dict(saved)
    if "fused" in takes:
        with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True`"):
            cls([p], fused=True, foreach=True)


@pytest.mark.parametrize("name", ALL[:-1])
def test_maximize_ascends_as_torch(name):
    ours, theirs = _make_params()
    opt = getattr(optim, name)(ours, maximize=True)
    topt = getattr(torch.optim, name)(theirs, maximize=True)
    for k in range(5):
        _set_grads(ours, theirs, k)
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-5, atol=1e-12)


def test_old_state_dict_without_the_flags_loads():
    p = dl.nn.Parameter(dl.ones(3, dtype=dl.float64))
    opt = optim.Adam([p], lr=0.1)
    p.grad = dl.ones(3, dtype=dl.float64)
    opt.step()
    sd = opt.state_dict()
    for key in ("foreach", "fused", "capturable", "differentiable", "decoupled_weight_decay",
                "maximize"):
        del sd["param_groups"][0][key]
    opt2 = optim.Adam([p])
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["decoupled_weight_decay"] is False
    opt2.step()


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax", "Adadelta", "Rprop", "ASGD"])
def test_float32_kept_and_grad_untouched(name):
    rng = np.random.default_rng(0)
    p = dl.nn.Parameter(dl.tensor(rng.standard_normal((5, 4)).astype(np.float32)))
    opt = getattr(optim, name)([p], lr=0.1)
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


# ---------------------------------------------------------------------------------- LBFGS
X = np.random.default_rng(5).standard_normal((8, 3))
Y = np.random.default_rng(6).standard_normal((8, 2))


def _lbfgs_problem(seed=0):
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((3, 2)), rng.standard_normal(2)
    ours = [dl.nn.Parameter(dl.tensor(w.copy())), dl.nn.Parameter(dl.tensor(b.copy()))]
    theirs = [torch.tensor(w.copy(), requires_grad=True),
              torch.tensor(b.copy(), requires_grad=True)]
    return ours, theirs


def _closure(opt, params, lib):
    x, y = lib.tensor(X.copy()), lib.tensor(Y.copy())

    def closure():
        opt.zero_grad()
        loss = (((x @ params[0] + params[1]).tanh() - y) ** 2).mean() \
            + 0.01 * (params[0] ** 4).sum()
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("kw", [
    dict(),
    dict(lr=0.5, max_iter=4, history_size=3),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.8, max_iter=5, max_eval=9, history_size=2, line_search_fn="strong_wolfe"),
])
def test_lbfgs_matches_torch(kw):
    ours, theirs = _lbfgs_problem()
    opt, topt = optim.LBFGS(ours, **kw), torch.optim.LBFGS(theirs, **kw)
    closure, tclosure = _closure(opt, ours, dl), _closure(topt, theirs, torch)
    for k in range(4):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        np.testing.assert_allclose(loss.item(), tloss.item(), **TOL, err_msg=f"step {k}")
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.data, t.detach().numpy(), **TOL, err_msg=f"step {k}")
    ours_state, their_state = opt.state[ours[0]], topt.state[theirs[0]]
    assert set(ours_state) == set(their_state)
    for key in ("func_evals", "n_iter"):
        assert ours_state[key] == their_state[key], key
    assert len(ours_state["old_dirs"]) == len(their_state["old_dirs"])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_roundtrip_resumes_exactly(line_search_fn, tmp_path):
    kw = dict(lr=0.5, max_iter=3, history_size=4, line_search_fn=line_search_fn)
    full, _ = _lbfgs_problem()
    opt = optim.LBFGS(full, **kw)
    for _ in range(5):
        opt.step(_closure(opt, full, dl))

    first, _ = _lbfgs_problem()
    opt1 = optim.LBFGS(first, **kw)
    for _ in range(2):
        opt1.step(_closure(opt1, first, dl))
    dl.save(opt1.state_dict(), tmp_path / "lbfgs.safetensors")
    resumed = [dl.nn.Parameter(dl.tensor(p.data.copy())) for p in first]
    opt2 = optim.LBFGS(resumed, **kw)
    opt2.load_state_dict(dl.load(tmp_path / "lbfgs.safetensors"))
    for _ in range(3):
        opt2.step(_closure(opt2, resumed, dl))
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_lbfgs_errors():
    p = dl.nn.Parameter(dl.ones(2))
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [dl.nn.Parameter(dl.ones(2))]}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(RuntimeError, match="closure"):
        optim.LBFGS([p]).step(None)


def test_errors_are_clear():
    p = dl.nn.Parameter(dl.ones(2))
    with pytest.raises(ValueError, match="Rprop: invalid etas"):
        optim.Rprop([p], etas=(1.5, 1.2))
    with pytest.raises(ValueError, match="NAdam: invalid momentum_decay"):
        optim.NAdam([p], momentum_decay=-1.0)
    with pytest.raises(ValueError, match="RAdam: invalid betas"):
        optim.RAdam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Adadelta: invalid rho"):
        optim.Adadelta([p], rho=1.5)
