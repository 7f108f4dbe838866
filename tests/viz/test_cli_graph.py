"""``deltaflow graph``: every model ``deltaflow train`` builds, fresh and from run folders,
and the messages for what the graph cannot show."""
import re
from pathlib import Path

import pytest

from deltaflow.cli import main
from deltaflow.cli.graph import MODELS

MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak.\n" * 20


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def nodes(dot):
    return re.findall(r'^\s*"([^"]+)" \[', dot, flags=re.M)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_of_deltaflow_train(model, tmp_path, capsys):
    path = tmp_path / "g.dot"
    rc, out, err = cli(capsys, "graph", "--model", model, "--grads", "--output", path)
    assert rc == 0, err
    assert out == f"wrote {path}\n"
    dot = path.read_text()
    assert dot.startswith("digraph autograd {") and "‖g‖" in dot
    assert 0 < len(nodes(dot)) <= 60                      # --depth auto keeps it readable
    if model == "lstm":
        assert "'lstm_layer' is one op: the graph cannot show every time step" in err
    if model == "transformer":
        assert "scaled_dot_product_attention" in err and "collapsed at depth" in err
    if model in ("gan", "dcgan"):
        assert 'cluster_generator"' in dot and 'cluster_discriminator"' in dot


def test_depth_and_stdout(capsys):
    rc, out, err = cli(capsys, "graph", "--model", "transformer", "--depth", "1", "-o", "-")
    assert rc == 0
    boxes = set(re.findall(r'"m:([^"]+)"', out))
    assert boxes == {"embed", "pos", "encoder", "norm", "head"}
    assert "no gradients shown" in err
    rc, out, _ = cli(capsys, "graph", "4,8,3", "--depth", "all", "-o", "-")
    assert rc == 0 and "linear" in out and '"m:' not in out


def test_bad_options(capsys):
    rc, _, err = cli(capsys, "graph", "--depth", "deep")
    assert rc == 2 and "--depth must be a non-negative integer" in err
    rc, _, err = cli(capsys, "graph", "4,8,3", "--model", "cnn")
    assert rc == 2 and "either a target or --model" in err
    rc, _, err = cli(capsys, "graph", "--output", "graph.txt")
    assert rc == 1 and "must end in" in err


def train(capsys, tmp_path, name, *argv):
    rc, _, err = cli(capsys, "train", "--out", tmp_path, "--name", name, "--no-progress",
                     "--no-plot", *argv)
    assert rc == 0, err
    return tmp_path / name


def test_classify_run(tmp_path, capsys):
    pytest.importorskip("sklearn")
    run = train(capsys, tmp_path, "cnn", "--model", "cnn", "--channels", "4,8", "--fc", "16",
                "--epochs", "1")
    rc, _, err = cli(capsys, "graph", run, "--grads", "-o", tmp_path / "g.dot")
    assert rc == 0, err
    assert "run cnn (cnn on digits" in err
    dot = (tmp_path / "g.dot").read_text()
    assert "convolution" in dot and "max_pool" in dot and "0.weight" in dot


def test_charlm_run(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    run = train(capsys, tmp_path, "lm", "--task", "charlm", "--data", f"text:{text}",
                "--hidden-size", "16", "--embed-dim", "8", "--seq-len", "16", "--batch-size",
                "4", "--epochs", "1", "--steps-per-epoch", "2", "--eval-chars", "100",
                "--sample-tokens", "5")
    rc, _, err = cli(capsys, "graph", run, "--grads", "-o", tmp_path / "g.dot")
    assert rc == 0, err
    assert "4 × 16 characters of tiny.txt" in err and "lstm_layer" in err
    assert "lstm.weight_ih_l0" in (tmp_path / "g.dot").read_text()


def test_gan_run(tmp_path, capsys):
    if not MNIST.is_dir():
        pytest.skip("MNIST IDX files not in ../shared/data/mnist")
    run = train(capsys, tmp_path, "gan", "--task", "gan", "--data-dir", MNIST.parent,
                "--epochs", "1", "--max-minutes", "0.01")
    rc, _, err = cli(capsys, "graph", run, "--grads", "--depth", "2", "-o", tmp_path / "g.dot")
    assert rc == 0, err
    assert "the generator's loss BCE(D(G(z)), 1)" in err
    dot = (tmp_path / "g.dot").read_text()
    assert '"m:generator.net"' in dot and '"m:discriminator.net"' in dot
