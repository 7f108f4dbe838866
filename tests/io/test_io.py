"""dl.save / dl.load (safetensors, no pickle) and atomic JSON writes."""
from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import io as dio


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_flat_roundtrip_keeps_dtypes_shapes_and_order(tmp_path):
    rng = np.random.default_rng(0)
    sd = {
        "layer.weight": dl.tensor(rng.standard_normal((3, 2)).astype(np.float32)),
        "layer.bias": dl.tensor(rng.standard_normal(3)),
        "bn.num_batches_tracked": dl.tensor(np.array(7, dtype=np.int64)),
        "mask": np.array([True, False]),
        "img": np.arange(6, dtype=np.uint8).reshape(2, 3),
    }
    path = tmp_path / "model.safetensors"
    dl.save(sd, path)
    back = dl.load(path)
    assert list(back) == list(sd)
    for k, v in sd.items():
        got = back[k]
        assert type(got) is type(v)  # Tensors come back as Tensors, arrays as arrays
        if isinstance(v, dl.Tensor):
            assert not got.requires_grad
            got, v = got.numpy(), v.numpy()
        assert got.dtype == v.dtype and got.shape == v.shape
        np.testing.assert_array_equal(got, v)
    assert _files(tmp_path) == ["model.safetensors"]


def test_file_is_plain_safetensors(tmp_path):
    from safetensors.numpy import load_file, save_file

    path = tmp_path / "w.safetensors"
    dl.save({"w": dl.ones(2, 2)}, path)
    np.testing.assert_array_equal(load_file(str(path))["w"], np.ones((2, 2), np.float32))
    other = tmp_path / "other.safetensors"
    save_file({"x": np.arange(3.0)}, str(other), metadata={"source": "elsewhere"})
    back = dl.load(other)
    assert list(back) == ["x"] and back["x"].dtype == np.float64
    assert dio.load_metadata(other) == {"source": "elsewhere"}


