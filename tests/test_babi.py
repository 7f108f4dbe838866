"""The bAbI parser and dataset on a tiny fixture, the task's pieces (task lists, the
schedule, the random time noise, batches), and short runs of ``deltaflow train --task babi``
on the real task 1 (skipped without ``../shared/data/babi``)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import deltaflow as dl
from deltaflow.cli import main
from deltaflow.data import babi as B
from deltaflow.tasks import babi as T

BABI = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "babi" / "en"
needs_babi = pytest.mark.skipif(not BABI.is_dir(), reason="../shared/data/babi/en not present")

TRAIN1 = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel? \thallway\t4
1 John travelled to the office.
2 Where is John? \toffice\t1
"""
TEST1 = """1 Sandra went to the kitchen.
2 Where is Sandra? \tkitchen\t1
"""
TRAIN8 = """1 Mary got the milk there.
2 Mary took the football there.
3 What is Mary carrying? \tmilk,football\t1 2
"""
TEST8 = """1 John picked up the apple.
2 What is John carrying? \tapple\t1
"""


@pytest.fixture
def root(tmp_path):
    for name, text in (("qa1_single-supporting-fact_train.txt", TRAIN1),
                       ("qa1_single-supporting-fact_test.txt", TEST1),
                       ("qa8_lists-sets_train.txt", TRAIN8),
                       ("qa8_lists-sets_test.txt", TEST8)):
        (tmp_path / name).write_text(text)
    return tmp_path


def test_parse_stories_questions_and_supporting_facts(root):
    qs = B.parse(root / "qa1_single-supporting-fact_train.txt", task=1)
    assert [q.question for q in qs] == [["where", "is", "mary"], ["where", "is", "daniel"],
                                        ["where", "is", "john"]]
    assert [q.answer for q in qs] == ["bathroom", "hallway", "office"]
    # question lines are not sentences; a new story starts at ID 1
    assert qs[1].story == [["mary", "moved", "to", "the", "bathroom"],
                           ["john", "went", "to", "the", "hallway"],
                           ["daniel", "went", "back", "to", "the", "hallway"],
                           ["sandra", "moved", "to", "the", "garden"]]
    assert qs[1].supporting == [2]          # line 4 is the story's third sentence
    assert qs[2].story == [["john", "travelled", "to", "the", "office"]]
    assert qs[0].sentences == ["Mary moved to the bathroom.", "John went to the hallway."]
    assert (qs[1].task, qs[1].line) == (1, 6)


def test_multi_word_answer_is_one_token(root):
    ds = B.babi(root, tasks=8, split="train")
    q = ds.questions[0]
    assert q.answer == "milk,football" and q.supporting == [0, 1]
    assert ds.vocab[ds.answers[0]] == "milk,football"
    assert "milk,football" in ds.vocab and "milk" in ds.vocab


def test_dataset_arrays_vocabulary_and_time(root):
    train = B.babi(root, tasks=[1, 8], split="train")
    test = B.babi(root, tasks=[8, 1], split="test")
    assert train.vocab == test.vocab and train.vocab[0] == B.NIL
    assert train.vocab[1:] == sorted(train.vocab[1:])
    assert "kitchen" in train.vocab              # from the test file: one vocabulary
    assert train.stories.shape[1:] == test.stories.shape[1:]
    assert list(train.tasks) == [1, 1, 1, 8] and list(test.tasks) == [1, 8]
    words = train.vocab
    second = train.stories[1]
    assert [words[i] for i in second[2] if i] == ["daniel", "went", "back", "to", "the",
                                                  "hallway"]
    assert list(train.time[1, :5]) == [4, 3, 2, 1, 0]     # 1 = the latest sentence
    assert not second[4:].any()                           # empty slots are nil
    assert [words[i] for i in train.queries[1] if i] == ["where", "is", "daniel"]
    (story, query, time), answer = train[1]
    assert words[answer] == "hallway" and story.shape == train.stories.shape[1:]


def test_memory_limit_keeps_the_last_sentences(root):
    ds = B.babi(root, tasks=1, split="train", memory_size=2)
    assert ds.stories.shape[1] == 2
    words = [[ds.vocab[i] for i in s if i] for s in ds.stories[1]]
    assert words == [["daniel", "went", "back", "to", "the", "hallway"],
                     ["sandra", "moved", "to", "the", "garden"]]
    assert list(ds.time[1]) == [2, 1] and ds.first_kept(1) == 2


