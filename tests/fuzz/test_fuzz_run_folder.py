"""Hostile and damaged run folders: ``model.json`` (missing keys, wrong types, not JSON),
``config.toml``, the checkpoint sidecar, and ``deltaflow eval RUN`` end to end with any of
its files damaged: one error naming the file, never a traceback of another kind."""
import contextlib
import io as pyio
import json
import shutil

import pytest
from hypothesis import strategies as st

from deltaflow.cli import main
from deltaflow.train import checkpoint
from deltaflow.train import run_folder as rf

from .harness import CI_EXAMPLES, LARGE_EXAMPLES, check_load, fuzz, fuzz_file, guarded

META = {"task": "classify", "model": "mlp", "data": "digits", "data_dir": None,
        "input_shape": [1, 8, 8], "num_classes": 10, "classes": list(range(10)),
        "normalize": {"mean": 0.3, "std": 0.4}}
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                     st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=5), inner,
                                                                   max_size=3)), max_leaves=8)


@st.composite
def metas(draw):
    """model.json as written, with entries dropped, retyped or added."""
    meta = dict(META)
    for key in draw(st.lists(st.sampled_from(sorted(META)), max_size=3)):
        if draw(st.booleans()):
            meta.pop(key, None)
        else:
            meta[key] = draw(JSON_VALUES)
    return json.dumps(meta).encode()


JSON_FILES = st.one_of(metas(), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                       st.binary(max_size=100), st.just(b"[" * 100_000))
TOML_FILES = st.one_of(st.binary(max_size=100),
                       st.lists(st.tuples(st.from_regex(r"[a-z_]{1,6}", fullmatch=True),
                                          st.sampled_from(["1", "nan", "'x'", "[1, 2]",
                                                           "true", "{a=1}", "[", "\"\\q\""])),
                                max_size=4).map(lambda kv: "".join(f"{k} = {v}\n"
                                                                  for k, v in kv).encode()),
                       st.just(b"a = " + b"[" * 100_000))


def _open_run(path):
    rf.open_run(path.parent)


def test_model_json_damage_is_named(tmp_path):
    path = tmp_path / rf.META_NAME
    for content, words in ((b"", "not valid JSON"), (b"[1]", "expected a JSON object"),
                           (b'{"model": "mlp"}', "no 'task' entry"),
                           (b'{"task": "classify", "num_classes": "ten"}',
                            "'num_classes' should be int"),
                           (b'{"task": "classify", "num_classes": true}', "should be int")):
        assert not check_load(_open_run, path, content)
        with pytest.raises(ValueError, match=words):
            rf.open_run(tmp_path)
    path.write_text('{"task": "classify"}')
    with pytest.raises(ValueError, match=f"{path}: no 'model' entry"):
        rf.open_run(tmp_path)["model"]
    path.write_text('{"task": "classify", "normalize": {}}')   # nested objects too
    with pytest.raises(ValueError, match=f"{path}: no 'mean' entry"):
        rf.open_run(tmp_path)["normalize"]["mean"]


def _fuzz_toml(folder, examples):
    fuzz_file("config.toml (read_toml)", TOML_FILES, rf.read_toml, folder, ".toml", examples)


def test_fuzz_model_json(tmp_path_factory):
    folder = tmp_path_factory.mktemp("meta")
    _fuzz_meta_file(folder, CI_EXAMPLES)


def _fuzz_meta_file(folder, examples):
    path = folder / rf.META_NAME
    fuzz("model.json (open_run)", JSON_FILES,
         lambda content: check_load(_open_run, path, content), examples)


def test_fuzz_config_toml(tmp_path_factory):
    _fuzz_toml(tmp_path_factory.mktemp("toml"), CI_EXAMPLES)


@pytest.mark.long
def test_fuzz_run_files_large(tmp_path_factory):
    _fuzz_meta_file(tmp_path_factory.mktemp("meta"), LARGE_EXAMPLES)
    _fuzz_toml(tmp_path_factory.mktemp("toml"), LARGE_EXAMPLES)


# -------------------------------------------------------------- a trained run, damaged
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--out", str(out), "--name", "r", "--hidden", "8", "--epochs", "1",
                 "--no-progress", "--no-plot"]) == 0
    return out / "r"


FILES = ["model.safetensors", "model.json", "config.toml", "checkpoints/last.json",
         "checkpoints/last.safetensors"]


def _damaged_runs(run, examples, name):
    """``eval`` of a copy of ``run`` with one file damaged (mutated or replaced)."""
    pristine = {f: (run / f).read_bytes() for f in FILES}
    copy = run.parent / f"damaged-{name}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy)
    from .harness import mutations
    damage = st.sampled_from(FILES).flatmap(
        lambda f: st.tuples(st.just(f), mutations(st.binary(max_size=64), pristine[f])))

    def trial(value):
        name, content = value
        for f, c in pristine.items():
            (copy / f).write_bytes(content if f == name else c)
        target = copy if not name.startswith("checkpoints") else copy / name

        def evaluate():
            err = pyio.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(pyio.StringIO()):
                rc = main(["eval", str(target), "--json"])
            if rc != 0:
                lines = err.getvalue().strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("error: "), err.getvalue()
                raise ValueError(lines[0])
        return guarded(evaluate, [copy / name, copy], len(content))

    fuzz(f"deltaflow eval RUN ({', '.join(FILES)} damaged)", damage, trial, examples)


def test_fuzz_eval_of_a_damaged_run(run):
    _damaged_runs(run, 40, "ci")


@pytest.mark.long
def test_fuzz_eval_of_a_damaged_run_large(run):
    _damaged_runs(run, 1000, "large")


def _sidecar_trial(run, folder):
    shutil.copytree(run / "checkpoints", folder / "checkpoints")
    stem = folder / "checkpoints" / "last"
    path = stem.with_suffix(".json")
    return lambda content: check_load(lambda p: checkpoint.read_checkpoint(stem), path, content)


def test_fuzz_checkpoint_sidecar(run, tmp_path):
    """The sidecar read by ``--resume`` and ``eval RUN/checkpoints/last.json`` (deep nesting:
    the test below)."""
    flat = st.one_of(metas(), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                     st.binary(max_size=100))
    fuzz("checkpoint sidecar (read_checkpoint)", flat, _sidecar_trial(run, tmp_path),
         CI_EXAMPLES // 3)


def test_checkpoint_sidecar_nested_too_deep(run, tmp_path):
    assert not _sidecar_trial(run, tmp_path)(b"[" * 100_000)
