"""``deltaflow train --tensorboard DIR`` and the ``TensorBoard`` callback: the event files,
read back with TensorBoard's own reader, hold the expected tags at the expected steps."""
import json
import sys
from pathlib import Path

import pytest

import deltaflow as dl
from deltaflow.cli import main
from deltaflow.train import TensorBoard

pytest.importorskip("tensorboardX", reason="the [tensorboard] extra is not installed")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="tensorboard (its event reader) is not installed")
plugin_data_pb2 = pytest.importorskip("tensorboard.plugins.hparams.plugin_data_pb2")

TINY = ["--hidden", "8", "--epochs", "2", "--batch-size", "256", "--no-progress", "--no-plot"]
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20


def train(tmp_path, capsys, *argv) -> Path:
    out = [] if "--resume" in argv else ["--out", str(tmp_path / "runs")]
    rc = main(["train", *out, "--tensorboard", str(tmp_path / "tb"), *map(str, argv)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return Path(next(line.split(None, 1)[1] for line in out.splitlines()
                     if line.startswith("run ")).strip())


def events(logdir: Path):
    acc = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def steps(acc, tag) -> list[int]:
    return [e.step for e in acc.Scalars(tag)]


def session_hparams(acc) -> dict:
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}


def epoch_ends(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def test_classify_scalars_histograms_hparams(tmp_path, capsys):
    pytest.importorskip("sklearn")
    run = train(tmp_path, capsys, "--name", "c", *TINY)
    acc = events(tmp_path / "tb" / "c")
    ends = epoch_ends(run)            # the step that ended each epoch
    tags = acc.Tags()
    assert steps(acc, "batch/loss") == list(range(1, ends[-1] + 1))
    assert steps(acc, "batch/accuracy") == steps(acc, "lr/optimizer") == steps(acc, "batch/loss")
    for tag in ("train/loss", "train/accuracy", "val/loss", "val/accuracy", "epoch",
                "throughput/samples_per_s", "time/epoch_seconds", "grad_norm/model.1",
                "grad_norm/model.4"):
        assert steps(acc, tag) == ends, tag
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e.value for e in acc.Scalars("val/loss")] == pytest.approx(
        [r["val_loss"] for r in records])
    assert [e.value for e in acc.Scalars("epoch")] == [1, 2]
    # the first batch's value is the running mean after one batch: the bar's first number
    assert acc.Scalars("batch/loss")[0].value > 0
    for name in ("1.weight", "1.bias", "4.weight", "4.bias"):
        assert f"weights/{name}" in tags["histograms"] and f"grads/{name}" in tags["histograms"]
        assert [e.step for e in acc.Histograms(f"weights/{name}")] == ends
    assert acc.Histograms("weights/1.weight")[0].histogram_value.num == 64 * 8
    hp = session_hparams(acc)
    assert hp["hidden"] == "8" and hp["batch_size"] == 256 and hp["optimizer"] == "adam"
    assert "tensorboard" not in hp and "name" not in hp   # per-invocation options: not saved
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        acc.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == [
        "train/loss", "train/accuracy", "val/loss", "val/accuracy"]
    assert "_hparams_/session_end_info" in acc.PluginTagToContent("hparams")


def test_monitor_norms_every_step_and_resume_continues(tmp_path, capsys):
    pytest.importorskip("sklearn")
    run = train(tmp_path, capsys, "--name", "m", *TINY, "--epochs", "1", "--monitor")
    train(tmp_path, capsys, "--resume", run, "--epochs", "2", "--no-progress", "--monitor")
    acc = events(tmp_path / "tb" / "m")
    ends = epoch_ends(run)
    all_steps = list(range(1, ends[-1] + 1))
    assert steps(acc, "grad_norm/model.1") == steps(acc, "batch/loss") == all_steps
    # no update ratio before a monitor's first update (the resumed run has a new monitor)
    assert steps(acc, "update_ratio/model.1") == [s for s in all_steps if s not in
                                                   (1, ends[0] + 1)]
    assert steps(acc, "val/loss") == ends                       # the resumed epoch appended
    assert session_hparams(acc)["epochs"] == 1                  # written once, by the 1st run


def test_charlm_logs_too(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    train(tmp_path, capsys, "--name", "lm", "--task", "charlm", "--data", f"text:{text}",
          "--hidden-size", "8", "--embed-dim", "4", "--seq-len", "8", "--batch-size", "4",
          "--epochs", "1", "--steps-per-epoch", "5", "--eval-chars", "50",
          "--sample-tokens", "5", "--no-progress", "--no-plot")
    acc = events(tmp_path / "tb" / "lm")
    assert steps(acc, "batch/loss") == [1, 2, 3, 4, 5]
    assert steps(acc, "val/loss") == steps(acc, "val/ppl") == [5]
    assert session_hparams(acc)["task"] == "charlm"


def test_python_api_with_two_optimizer_groups(tmp_path):
    model = dl.nn.Sequential(dl.nn.Linear(3, 4), dl.nn.ReLU(), dl.nn.Linear(4, 2))
    optimizer = dl.optim.SGD([{"params": model[0].parameters()},
                              {"params": model[2].parameters(), "lr": 0.01}], lr=0.1)
    x = dl.randn(16, 3)
    y = dl.Tensor((x.numpy()[:, 0] > 0).astype("int64"))
    trainer = dl.train.Trainer(model, optimizer, callbacks=[TensorBoard(tmp_path / "tb")],
                               progress=False)
    trainer.fit([(x[:8], y[:8]), (x[8:], y[8:])], epochs=2)
    acc = events(tmp_path / "tb")
    assert [e.value for e in acc.Scalars("lr/optimizer/group1")] == pytest.approx([0.01] * 4)
    assert steps(acc, "lr/optimizer/group0") == [1, 2, 3, 4]
    assert steps(acc, "train/loss") == [2, 4]
    assert "hparams" not in acc.Tags().get("tensors", [])
    assert TensorBoard.main_process_only   # rank 0 alone writes in a distributed run


def test_missing_tensorboardx_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)   # import tensorboardX fails
    rc = main(["train", "--out", str(tmp_path), "--tensorboard", str(tmp_path / "tb"), *TINY])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip() == ('error: --tensorboard: TensorBoard logging needs tensorboardX: '
                           'pip install -e ".[tensorboard]"')
    assert not any(tmp_path.iterdir())                       # no run folder left
    with pytest.raises(ImportError, match=r'pip install -e "\.\[tensorboard\]"'):
        TensorBoard(tmp_path / "tb")
