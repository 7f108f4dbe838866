"""The bAbI question-answering tasks (Weston et al. 2015, arXiv:1502.05698) as arrays.

A file ``qa{N}_{name}_{train,test}.txt`` holds stories, one sentence per line, ``ID text``;
IDs start at 1 with every new story. A question line is ``ID question<TAB>answer<TAB>IDs``
(the supporting facts: IDs of the story's lines). Every question becomes one sample: the
story's sentences before it (question lines are not sentences), the question, the answer
(a comma-separated answer of tasks 8 and 19, ``s,e``, is one answer word, as in the MemN2N
paper) and the supporting sentences.

:func:`babi` reads the tasks it is given, builds one vocabulary over their train and test
files (index 0 is the nil word ``<nil>``, then the words sorted, so both splits of the same
tasks share it) and keeps the last ``memory_size`` sentences of each story. The arrays,
padded with 0:

* ``stories`` (Q, memory_size, L): word ids of the kept sentences, oldest first;
* ``queries`` (Q, L_q), ``answers`` (Q,), ``tasks`` (Q,) (the task number of each question);
* ``time`` (Q, memory_size): the temporal index of each slot, 1 for the sentence just before
  the question, 2 for the one before it, ..., 0 for an empty slot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import Dataset

NIL = "<nil>"
TASKS = tuple(range(1, 21))
_WORD = re.compile(r"[a-z0-9']+")


@dataclass
class Question:
    """One question as read: its story's sentences before it (tokens), the question tokens,
    the answer word, the supporting facts (indices into ``story``), where it was read."""

    task: int
    story: list
    question: list
    answer: str
    supporting: list
    source: str = ""
    line: int = 0
    sentences: list = field(default_factory=list)   # the sentences as written


def tokens(text: str) -> list[str]:
    """Lower-case words without punctuation: ``"Where is Mary?"`` → ``["where", "is",
    "mary"]``."""
    return _WORD.findall(text.lower())


def parse(path, task: int = 0) -> list[Question]:
    """The questions of one bAbI file; a malformed line raises ``ValueError`` naming the
    file, the line number and what was expected."""
    path = Path(path)
    questions: list[Question] = []
    story: list = []        # (line ID, tokens, text) of the current story's sentences
    last_id = 0
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); a "
                         "bAbI file is UTF-8 text") from None
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        head, _, rest = line.partition(" ")
        if not head.isdigit() or not rest.strip():
            raise ValueError(f"{where}: expected 'ID text' with a positive integer ID, "
                             f"got {line!r}")
        line_id = int(head)
        if line_id == 1:
            story, last_id = [], 0
        elif line_id != last_id + 1:
            raise ValueError(f"{where}: line ID {line_id} should be 1 (a new story) or "
                             f"{last_id + 1} (the next line)")
        last_id = line_id
        if "\t" not in rest:
            story.append((line_id, tokens(rest), rest.strip()))
            continue
        fields = rest.split("\t")
        if len(fields) != 3 or not fields[1].strip():
            raise ValueError(f"{where}: expected 'ID question<TAB>answer<TAB>supporting "
                             f"IDs', got {len(fields)} tab-separated fields in {line!r}")
        position = {sid: i for i, (sid, _, _) in enumerate(story)}
        try:
            supporting = [position[int(s)] for s in fields[2].split()]
        except (KeyError, ValueError):
            raise ValueError(f"{where}: supporting facts {fields[2]!r} are not IDs of "
                             f"earlier sentences of this story") from None
        questions.append(Question(task, [t for _, t, _ in story], tokens(fields[0]),
                                  fields[1].strip().lower(), supporting, str(path),
                                  number, [s for _, _, s in story]))
    return questions


def task_files(root, task: int) -> dict:
    """``{"train": path, "test": path}`` of task ``task`` (1-20) in folder ``root``."""
    root = Path(root)
    if task not in TASKS:
        raise ValueError(f"babi: tasks are 1 to 20, got {task}")
    files = {}
    for split in ("train", "test"):
        found = sorted(root.glob(f"qa{task}_*_{split}.txt"))
        if len(found) != 1:
            raise FileNotFoundError(f"babi: expected one file qa{task}_*_{split}.txt in "
                                    f"{root}, found {len(found)}")
        files[split] = found[0]
    return files


def task_name(root, task: int) -> str:
    """``"single-supporting-fact"`` for task 1 (from its file name)."""
    return task_files(root, task)["train"].stem.split("_", 1)[1].rsplit("_", 1)[0]


class Babi(Dataset):
    """Questions of some bAbI tasks as padded arrays (see the module docstring); item ``i``
    is ``((story, query, time), answer)``. ``questions`` keeps what was read, ``vocab``
    the words (``vocab[0]`` is ``<nil>``), ``task_names`` the name of each task."""

    def __init__(self, questions, vocab, memory_size, sentence_len, query_len, task_names):
        self.questions, self.vocab, self.memory_size = questions, list(vocab), memory_size
        self.task_names = dict(task_names)
        index = {w: i for i, w in enumerate(self.vocab)}
        Q = len(questions)
        self.stories = np.zeros((Q, memory_size, sentence_len), dtype=np.int64)
        self.queries = np.zeros((Q, query_len), dtype=np.int64)
        self.time = np.zeros((Q, memory_size), dtype=np.int64)
        self.answers = np.array([index[q.answer] for q in questions], dtype=np.int64)
        self.tasks = np.array([q.task for q in questions], dtype=np.int64)
        for n, q in enumerate(questions):
            kept = q.story[-memory_size:]
            for i, sentence in enumerate(kept):
                self.stories[n, i, :len(sentence)] = [index[w] for w in sentence]
            self.time[n, :len(kept)] = np.arange(len(kept), 0, -1)
            self.queries[n, :len(q.question)] = [index[w] for w in q.question]

    def first_kept(self, i: int) -> int:
        """Index in ``questions[i].story`` of the first sentence kept in memory."""
        return max(0, len(self.questions[i].story) - self.memory_size)

    def __len__(self) -> int:
        return len(self.questions)

    def __getitem__(self, i):
        return (self.stories[i], self.queries[i], self.time[i]), self.answers[i]

    def __repr__(self) -> str:
        return (f"Babi(tasks={sorted(self.task_names)}, questions={len(self)}, "
                f"vocab={len(self.vocab)}, memory_size={self.memory_size})")


def babi(root, tasks=TASKS, split: str = "train", memory_size: int = 50) -> Babi:
    """The questions of ``tasks`` (an int or several, 1-20) in ``split`` (``"train"`` or
    ``"test"``) of the bAbI folder ``root`` (the ``en/`` folder of the 1k tasks), with one
    vocabulary over both splits of those tasks and at most ``memory_size`` sentences of
    each story (the last ones)."""
    if split not in ("train", "test"):
        raise ValueError(f"babi: split must be 'train' or 'test', got {split!r}")
    return babi_splits(root, tasks, memory_size)[split]


def babi_splits(root, tasks=TASKS, memory_size: int = 50) -> dict:
    """``{"train": Babi, "test": Babi}`` of :func:`babi`, the files read once."""
    if memory_size < 1:
        raise ValueError(f"babi: memory_size must be at least 1, got {memory_size}")
    tasks = [tasks] if isinstance(tasks, int) else sorted(set(tasks))
    if not tasks:
        raise ValueError("babi: no tasks given")
    if not Path(root).is_dir():
        raise FileNotFoundError(f"babi: no folder {root}")
    both = {s: [] for s in ("train", "test")}
    for task in tasks:
        for s, path in task_files(root, task).items():
            both[s].extend(parse(path, task))
    everything = both["train"] + both["test"]
    words = {w for q in everything for w in (*q.question, q.answer)}
    words.update(w for q in everything for sentence in q.story for w in sentence)
    sentence_len = max(len(s) for q in everything for s in q.story)
    query_len = max(len(q.question) for q in everything)
    names = {t: task_name(root, t) for t in tasks}
    return {s: Babi(both[s], [NIL, *sorted(words)], memory_size, sentence_len, query_len, names)
            for s in both}


__all__ = ["Babi", "NIL", "Question", "TASKS", "babi", "babi_splits", "parse", "task_files",
           "task_name", "tokens"]
