"""Search-space specs (no Optuna needed) and the bad-input messages of ``deltaflow tune``."""
from __future__ import annotations

import subprocess
import sys

import pytest

from deltaflow.tune import Choice, FloatRange, IntRange, SearchSpace, SpaceError


def test_specs_parse_to_distributions():
    space = SearchSpace.from_sources(params=["lr=loguniform:1e-4:1e-1", "dropout=uniform:0:0.5",
                                             "batch-size=int:32:256:log",
                                             "hidden=choice:128,256,512",
                                             "batchnorm=choice:true,false"])
    assert space == {"lr": FloatRange(1e-4, 1e-1, True), "dropout": FloatRange(0.0, 0.5),
                     "batch_size": IntRange(32, 256, True), "hidden": Choice((128, 256, 512)),
                     "batchnorm": Choice((True, False))}
    assert SearchSpace.parse(space.specs()) == space   # study.json's form reads back


def test_toml_file_with_array_choices(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('lr = "loguniform:1e-3:1e-2"\nhidden = ["64", "128,128"]\n')
    assert SearchSpace.from_sources(path) == {"lr": FloatRange(1e-3, 1e-2, True),
                                              "hidden": Choice(("64", "128,128"))}


@pytest.mark.parametrize("param, message", [
    ("lr=uniform:0.1:0.01", "empty range (low 0.1 > high 0.01)"),
    ("lr=uniform:0.1:0.1", "the range holds one value"),
    ("lr=loguniform:0:1", "a log range needs low > 0"),
    ("lr=normal:0:1", "bad distribution 'normal:0:1'"),
    ("lr=uniform:a:1", "'a' is not a number"),
    ("batch-size=int:1.5:8", "'1.5' is not an integer"),
    ("hidden=choice:", "choice needs values"),
    ("hidden=choice:1,1", "a value is given twice"),
    ("lr", "expected NAME=SPEC"),
])
def test_bad_specs_name_the_problem(param, message):
    with pytest.raises(SpaceError, match="^--param .*" + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        SearchSpace.from_sources(params=[param])


def test_importing_deltaflow_does_not_import_optuna():
    code = "import sys, deltaflow; deltaflow.tune.SearchSpace; assert 'optuna' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ the command's bad input
BAD = [
    (["--param", "lrr=uniform:0:1"], "unknown parameter 'lrr': deltaflow train has no --lrr"),
    (["--param", "lr=uniform:1:0"], "empty range"),
    (["--param", "lr=gauss:1:0"], "bad distribution"),
    (["--param", "dropout=uniform:0:1.5"], "dropout: expected a number in [0, 1)"),
    (["--param", "hidden-size=int:8:16"], "--hidden-size is an option of --task charlm"),
    (["--param", "out=choice:a,b"], "--out cannot be tuned"),
    (["--param", "lr=uniform:0.1:1", "--storage", "sqlite:///no/such/folder/s.db"],
     "--storage sqlite:///no/such/folder/s.db: cannot be opened"),
    (["--param", "lr=uniform:0.1:1", "--storage", "nosuchdb://x"], "cannot be opened"),
    (["--param", "lr=uniform:0.1:1", "--val-split", "0"], "needs a validation split"),
    (["--param", "lr=uniform:0.1:1", "--metric", "val_foo"], "cannot tell whether"),
    (["--param", "lr=uniform:0.1:1", "--name", "x"], "--name does not apply to a study"),
    ([], "the search space is empty"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_line_and_writes_nothing(argv, message, tmp_path, monkeypatch,
                                                  capsys):
    pytest.importorskip("optuna")
    from deltaflow.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["tune", *argv, "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []
