"""The ``deltaflow`` commands of README.md and docs/*.md run as the docs write them.

What is a command: every line of a fenced ``bash`` block (a trailing ``\\`` joins the next
line, ``&&`` separates commands, ``# ...`` is a comment, a leading ``$ `` is dropped), and
every ``$ deltaflow ...`` line of an unlabelled block (a transcript: the lines up to the next
``$ `` are its output; a following ``$ echo $?`` gives its exit status). Lines that are not
``deltaflow`` commands must be in :data:`NOT_RUN`, which says why they are not run here.

Each command runs in-process through ``deltaflow.cli.main``, in the order of the docs, in
one scratch folder laid out like the repository's (``main/`` is the working directory, so
the docs' ``../shared/data/...`` paths point at ``shared/data/`` next to it, which holds
the first images of MNIST, the first characters of Tiny Shakespeare and the bAbI tasks
copied from the real ``../shared/data``; commands that need them skip when that is
missing). Training commands are shortened (:func:`shorten`: one or two epochs, tiny widths,
a few steps); placeholders (:data:`PLACEHOLDER_RUN`, ``text:PATH``, ``my_model.py``,
``samples.npy``) get a run folder or a file this test made first. Checked: the exit status;
for ``deltaflow train`` the files that docs/cli.md's run-folder table names for that kind
of run; for a transcript, the lines it shows — exactly (``...`` for any text, ``0.98..``
for a number that starts so) where the command ran as written, their keys (the words before
the values) where it was shortened or given another run."""
from __future__ import annotations

import codecs
import gzip
import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from deltaflow.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHARED = ROOT.parent / "shared" / "data"
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

#: command lines of the docs that are not run here, by their first word, and why
NOT_RUN = {
    "pip": "installs the package; CI runs the README's two set-up commands (.ci/run)",
    "pytest": "the test suite itself",
    "export": "sets the environment of the documented long runs (OPENBLAS_NUM_THREADS)",
    "echo": "shows the exit status in a transcript; checked as the command's expected status",
    "mpiexec": "starts several processes; tests/distributed/test_cli_ddp.py runs deltaflow "
               "train under a real mpiexec",
}
#: run-folder arguments that stand for "a run of deltaflow train": replaced by a run this
#: test made, of the task of the block's last train command (charlm for ``generate``); so is
#: a ``runs/...`` folder that no earlier command made (its command was skipped)
PLACEHOLDER_RUN = re.compile(r"^(runs/(<run>|X|[\w.-]+-\d{8}-\d{6})|RUN|RUN_OR_CHECKPOINT)$")


# ------------------------------------------------------------------ reading the docs
def _task(argv) -> str:
    return _value(argv, "--task") or "classify"


def _value(argv, option):
    return argv[argv.index(option) + 1] if option in argv[:-1] else None


@dataclass
class Command:
    where: str                  # "docs/cli.md:18"
    argv: list                  # the words after "deltaflow", as the shell would pass them
    output: list | None = None  # the transcript's output lines, if it is a transcript
    status: int = 0
    text: str = ""
    block_task: str = "classify"  # the task of the block's last train command before it


@dataclass
class DocLine:
    where: str
    words: list = field(default_factory=list)


def _ansi_c(line: str) -> str:
    """bash's ``$'...'`` quoting (``$'\\nROMEO:'``) as a plain shell-quoted string."""
    return re.sub(r"\$'((?:[^'\\]|\\.)*)'",
                  lambda m: shlex.quote(codecs.decode(m.group(1), "unicode_escape")), line)


