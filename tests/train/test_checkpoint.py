import json
import os

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.train import checkpoint as ckpt


def _model():
    dl.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _train_a_bit(model, opt, sched=None, steps=3):
    x = dl.tensor(np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32))
    y = dl.tensor(np.arange(16) % 3)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def test_split_join_roundtrip_keeps_types_and_bits():
    state = {"state": {0: {"step": 3, "exp_avg": dl.tensor(np.float32([1e-8, 2.5])),
                           "raw": np.arange(3.0), "scalar": np.float32(0.1)}},
             "param_groups": [{"betas": (0.9, 0.999), "lr": 0.1, "params": [0]}],
             "none": None, "rng": {"state": {"state": 2**100 + 7}}}
    arrays = {}
    encoded = ckpt.split_arrays(state, arrays, "x")
    back = ckpt.join_arrays(json.loads(json.dumps(encoded)), arrays)
    entry = back["state"][0]
    assert entry["step"] == 3 and isinstance(entry["exp_avg"], dl.Tensor)
    assert entry["exp_avg"].dtype == np.float32
    assert np.array_equal(entry["exp_avg"].numpy(), np.float32([1e-8, 2.5]))
    assert isinstance(entry["raw"], np.ndarray) and entry["raw"].dtype == np.float64
    assert isinstance(entry["scalar"], np.float32) and entry["scalar"] == np.float32(0.1)
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["rng"]["state"]["state"] == 2**100 + 7 and back["none"] is None


def test_unsupported_value_is_named():
    with pytest.raises(TypeError, match="cannot store a value of type object at 's.bad'"):
        ckpt.split_arrays({"bad": object()}, {}, "s")


def test_checkpoint_roundtrip_model_optimizer_scheduler(tmp_path):
    model = _model()
    opt = dl.optim.Adam(model.parameters(), lr=1e-2)
    sched = dl.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    _train_a_bit(model, opt, sched)
    sidecar = ckpt.save_checkpoint(tmp_path / "ck", model, opt, sched, epoch=4, step=12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.optim.safetensors",
                                                           "ck.safetensors"]
    assert json.loads(sidecar.read_text())["epoch"] == 4
    # weights alone load with dl.load / safetensors, under the state_dict's keys
    loaded = dl.load(tmp_path / "ck.safetensors")
    assert set(loaded) == set(model.state_dict())
    assert loaded["1.num_batches_tracked"].shape == ()

    other = _model()
    other_opt = dl.optim.Adam(other.parameters(), lr=1.0)
    other_sched = dl.optim.lr_scheduler.StepLR(other_opt, step_size=5)
    state = ckpt.load_checkpoint(tmp_path / "ck.json", other, other_opt, other_sched)
    assert state["epoch"] == 4 and state["step"] == 12
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    assert other_sched.state_dict() == sched.state_dict()
    assert other_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    # continuing both gives the same bits
    _train_a_bit(model, opt, sched)
    _train_a_bit(other, other_opt, other_sched)
    for a, b in zip(model.parameters(), other.parameters()):
        assert np.array_equal(a.numpy(), b.numpy())


def test_files_are_written_atomically(tmp_path, monkeypatch):
    model = _model()
    ckpt.save_checkpoint(tmp_path / "ck", model, epoch=1)
    before = (tmp_path / "ck.safetensors").read_bytes()

    def crash(arrays, filename):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", crash)
    with dl.no_grad():
        model[0].weight.data[...] += 1
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(tmp_path / "ck", model, epoch=2)
    assert (tmp_path / "ck.safetensors").read_bytes() == before   # old file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]
    assert ckpt.read_checkpoint(tmp_path / "ck")["epoch"] == 1


def test_mismatched_files_are_reported_not_loaded(tmp_path):
    model = _model()
    opt = dl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train_a_bit(model, opt)
    ckpt.save_checkpoint(tmp_path / "ck", model, opt, epoch=1)
    # a crash between files: new weights, old sidecar
    ckpt.save_tensors(tmp_path / "ck.safetensors",
                      {k: v.numpy() + 1 for k, v in model.state_dict().items()})
    with pytest.raises(ValueError, match="inconsistent: ck.safetensors does not match"):
        ckpt.load_checkpoint(tmp_path / "ck", _model())


def test_written_files_have_normal_permissions(tmp_path):
    ckpt.write_json(tmp_path / "a.json", {"x": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint weights not found"):
        ckpt.read_checkpoint(tmp_path / "nope")
    ckpt.save_tensors(tmp_path / "w.safetensors", {"a": np.zeros(2)})
    (tmp_path / "w.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a deltaflow checkpoint sidecar"):
        ckpt.read_checkpoint(tmp_path / "w")