@pytest.mark.parametrize("line, expected", [
    ("x Mary moved.", "expected 'ID text'"),
    ("3 Mary moved.", "should be 1 (a new story) or 2"),
    ("2 Where is Mary?\tbathroom", "tab-separated fields"),
    ("2 Where is Mary?\tbathroom\t7", "not IDs of earlier sentences"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, expected):
    path = tmp_path / "qa1_bad_train.txt"
    path.write_text(f"1 Mary moved to the bathroom.\n{line}\n")
    with pytest.raises(ValueError, match=re.escape(expected)) as err:
        B.parse(path)
    assert f"{path}:2:" in str(err.value)


def test_missing_files_and_bad_arguments(root):
    with pytest.raises(FileNotFoundError, match="qa2_"):
        B.babi(root, tasks=2)
    with pytest.raises(ValueError, match="split"):
        B.babi(root, tasks=1, split="val")
    with pytest.raises(ValueError, match="1 to 20"):
        B.babi(root, tasks=21)


def test_exposed_as_datasets_babi():
    assert dl.data.datasets.babi is B.babi


def test_task_list():
    assert T.task_list("1-3,7") == [1, 2, 3, 7]
    assert T.task_list([2, 1]) == [1, 2]
    for bad in ("0", "1-21", "x", ""):
        with pytest.raises(Exception, match="task numbers"):
            T.task_list(bad)


def test_schedule_is_the_authors():
    s = T.Schedule(linear_start=20, every=25)
    assert [s(e) for e in (0, 19)] == [0.5, 0.5]
    assert [s(e) for e in (20, 43, 44, 68, 69, 99)] == [1, 1, 0.5, 0.5, 0.25, 0.125]
    assert T.Schedule(0, 25)(24) == 0.5 and T.Schedule(0, 25)(23) == 1


def test_noisy_time():
    rng = np.random.default_rng(0)
    time = np.array([[3, 2, 1, 0, 0], [5, 4, 3, 2, 1], [1, 0, 0, 0, 0]])
    seen = set()
    for _ in range(200):
        t = T.noisy_time(time, 0.5, memory_size=10, rng=rng)
        assert t.shape == time.shape
        assert ((t > 0) == (time > 0)).all()                 # the same slots are filled
        for row, n in zip(t, (3, 5, 1)):
            kept = row[:n]
            assert (np.diff(kept) < 0).all()                 # latest sentence smallest
            assert kept.max() <= n + int(np.ceil(n * 0.5))
        seen.add(tuple(t[0]))
        assert T.noisy_time(time, 0.5, memory_size=4, rng=rng).max() <= 4   # capped
    assert len(seen) > 3                                     # it is random
    assert (T.noisy_time(time, 0.0, 5, rng) == time).all()   # no noise: the indices


def test_batches_cover_every_member_once_per_epoch():
    idx = [np.arange(10), np.arange(100, 107)]
    batches = T.Batches(idx, 4, seed=0)
    assert len(batches) == 3
    epoch = [b[0] for b in batches]
    for m, expect in enumerate(idx):
        got = np.concatenate([b[m] for b in epoch])
        assert sorted(got[got >= 0]) == list(expect) and (got == -1).sum() == 12 - len(expect)
    again = [b[0] for b in batches]
    assert not all((a == b).all() for a, b in zip(epoch, again))   # reshuffled


# ------------------------------------------------------------------ real task 1
def _train(tmp_path, *extra):
    argv = ["train", "--task", "babi", "--data", f"babi:{BABI}", "--tasks", "1",
            "--epochs", "20", "--linear-start", "10", "--out", str(tmp_path), "--no-progress",
            "--no-plot", *extra]
    assert main(argv) == 0
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    return runs[-1]


@needs_babi
def test_task1_reaches_95_percent_test_accuracy(tmp_path, capsys):
    run = _train(tmp_path, "--name", "t1")
    res = json.loads((run / "results.json").read_text())
    assert 1 - res["test_error"]["1"] >= 0.95
    assert res["failed_tasks"] == (res["test_error"]["1"] > 0.05)
    out = capsys.readouterr().out
    assert "single-supporting-fact" in out and "mean" in out
    # the nil rows stayed zero through training
    weights = load_file(str(run / "model.safetensors"))
    tables = [k for k in weights if k.endswith(".weight") and ".words." in k]
    assert tables and all(not weights[k][0].any() for k in tables)
    # eval recomputes the same table
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["test_error"] == res["test_error"]
    assert main(["eval", str(run)]) == 0
    assert "failed tasks (error > 5%)" in capsys.readouterr().out
    # the memory command shows the story, attention per hop and the supporting fact
    assert main(["memory", str(run), "--task", "1", "--question", "0"]) == 0
    shown = capsys.readouterr().out
    assert "hop 1" in shown and "hop 3" in shown and "answer" in shown and "*" in shown


@needs_babi
def test_repeats_choose_by_validation_and_resume_is_exact(tmp_path):
    short = ["--epochs", "4", "--linear-start", "2", "--repeats", "2"]
    whole = _train(tmp_path / "a", "--name", "whole", *short)
    res = json.loads((whole / "results.json").read_text())
    members = res["members"]
    assert [m["repeat"] for m in members] == [0, 1]
    best = min(range(2), key=lambda r: members[r]["val_error"]["1"])
    assert res["chosen"]["1"] == best
    assert res["test_error"]["1"] == members[best]["test_error"]["1"]
    part = _train(tmp_path / "b", "--name", "part", *short[:1], "2", *short[2:])
    assert main(["train", "--resume", str(part), "--epochs", "4", "--no-progress",
                 "--no-plot"]) == 0
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