def _fenced_blocks(text: str):
    """``(language, first line number, lines)`` of every fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^\s*```(\w*)\s*$", lines[i])
        if fence:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            yield fence.group(1), start + 1, body
        i += 1


def _joined(lines, first: int):
    """``(line number, text)`` with ``\\`` continuations joined."""
    out, pending, at = [], "", None
    for n, line in enumerate(lines, first):
        at = n if not pending else at
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((at, pending + line))
        pending = ""
    if pending:
        out.append((at, pending))
    return out


def doc_commands():
    """Every command line of the docs, in order: ``Command`` for deltaflow, ``DocLine``
    for the others."""
    found = []
    for path in DOCS:
        rel = path.relative_to(ROOT).as_posix()
        for lang, first, body in _fenced_blocks(path.read_text(encoding="utf-8")):
            block_task = "classify"
            if lang in ("bash", "sh", "shell"):
                for n, line in _joined(body, first):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    line = line[2:] if line.startswith("$ ") else line
                    for part in line.split("&&"):
                        cmd = _command(f"{rel}:{n}", part, None)
                        if isinstance(cmd, Command):
                            if cmd.argv[:1] == ["train"] and "--resume" not in cmd.argv:
                                block_task = _task(cmd.argv)
                            cmd.block_task = block_task
                        found.append(cmd)
            elif lang == "":
                joined = _joined(body, first)
                for k, (n, line) in enumerate(joined):
                    if not line.startswith("$ "):
                        continue
                    output = []
                    for _, later in joined[k + 1:]:
                        if later.startswith("$ "):
                            break
                        output.append(later)
                    cmd = _command(f"{rel}:{n}", line[2:], output)
                    rest = [later for _, later in joined[k + 1:]]
                    if isinstance(cmd, Command) and "$ echo $?" in rest:
                        cmd.status = int(rest[rest.index("$ echo $?") + 1])
                    found.append(cmd)
    return found


def _command(where, text, output):
    words = shlex.split(_ansi_c(text), comments=True)
    if words and words[0] == "deltaflow":
        return Command(where, words[1:], output, text=text.strip())
    return DocLine(where, words)


COMMANDS = doc_commands()
DELTAFLOW = [c for c in COMMANDS if isinstance(c, Command)]


def test_every_command_line_is_run_or_listed():
    """No command of the docs goes unchecked silently: it is run, or NOT_RUN says why not."""
    unknown = [f"{c.where}: {' '.join(c.words)}" for c in COMMANDS
               if isinstance(c, DocLine) and c.words and c.words[0] not in NOT_RUN]
    assert not unknown, "commands in the docs that this test neither runs nor lists in " \
                        "NOT_RUN:\n" + "\n".join(unknown)
    assert len(DELTAFLOW) >= 20
    assert any(c.argv == ["train"] for c in DELTAFLOW)
    assert any(c.argv[:1] == ["export"] for c in DELTAFLOW), "docs/cli.md's export example"


# ------------------------------------------------------------------ the run-folder table
#: the "written" column of docs/cli.md's run-folder table → when that file must exist
#: (argv: the shortened train command)
WHEN = {
    "every run": lambda argv: True,
    "every run, unless `--no-plot` (needs matplotlib)": lambda argv: "--no-plot" not in argv,
    "runs that validate (not `--task gan`, not `--val-split 0`)":
        lambda argv: _task(argv) != "gan" and _value(argv, "--val-split") not in ("0", "0.0"),
    "`--task charlm`": lambda argv: _task(argv) == "charlm",
    "`--task gan`": lambda argv: _task(argv) == "gan",
    "`--task gan --judge`": lambda argv: _task(argv) == "gan" and "--judge" in argv,
    "`--monitor`": lambda argv: "--monitor" in argv,
    "`--monitor`, unless `--no-plot`": lambda argv: "--monitor" in argv and "--no-plot" not in argv,
}


def run_folder_table():
    """``[(file patterns, when)]`` from the table under "### The run folder" in cli.md."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("### The run folder", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def test_run_folder_table_is_read():
    rows = run_folder_table()
    unknown = [when for _, when in rows if when not in WHEN]
    assert not unknown, f"cli.md run-folder table: unknown 'written' entries {unknown}; " \
                        f"teach WHEN in this test what they mean"
    names = {p for patterns, _ in rows for p in patterns}
    assert {"config.toml", "model.json", "model.safetensors", "metrics.jsonl",
            "results.json"} <= names


def _expected_files(run: Path, argv) -> list[str]:
    missing = []
    for patterns, when in run_folder_table():
        if not WHEN[when](argv):
            continue
        for pattern in patterns:
            if pattern == "curves.png":
                pytest.importorskip("matplotlib")
            glob = pattern.replace("NNN", "[0-9][0-9][0-9]")
            if not list(run.glob(glob)):
                missing.append(pattern)
    return missing


