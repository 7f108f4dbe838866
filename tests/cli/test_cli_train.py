"""``deltaflow train``: the default run, options, config files, resume, and every error path
ending in one clear line."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from deltaflow.cli import main

pytest.importorskip("sklearn")  # the digits ship with scikit-learn

FAST = ["--hidden", "32", "--epochs", "2", "--no-progress", "--no-plot"]


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_dir_of(out: str) -> Path:
    return Path(next(line.split(None, 1)[1] for line in out.splitlines()
                     if line.startswith("run ")).strip())


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_default_run(tmp_path, monkeypatch, capsys):
    """`deltaflow train` with no arguments: MLP on digits, >= 97% test accuracy."""
    monkeypatch.chdir(tmp_path)
    rc, out, _ = cli(capsys, "train")
    assert rc == 0
    run = run_dir_of(out)
    assert run.parent == Path("runs") and run.name.startswith("mlp-digits-")
    assert "test" in out and "accuracy" in out
    names = {p.name for p in run.iterdir()}
    assert {"metrics.jsonl", "model.safetensors", "config.toml", "model.json",
            "results.json", "checkpoints"} <= names
    pytest.importorskip("matplotlib")
    assert "curves.png" in names
    results = json.loads((run / "results.json").read_text())
    assert results["test_accuracy"] >= 0.97
    assert results["epochs"] == 20
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 20


def test_options_reach_the_model_and_config(tmp_path, capsys):
    rc, out, _ = cli(capsys, "train", "--out", tmp_path, "--name", "r", "--hidden", "24,12",
                     "--activation", "tanh", "--batchnorm", "--optimizer", "sgd", "--lr",
                     "0.1", "--scheduler", "step", "--epochs", "1", "--batch-size", "100",
                     "--weight-decay", "1e-4", "--clip-grad", "1.0", "--no-progress",
                     "--no-plot")
    assert rc == 0
    weights = load_file(str(tmp_path / "r" / "model.safetensors"))
    assert weights["1.weight"].shape == (24, 64) and weights["5.weight"].shape == (12, 24)
    assert "2.running_mean" in weights                       # BatchNorm1d after Linear 1
    config = (tmp_path / "r" / "config.toml").read_text()
    for line in ("hidden = [24, 12]", 'optimizer = "sgd"', "lr = 0.1", "batch_size = 100",
                 'scheduler = "step"', "clip_grad = 1.0", "batchnorm = true"):
        assert line in config
    assert "no_progress" not in config and "resume" not in config
    assert not (tmp_path / "r" / "curves.png").exists()      # --no-plot
    record = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[0])
    assert record["lr"] == 0.1 and record["step"] == 13        # ceil(0.9 · 1438 / 100) batches


def test_config_file_and_command_line_precedence(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('hidden = [16]\nepochs = 1\nbatch-size = 32\nname = "fromfile"\n'
                   'no_progress = true\nno_plot = true\n')
    rc, out, _ = cli(capsys, "train", "--config", cfg, "--epochs", "2", "--out", tmp_path)
    assert rc == 0
    saved = (tmp_path / "fromfile" / "config.toml").read_text()
    assert "hidden = [16]" in saved and "epochs = 2" in saved and "batch_size = 32" in saved
    # a run's config.toml is itself a valid --config
    rc, out, _ = cli(capsys, "train", "--config", tmp_path / "fromfile" / "config.toml",
                     "--out", tmp_path, "--name", "again", "--no-progress")
    assert rc == 0 and same_weights(tmp_path / "fromfile", tmp_path / "again")


def test_resume_to_more_epochs_is_bit_identical(tmp_path, capsys):
    """Train 2 epochs vs train 1 + resume to 2 (constant lr: the schedule has no horizon)."""
    common = [*FAST[:2], "--scheduler", "none", "--batchnorm", "--no-progress", "--no-plot",
              "--out", tmp_path]
    assert cli(capsys, "train", *common, "--epochs", "2", "--name", "full")[0] == 0
    assert cli(capsys, "train", *common, "--epochs", "1", "--name", "part")[0] == 0
    assert not same_weights(tmp_path / "full", tmp_path / "part")
    rc, out, _ = cli(capsys, "train", "--resume", tmp_path / "part", "--epochs", "2",
                     "--no-progress")
    assert rc == 0 and "resumed after 1" in out
    assert same_weights(tmp_path / "full", tmp_path / "part")
    assert "epochs = 2" in (tmp_path / "part" / "config.toml").read_text()
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    # nothing left to do
    rc, out, _ = cli(capsys, "train", "--resume", tmp_path / "part")
    assert rc == 0 and "already trained 2 epochs" in out


def test_killed_run_resumes_bit_identically(tmp_path, capsys, monkeypatch):
    """The default cosine schedule: killed after epoch 1's checkpoint, resumed with no
    options, the run ends with the same bits as one never interrupted."""
    args = ["--hidden", "32", "--epochs", "3", "--dropout", "0.3", "--no-progress",
            "--no-plot", "--out", tmp_path]
    assert cli(capsys, "train", *args, "--name", "full")[0] == 0

    from deltaflow.train.callbacks import Checkpoint
    original = Checkpoint.on_epoch_end

    def save_then_die(self, trainer, logs):
        original(self, trainer, logs)
        if trainer.epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "on_epoch_end", save_then_die)
    rc, _, err = cli(capsys, "train", *args, "--name", "killed")
    assert rc == 130 and "interrupted" in err
    monkeypatch.undo()
    rc, out, _ = cli(capsys, "train", "--resume", tmp_path / "killed", "--no-progress")
    assert rc == 0 and "resumed after 1" in out
    assert same_weights(tmp_path / "full", tmp_path / "killed")


def test_early_stopping_option(tmp_path, capsys):
    rc, out, _ = cli(capsys, "train", "--out", tmp_path, "--name", "es", "--lr", "1e-9",
                     "--scheduler", "none", "--early-stopping", "1", "--epochs", "10",
                     "--no-progress", "--no-plot", "--hidden", "8")
    assert rc == 0 and "stopped early" in out
    # it decided on 10% of the training data, not on the test split
    assert "1294 train / 144 validation (10% of train) / 359 test" in out
    assert json.loads((tmp_path / "es" / "results.json").read_text())["epochs"] < 10


def test_val_split_and_csv_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{c}\n"
                                             for r, c in zip(x, y)))
    rc, out, _ = cli(capsys, "train", "--data", f"csv:{path}", "--val-split", "0.25",
                     "--out", tmp_path, "--name", "csv", *FAST, "--epochs", "20")
    assert rc == 0 and "120 train / 40 validation (25% of train) / 40 test" in out
    assert json.loads((tmp_path / "csv" / "results.json").read_text())["test_accuracy"] > 0.8


def test_monitor_writes_a_gradient_report(tmp_path, capsys):
    pytest.importorskip("deltaflow.diagnostics.monitor")
    rc, out, _ = cli(capsys, "train", "--out", tmp_path, "--name", "m", "--monitor", *FAST)
    assert rc == 0
    assert (tmp_path / "m" / "gradient_report.txt").read_text().strip()


def test_detect_anomaly_runs_clean_training(tmp_path, capsys):
    rc, _, _ = cli(capsys, "train", "--out", tmp_path, "--name", "a", "--detect-anomaly",
                   "--hidden", "8", "--epochs", "1", "--no-progress", "--no-plot")
    assert rc == 0


def test_detect_anomaly_names_the_op(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", "--out", tmp_path, "--name", "nan", "--detect-anomaly",
                     "--lr", "1e30", "--optimizer", "sgd", "--scheduler", "none",
                     "--hidden", "8", "--epochs", "3", "--no-progress", "--no-plot")
    assert rc == 1 and err.startswith("error: ") and "Traceback" not in err


def test_diverging_run_stops_with_the_anomaly_report(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", "--out", tmp_path, "--name", "nan", "--lr", "1e30",
                     "--optimizer", "sgd", "--scheduler", "none", "--hidden", "8", "--epochs",
                     "3", "--no-progress", "--no-plot")
    report = err[err.index("error: "):]   # (NumPy may warn about the overflow first)
    assert rc == 1 and report.startswith("error: the loss became nan at epoch 1, step ")
    assert "(not applied); the step re-run under anomaly mode:\ndetect_anomaly: " in report
    assert "Traceback" not in err and not (tmp_path / "nan").exists()


# ------------------------------------------------------------------ errors: one line, rc != 0
def _bad_config(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("argv, rc, message", [
    (["--bogus"], 2, "unrecognized arguments: --bogus"),
    (["--lr", "abc"], 2, "argument --lr: expected a positive number, got 'abc'"),
    (["--lr", "-1"], 2, "expected a positive number"),
    (["--epochs", "0"], 2, "argument --epochs: expected a positive integer"),
    (["--hidden", "5,x"], 2, "expected positive layer widths like 512,512"),
    (["--dropout", "1.5"], 2, "expected a number in [0, 1)"),
    (["--optimizer", "lbfgs"], 2, "invalid choice: 'lbfgs'"),
    (["--scheduler", "warm"], 2, "invalid choice: 'warm'"),
    (["--data", "imagenet"], 2, "unknown data 'imagenet'"),
    (["--data", "text:{tmp}/x.txt", "--no-progress"], 1, "--task charlm"),
    (["--model", "resnet"], 2, "--model 'resnet' is not a classify model"),
    (["--task", "nope"], 2, "invalid choice: 'nope'"),
    (["--data", "csv:{tmp}/missing.csv", "--no-progress"], 1, "no such file"),
    (["--data", "mnist", "--data-dir", "{tmp}", "--no-progress"], 1, "IDX files were not found"),
    (["--resume", "{tmp}/nope"], 1, "no run folder"),
    (["--resume", "{tmp}"], 1, "has no config.toml"),
    (["--config", "{tmp}/missing.toml"], 1, "config file not found"),
    (["--config", "CONFIG:colour = 1"], 2, "unknown option 'colour'"),
    (["--config", "CONFIG:epochs = -3"], 2, "epochs: expected a positive integer"),
    (["--config", "CONFIG:batchnorm = 1"], 2, "batchnorm must be true or false"),
    (["--config", "CONFIG:optimizer = 'x'"], 2, "optimizer must be one of"),
    (["--config", "CONFIG:epochs = "], 1, "invalid TOML"),
])
def test_errors_are_one_clear_line(tmp_path, capsys, argv, rc, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    argv = [str(_bad_config(tmp_path, a[7:])) if a.startswith("CONFIG:") else a for a in argv]
    if "text:" in argv[-1]:
        (tmp_path / "x.txt").write_text("hello")
    code, out, err = cli(capsys, "train", "--out", tmp_path / "runs", *argv)
    assert code == rc
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert message in err
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())   # a failed run leaves nothing


def test_resume_rejects_name_and_out(tmp_path, capsys):
    cli(capsys, "train", "--out", tmp_path, "--name", "r", "--epochs", "1", *FAST[:2],
        "--no-progress", "--no-plot")
    rc, _, err = cli(capsys, "train", "--resume", tmp_path / "r", "--name", "other")
    assert rc == 2 and "--name does not apply" in err


def test_onecycle_cannot_be_extended(tmp_path, capsys):
    cli(capsys, "train", "--out", tmp_path, "--name", "r", "--scheduler", "onecycle", *FAST)
    rc, _, err = cli(capsys, "train", "--resume", tmp_path / "r", "--epochs", "4")
    assert rc == 2 and "cannot be extended" in err


def test_task_options_belong_to_their_task(monkeypatch, capsys, tmp_path):
    """Options a task adds are rejected for other tasks; a task re-declaring a common
    option changes only its default for that task; a common option the task does not use
    is refused."""
    import types

    from deltaflow.cli import train as cli_train
    from deltaflow.tasks import classify

    seen = {}

    def add_arguments(parser):
        parser.add_argument("--fake-size", type=int, default=3)
        parser.add_argument("--epochs", type=int, default=7)   # common option: default only

    def setup(opts):
        seen.update(vars(opts))
        raise ValueError("fake: stop here")

    fake = types.SimpleNamespace(add_arguments=add_arguments, setup=setup,
                                 NOT_APPLICABLE=("hidden",), RESUMABLE=(),
                                 default_name=lambda opts: "fake")
    monkeypatch.setattr(cli_train, "task_modules", lambda: {"classify": classify,
                                                             "fake": fake})
    rc, _, err = cli(capsys, "train", "--fake-size", "4")
    assert rc == 2 and "--fake-size is an option of --task fake" in err
    rc, _, err = cli(capsys, "train", "--task", "fake", "--hidden", "4")
    assert rc == 2 and "--hidden does not apply to --task fake" in err
    rc, _, err = cli(capsys, "train", "--task", "fake", "--fake-size", "4", "--out", tmp_path)
    assert rc == 1 and "fake: stop here" in err
    assert seen["fake_size"] == 4 and seen["epochs"] == 7 and seen["lr"] == 3e-3
    assert not any(tmp_path.iterdir())              # the failed run left nothing behind


def test_no_traceback_from_the_real_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "deltaflow", "train", "--epochs", "zero"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "--epochs" in proc.stderr
