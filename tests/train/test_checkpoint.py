import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

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


def test_state_keeps_kinds_and_nan(tmp_path):
    """The sidecar keeps NaN (a history may hold one); arrays come back as what they were."""
    ckpt.save_checkpoint(tmp_path / "ck", _model(), epoch=1,
                         history=[{"epoch": 1, "loss": float("nan")}],
                         extra={"scalar": np.float32(0.1), "zero_d": np.array(2.0),
                                "t": dl.tensor([1.0, 2.0])})
    state = ckpt.read_checkpoint(tmp_path / "ck")
    assert math.isnan(state["history"][0]["loss"])
    extra = state["extra"]
    assert type(extra["scalar"]) is np.float32 and extra["scalar"] == np.float32(0.1)
    assert type(extra["zero_d"]) is np.ndarray and extra["zero_d"].shape == ()
    assert isinstance(extra["t"], dl.Tensor) and extra["t"].tolist() == [1.0, 2.0]


def test_unsupported_value_is_named_and_nothing_is_written(tmp_path):
    with pytest.raises(TypeError, match=r"save_checkpoint: cannot store a object \(at 'bad'\)"):
        ckpt.save_checkpoint(tmp_path / "ck", _model(), bad=object())
    assert list(tmp_path.iterdir()) == []


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

    def crash(arrays, metadata=None):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save", crash)
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
    dl.save({k: v.numpy() + 1 for k, v in model.state_dict().items()},
            tmp_path / "ck.safetensors")
    with pytest.raises(ValueError, match="inconsistent: ck.safetensors does not match"):
        ckpt.load_checkpoint(tmp_path / "ck", _model())


def test_written_files_have_normal_permissions(tmp_path):
    model = _model()
    opt = dl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train_a_bit(model, opt)
    ckpt.save_checkpoint(tmp_path / "ck", model, opt, epoch=1)
    umask = os.umask(0)
    os.umask(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.optim.safetensors",
                                                           "ck.safetensors"]
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint weights not found"):
        ckpt.read_checkpoint(tmp_path / "nope")
    dl.save({"a": np.zeros(2)}, tmp_path / "w.safetensors")
    (tmp_path / "w.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a deltaflow checkpoint sidecar"):
        ckpt.read_checkpoint(tmp_path / "w")


V1 = Path(__file__).parent / "data" / "v1_checkpoint"


def test_checkpoint_of_the_previous_format_gets_one_clear_message(tmp_path):
    """tests/train/data/v1_checkpoint.* was written by the previous version (format
    deltaflow-checkpoint/1: Linear(2, 2), Adam, StepLR, epoch 2). It cannot be resumed: the
    message names the file and says what to do, and the weights load as it says."""
    for suffix in (".json", ".safetensors", ".optim.safetensors"):
        shutil.copy(V1.with_name(V1.name + suffix), tmp_path / ("last" + suffix))
    with pytest.raises(ValueError) as err:
        ckpt.load_checkpoint(tmp_path / "last", nn.Linear(2, 2))
    message = str(err.value)
    assert f"{tmp_path / 'last.json'} was written by another version of deltaflow" in message
    assert "'deltaflow-checkpoint/1'" in message and "cannot be resumed" in message
    assert f"dl.load('{tmp_path / 'last.safetensors'}')" in message
    model = nn.Linear(2, 2)
    model.load_state_dict(dl.load(tmp_path / "last.safetensors"))
    assert model.weight.shape == (2, 2) and np.isfinite(model.weight.numpy()).all()