# ------------------------------------------------------------------ shortening
def _set(argv, option, value=None):
    """``argv`` with ``option`` (and its value) set, replacing what was there."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == option:
            i += 1 if value is None else 2
            continue
        out.append(argv[i])
        i += 1
    return out + ([option] if value is None else [option, str(value)])


def shorten(argv, workspace) -> list:
    """A documented command made quick; every option the docs give stays (so a removed or
    renamed option fails here), sizes and lengths are overridden."""
    if not argv or argv[0] not in ("train", "generate"):
        return argv
    if argv[0] == "generate":
        return _set(argv, "--tokens", min(int(_value(argv, "--tokens") or 500), 40))
    if "--resume" in argv:
        run = Path(workspace) / _value(argv, "--resume")
        done = json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
        argv = _set(argv, "--epochs", done + 1)
        return _set(_set(argv, "--no-progress"), "--no-plot")
    task, model = _task(argv), _value(argv, "--model")
    short = {"--epochs": 1}
    if task == "classify":
        short.update({"--hidden": 16} if model in (None, "mlp") else
                     {"--channels": "4,8", "--fc": 16})
    elif task == "charlm":
        short.update({"--epochs": 2, "--steps-per-epoch": 3, "--batch-size": 8,
                      "--seq-len": 16, "--eval-chars": 300, "--sample-tokens": 20})
        short.update({"--d-model": 16, "--heads": 2, "--layers": 1}
                     if model == "transformer" else {"--hidden-size": 16, "--embed-dim": 8})
    elif task == "gan":
        short.update({"--batch-size": 64, "--judge-epochs": 1})
    elif task == "babi":   # one task, one repeat, a tiny model, its run in the workspace
        short.update({"--tasks": 1, "--repeats": 1, "--embed-dim": 8, "--out": "runs"})
    for option, value in short.items():
        argv = _set(argv, option, value)
    return _set(_set(argv, "--no-progress"), "--no-plot")


# ------------------------------------------------------------------ the scratch folder
def _cut_mnist(folder: Path, n_train: int = 128, n_test: int = 64) -> None:
    """The first images of the real MNIST as IDX files (the format deltaflow reads)."""
    from deltaflow.data.datasets import read_idx
    folder.mkdir(parents=True)
    for stem in MNIST_FILES:
        real = next(SHARED.joinpath("mnist").glob(stem + "*"))
        array = read_idx(real)[: n_train if stem.startswith("train") else n_test]
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                          for d in array.shape)
        (folder / (stem + ".gz")).write_bytes(gzip.compress(header + array.tobytes(), 1))


class Workspace:
    """``root/main`` (the working directory of every command) and ``root/shared/data``;
    the runs this test trains for the placeholders."""

    def __init__(self, root: Path):
        self.main = root / "main"
        self.main.mkdir()
        shared = root / "shared" / "data"
        self.has_mnist = all(any(SHARED.joinpath("mnist").glob(s + "*")) for s in MNIST_FILES)
        if self.has_mnist:
            _cut_mnist(shared / "mnist")
        self.babi = SHARED / "babi" / "en"
        if self.babi.is_dir():
            shutil.copytree(self.babi, shared / "babi" / "en")
        self.text = SHARED / "text" / "tinyshakespeare.txt"
        if self.text.is_file():
            (shared / "text").mkdir(parents=True)
            head = self.text.read_text(encoding="utf-8")[:40_000]
            (shared / "text" / "tinyshakespeare.txt").write_text(head, encoding="utf-8")
        # placeholders: any text (text:PATH), the gradcheck example's model, inputs
        verse = ("ROMEO:\nTo be, or not to be: that is the question.\n\n"
                 "JULIET:\nWhat's in a name?\n\n")
        (self.main / "PATH").write_text(verse * 400, encoding="utf-8")
        (self.main / "my_model.py").write_text(_doc_model(), encoding="utf-8")
        from deltaflow.data import datasets
        x = datasets.digits().test.tensors[0].numpy()[:8]
        np.save(self.main / "samples.npy", x)
        self.runs = {}

    def run_of(self, task: str, capsys) -> Path:
        """A fresh copy of a tiny finished run of ``task`` (trained once)."""
        if task not in self.runs:
            argv = {"classify": ["train", "--hidden", "16", "--epochs", "2"],
                    "charlm": ["train", "--task", "charlm", "--data", "text:PATH",
                               "--hidden-size", "16", "--embed-dim", "8", "--epochs", "2",
                               "--steps-per-epoch", "3", "--seq-len", "16", "--batch-size",
                               "8", "--sample-tokens", "10"],
                    "gan": ["train", "--task", "gan", "--epochs", "1", "--judge-epochs", "1"],
                    "babi": ["train", "--task", "babi", "--tasks", "1", "--epochs", "1",
                             "--embed-dim", "8"],
                    }[task]
            rc, out, err = _main(argv + ["--no-progress", "--no-plot", "--out", "made",
                                         "--name", task], self.main, capsys)
            assert rc == 0, err
            self.runs[task] = self.main / "made" / task
        n = len(list((self.main / "made").iterdir()))
        copy = self.main / "made" / f"{task}-{n}"
        shutil.copytree(self.runs[task], copy)
        return copy.relative_to(self.main)


def _doc_model() -> str:
    """my_model.py of docs/diagnostics.md: its Python block with ``class BadSquare``."""
    text = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    block = next(b for lang, _, b in _fenced_blocks(text)
                 if lang == "python" and any("class BadSquare" in line for line in b))
    return "\n".join(block) + "\n"


def _main(argv, cwd: Path, capsys):
    import os
    before = Path.cwd()
    os.chdir(cwd)
    try:
        rc = main([str(a) for a in argv])
    finally:
        os.chdir(before)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("docs"))


def _needs(cmd: Command, ws: Workspace):
    """Why ``cmd`` cannot run here, or None."""
    text = " ".join(cmd.argv)
    mnist = "mnist" in text or _task(cmd.argv) == "gan" or cmd.block_task == "gan"
    if mnist and not ws.has_mnist:
        return f"needs MNIST in {SHARED / 'mnist'}"
    if "tinyshakespeare" in text and not ws.text.is_file():
        return f"needs {ws.text}"
    if "babi" in (_task(cmd.argv), cmd.block_task) and not ws.babi.is_dir():
        return f"needs bAbI in {ws.babi}"
    if _task(cmd.argv) == "classify" and cmd.argv[:1] == ["train"] and "mnist" not in text \
            or cmd.argv[:1] in (["eval"], ["predict"], ["explain"], ["export"]):
        pytest.importorskip("sklearn")  # the digits ship with scikit-learn
    if cmd.argv[:1] == ["export"]:
        pytest.importorskip("onnx", reason="deltaflow export needs the onnx package")
    if cmd.argv[:1] == ["graph"] and not _graph_writes_text(cmd.argv) \
            and shutil.which("dot") is None:
        return "needs Graphviz's dot program to render (apt-get install graphviz)"
    return None


def _graph_writes_text(argv) -> bool:
    """Whether a ``deltaflow graph`` command writes DOT text (to stdout with ``-``, or a
    .dot/.gv file), which needs no Graphviz; its default output, graph.svg, is rendered."""
    from deltaflow.viz.dot import TEXT
    output = _value(argv, "--output") or _value(argv, "-o") or "graph.svg"
    return output == "-" or output.endswith(TEXT)


def _substitute(cmd: Command, ws: Workspace, capsys) -> tuple[list, bool]:
    """The command's words with placeholders replaced; True if any was."""
    argv, replaced = [], False
    for k, word in enumerate(cmd.argv):
        previous = cmd.argv[k - 1] if k else ""
        is_run_arg = (k == 1 and cmd.argv[0] in ("eval", "predict", "generate", "explain",
                                                 "gradcheck", "graph", "export", "memory")
                      ) or previous == "--resume"
        elsewhere = word.startswith(("runs/", "/")) and not (ws.main / word).exists()
        if is_run_arg and (PLACEHOLDER_RUN.match(word) or elsewhere):
            word = str(ws.run_of("charlm" if cmd.argv[0] == "generate" else cmd.block_task,
                                 capsys))
            replaced = True
        elif word == "text:PATH":
            replaced = True
        argv.append(word)
    return argv, replaced