def test_torch_reads_our_files(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    path = tmp_path / "w.safetensors"
    dl.save({"fc.weight": dl.tensor(np.eye(2))}, path)
    assert torch.equal(load_file(str(path))["fc.weight"], torch.eye(2, dtype=torch.float64))


def test_nested_optimizer_state_roundtrip_resumes(tmp_path):
    def params():
        rng = np.random.default_rng(0)
        return [dl.nn.Parameter(dl.tensor(rng.standard_normal(s))) for s in [(3, 2), (2,)]]

    def steps(opt, ps, start, n):
        for k in range(start, start + n):
            rng = np.random.default_rng(k)
            for p in ps:
                p.grad = dl.tensor(rng.standard_normal(p.shape))
            opt.step()

    full = params()
    opt = dl.optim.Adam([{"params": full[:1]}, {"params": full[1:], "lr": 0.1}], amsgrad=True)
    steps(opt, full, 0, 10)

    half = params()
    opt1 = dl.optim.Adam([{"params": half[:1]}, {"params": half[1:], "lr": 0.1}], amsgrad=True)
    steps(opt1, half, 0, 4)
    dio.save(opt1.state_dict(), tmp_path / "optim.safetensors", metadata={"epoch": 4})
    dl.save({f"p{i}": p for i, p in enumerate(half)}, tmp_path / "weights.safetensors")

    sd = dl.load(tmp_path / "optim.safetensors")
    assert sorted(sd["state"]) == [0, 1] and sd["state"][0]["step"] == 4
    assert isinstance(sd["param_groups"][0]["betas"], list)
    weights = dl.load(tmp_path / "weights.safetensors")
    resumed = [dl.nn.Parameter(weights[f"p{i}"]) for i in range(2)]
    opt2 = dl.optim.Adam([{"params": resumed[:1]}, {"params": resumed[1:]}])
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.1 and opt2.param_groups[0]["amsgrad"] is True
    steps(opt2, resumed, 4, 6)
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert dio.load_metadata(tmp_path / "optim.safetensors") == {"epoch": "4"}


def test_nested_values_tuples_and_int_keys(tmp_path):
    obj = {"a": {"b": dl.zeros(2), 3: (1, 2.5, None, "x")}, "lst": [np.ones(1), True],
           "n": np.float32(1.5)}
    dl.save(obj, tmp_path / "n.safetensors")
    back = dl.load(tmp_path / "n.safetensors")
    assert back["a"][3] == (1, 2.5, None, "x") and back["lst"][1] is True
    assert type(back["n"]) is np.float32 and back["n"] == 1.5
    np.testing.assert_array_equal(back["a"]["b"].numpy(), np.zeros(2))
    np.testing.assert_array_equal(back["lst"][0], np.ones(1))


def test_split_join_keep_kinds_types_and_bits():
    """What checkpoints need: int keys (optimizer state by parameter index), tuples, and
    Tensors, arrays, 0-d arrays and NumPy scalars each coming back as what they were."""
    state = {"state": {0: {"step": 3, "exp_avg": dl.tensor(np.float32([1e-8, 2.5])),
                           "raw": np.arange(3.0), "zero_d": np.array(7, np.int64),
                           "t0": dl.tensor(np.float64(0.25)), "scalar": np.float32(0.1),
                           "flag": np.bool_(True), "name": np.str_("adam")}},
             "param_groups": [{"betas": (0.9, 0.999), "lr": 0.1, "params": [0]}],
             "none": None, "rng": {"state": {"state": 2**100 + 7}}, "loss": float("nan")}
    skeleton, arrays = dio.split_arrays(state)
    assert all(type(a) is np.ndarray and a.flags.c_contiguous for a in arrays.values())
    back = dio.join_arrays(json.loads(json.dumps(skeleton)), arrays)
    entry = back["state"][0]
    assert entry["step"] == 3 and isinstance(entry["exp_avg"], dl.Tensor)
    assert entry["exp_avg"].dtype == np.float32
    assert np.array_equal(entry["exp_avg"].numpy(), np.float32([1e-8, 2.5]))
    assert type(entry["raw"]) is np.ndarray and entry["raw"].dtype == np.float64
    assert type(entry["zero_d"]) is np.ndarray and entry["zero_d"].shape == () \
        and entry["zero_d"] == 7
    assert isinstance(entry["t0"], dl.Tensor) and entry["t0"].shape == ()
    assert type(entry["scalar"]) is np.float32 and entry["scalar"] == np.float32(0.1)
    assert type(entry["flag"]) is np.bool_ and entry["name"] == "adam"
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["rng"]["state"]["state"] == 2**100 + 7 and back["none"] is None
    assert math.isnan(back["loss"])
    with pytest.raises(TypeError, match=r"checkpoint: cannot store a object \(at 'a.bad'\)"):
        dio.split_arrays({"a": {"bad": object()}}, who="checkpoint")
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        dio.split_arrays({(1, 2): 0})


def test_save_errors(tmp_path):
    with pytest.raises(TypeError, match=r"pass model.state_dict\(\)"):
        dl.save(dl.optim.SGD([dl.nn.Parameter(dl.ones(1))], lr=0.1), tmp_path / "x")
    with pytest.raises(TypeError, match="cannot store a object"):
        dl.save({"a": {"b": object()}}, tmp_path / "x")
    with pytest.raises(ValueError, match="same key 'a.b'"):
        dl.save({"a.b": np.zeros(1), "a": {"b": np.zeros(1)}}, tmp_path / "x")
    assert _files(tmp_path) == []


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    import errno

    from deltaflow.io import atomic

    path = tmp_path / "model.safetensors"
    dl.save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()

    class Full:   # a file on a full disk: part of the write lands, then ENOSPC
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:7])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(atomic, "open", lambda *a, **k: Full(open(*a, **k)), raising=False)
    with pytest.raises(OSError, match=f"cannot write {path}: No space left on device "
                                      r"\(ENOSPC\)$"):
        dl.save({"w": np.arange(5.0)}, path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["model.safetensors"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        dl.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        dl.load(bad)
    with pytest.raises(ValueError, match="unknown device"):
        dl.save({"w": np.zeros(1)}, tmp_path / "ok.safetensors") or \
            dl.load(tmp_path / "ok.safetensors", map_location="tpu")
    assert dl.load(tmp_path / "ok.safetensors", map_location="cpu")["w"].device == "cpu"


def test_json_atomic(tmp_path):
    path = tmp_path / "sub" / "state.json"
    obj = {"epoch": np.int64(3), "loss": np.float32(0.5), "rng": {"state": 2**100},
           "betas": (0.9, 0.99), "best": float("inf")}
    dio.save_json(obj, path)
    assert dio.load_json(path) == {"epoch": 3, "loss": 0.5, "rng": {"state": 2**100},
                                   "betas": [0.9, 0.99], "best": float("inf")}
    before = path.read_text()
    with pytest.raises(TypeError, match="cannot store a ndarray"):
        dio.save_json({"x": np.zeros(2)}, path)
    with pytest.raises(RuntimeError, match="boom"), dio.atomic_write(path) as f:
        f.write("half")
        raise RuntimeError("boom")
    assert path.read_text() == before
    assert _files(path.parent) == ["state.json"]


def test_atomic_replace_is_used(tmp_path, monkeypatch):
    calls = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append((a, b)), real(a, b)))
    dl.save({"w": np.zeros(1)}, tmp_path / "a.safetensors")
    dio.save_json({}, tmp_path / "a.json")
    assert [os.path.dirname(a) for a, _ in calls] == [str(tmp_path)] * 2
    assert [os.path.basename(b) for _, b in calls] == ["a.safetensors", "a.json"]


def test_written_files_have_normal_permissions_and_keep_their_suffix(tmp_path):
    """0666 & ~umask, as open() gives (not mkstemp's 0600, nor safetensors' own 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    dl.save({"w": np.zeros(1)}, tmp_path / "a.safetensors")
    dio.save_json({}, tmp_path / "a.json")
    dio.append_jsonl(tmp_path / "a.jsonl", {})
    with dio.atomic_path(tmp_path / "curves.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".curves.")
        assert tmp.suffix == ".png"  # savefig picks the format from the name
        tmp.write_bytes(b"png")
    for name in _files(tmp_path):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_rename_is_made_durable(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_mode),
                                                 real(fd)))
    dio.save_json({"x": 1}, tmp_path / "a.json")
    assert [stat.S_ISREG(m) for m in synced] == [True, False]  # the file, then its folder
    assert stat.S_ISDIR(synced[1])


def test_appends(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    dio.append_jsonl(path, {"epoch": 1, "loss": np.float32(0.5)})
    dio.append_jsonl(path, {"epoch": 2, "loss": float("nan")})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert json.loads(lines[0])["loss"] == 0.5 and math.isnan(json.loads(lines[1])["loss"])
    dio.append_text(tmp_path / "new" / "samples.txt", "a\n")
    dio.append_text(tmp_path / "new" / "samples.txt", "b")
    assert (tmp_path / "new" / "samples.txt").read_text() == "a\nb"