# ------------------------------------------------------------------ comparing transcripts
def _line_pattern(line: str) -> str:
    pattern = re.escape(line.rstrip())
    pattern = pattern.replace(r"\.\.\.", ".*")
    return re.sub(r"(\d)\\\.\\\.", r"\1\\d*", pattern)


def _matches(doc_lines, out_lines) -> bool:
    """The output matches the transcript: ``...`` lines stand for any lines."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if line.strip() == "..." else _line_pattern(line)
                      + r"\n" for line in doc_lines)
    return re.fullmatch(pattern, "".join(line.rstrip() + "\n" for line in out_lines)) \
        is not None


def _keys(lines) -> set:
    """The words before the values: ``"key":`` in JSON, else what precedes two spaces."""
    keys = set()
    for line in lines:
        if line.lstrip().startswith("{"):
            keys |= set(re.findall(r'"(\w+)":', line))
        elif re.match(r"^\w[\w ]*?\s{2,}\S", line):
            keys.add(re.match(r"^(\w[\w ]*?)\s{2,}", line).group(1))
    return keys


# ------------------------------------------------------------------ the test
def _ids(commands):
    return [f"{c.where} {' '.join(c.argv[:3])}" for c in commands]


@pytest.mark.parametrize("cmd", DELTAFLOW, ids=_ids(DELTAFLOW))
def test_doc_command_runs(cmd: Command, workspace: Workspace, capsys):
    reason = _needs(cmd, workspace)
    if reason:
        pytest.skip(reason)
    argv, replaced = _substitute(cmd, workspace, capsys)
    short = shorten(argv, workspace.main)
    rc, out, err = _main(short, workspace.main, capsys)
    assert rc == cmd.status, f"{cmd.where}: deltaflow {' '.join(short)} exited {rc}:\n{err}"
    if argv[0] == "train" and rc == 0:
        run = workspace.main / next(line.split(None, 1)[1] for line in out.splitlines()
                                    if line.startswith("run "))
        missing = _expected_files(run, short)
        assert not missing, f"{cmd.where}: {run} lacks {missing} (docs/cli.md, run folder)"
        assert run.joinpath("results.json").is_file()
    if "--json" in argv and rc == 0:
        json.loads(out)
    if cmd.output:
        shown = [line for line in cmd.output if line.strip()]
        if short == argv and not replaced:
            assert _matches(shown, out.splitlines()), \
                f"{cmd.where}: the output differs from the docs:\n{out}"
        else:
            missing = _keys(shown) - _keys(out.splitlines())
            assert not missing, f"{cmd.where}: the docs show {sorted(missing)}, the " \
                                f"output has not:\n{out}"


@pytest.mark.slow
def test_default_run_prints_what_cli_md_shows(tmp_path, capsys):
    """`deltaflow train` as written (20 epochs on the digits) and `deltaflow eval` of its run
    print what docs/cli.md shows, numbers included (to the digits it gives)."""
    pytest.importorskip("sklearn")
    shown = {tuple(c.argv[:1]) + (("--json",) if "--json" in c.argv else ()): c
             for c in DELTAFLOW if c.where.startswith("docs/cli.md") and c.output}
    train, evaluate = shown[("train",)], shown[("eval", "--json")]
    assert train.argv == ["train"]
    rc, out, err = _main(["train"], tmp_path, capsys)
    assert rc == 0, err
    assert _matches([line for line in train.output if line.strip()], out.splitlines()), out
    run = next(line.split(None, 1)[1] for line in out.splitlines() if line.startswith("run "))
    rc, out, err = _main(["eval", run, "--json"], tmp_path, capsys)
    assert rc == 0, err
    assert _matches(evaluate.output, out.splitlines()), out
