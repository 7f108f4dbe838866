"""``deltaflow memory RUN``: what a trained memory network (``--task babi``) looked at.

    deltaflow memory runs/memn2n-en-...                       # task 1, test question 0
    deltaflow memory runs/memn2n-en-... --task 2 --question 17
    deltaflow memory runs/memn2n-joint-en-... --task 19 --split train --json

Prints the story's sentences in memory with the attention p^k of every hop over them, the
question, the model's answer and the data's, and marks (``*``) the supporting facts the
data names. The model is the run's member for that task chosen by validation error (as in
the run's results), or ``--repeat R``.
"""
from __future__ import annotations

import json

import numpy as np

from . import UsageError


def add_parser(subparsers, name="memory"):
    p = subparsers.add_parser(
        name, help="show a memory network's attention over a bAbI story, hop by hop",
        description=__doc__.split("\n\n")[2])
    p.add_argument("path", metavar="RUN_OR_CHECKPOINT", help="a --task babi run folder (or a "
                                                            "checkpoint inside one)")
    p.add_argument("--task", type=int, default=None, help="bAbI task (default: the run's "
                                                          "first)")
    p.add_argument("--question", type=int, default=0, metavar="N",
                   help="the N-th question (from 0) of that task in the split (default 0)")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--repeat", type=int, default=None, metavar="R",
                   help="the repeat R of the model instead of the one chosen by validation")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)
    return p


def chosen_member(model, meta, run_dir, task=None, repeat=None, command="memory"):
    """``(task, index of the member answering it)``: ``task`` (default the run's first), the
    repeat chosen by validation (the run's results) or ``repeat``; errors name ``command``."""
    from ..train import run_folder as rf
    task = meta["tasks"][0] if task is None else task
    keys = model.keys
    groups = [k for k, _ in keys if task in k]
    if not groups:
        raise UsageError(f"{command}: {run_dir} was not trained on task {task}")
    group = groups[0]
    if repeat is None:
        results_file = run_dir / rf.RESULTS_NAME
        results = json.loads(results_file.read_text()) if results_file.is_file() else {}
        repeat = results.get("chosen", {}).get(",".join(map(str, group)), 0)
    for m, (k, r) in enumerate(keys):
        if k == group and r == repeat:
            return task, m
    raise UsageError(f"{command}: {run_dir} has no repeat {repeat} (repeats: "
                     f"{sorted({r for k, r in keys if k == group})})")


def show(path, task=None, question=0, split="test", repeat=None) -> dict:
    """The story, attention per hop, answer and supporting facts of one question."""
    from ..tasks import babi
    model, meta, store, _, run_dir, weights = babi.load_trained(path)
    task, m = chosen_member(model, meta, run_dir, task, repeat)
    member = model.members[m]
    in_split = np.arange(store.n_train) if split == "train" \
        else np.arange(store.n_train, len(store.tasks))
    of_task = in_split[store.tasks[in_split] == task]
    if not 0 <= question < len(of_task):
        raise UsageError(f"memory: task {task} has {len(of_task)} {split} questions; "
                         f"--question must be in 0..{len(of_task) - 1}")
    i = int(of_task[question])
    story, query, time, answer = store.batch(np.array([i]))
    from ..autograd import no_grad
    with no_grad():
        attention = [p[0] for p in member.attention(story, query, time)]
        logits = member(story, query, time).numpy()[0]
    q = store.question(i)
    first = max(0, len(q.story) - meta["memory_size"])
    predicted = store.vocab[int(logits.argmax())]
    return {"run": str(run_dir), "weights": str(weights), "task": task,
            "task_name": meta["task_names"].get(str(task), ""), "split": split,
            "question_index": question, "member": {"tasks": list(model.keys[m][0]),
                                                   "repeat": model.keys[m][1]},
            "not_in_memory": first,
            "sentences": [{"text": text, "line": first + s + 1,
                           "supporting": first + s in q.supporting,
                           "attention": [float(a[s]) for a in attention]}
                          for s, text in enumerate(q.sentences[first:])],
            "question": " ".join(q.question), "answer": predicted, "data_answer": q.answer,
            "correct": predicted == q.answer,
            "supporting": [s + 1 for s in q.supporting]}


def format_text(r: dict) -> str:
    hops = len(r["sentences"][0]["attention"]) if r["sentences"] else 0
    lines = [f"task {r['task']} ({r['task_name']}), {r['split']} question {r['question_index']}"
             f"; model: repeat {r['member']['repeat']} of the "
             + ("joint model" if len(r["member"]["tasks"]) > 1 else "task's model"),
             "attention of each hop over the sentences in memory (* = a supporting fact "
             "named by the data)" + (f"; {r['not_in_memory']} earlier sentences did not fit "
                                     f"in memory" if r["not_in_memory"] else ""),
             "    #  " + "  ".join(f"hop {k + 1}" for k in range(hops)) + "  sentence"]
    for s in r["sentences"]:
        mark = "*" if s["supporting"] else " "
        lines.append(f"{mark}{s['line']:>4}  " + "  ".join(f"{a:5.2f}" for a in s["attention"])
                     + f"  {s['text']}")
    lines.append(f"question: {r['question']}?")
    lines.append(f"answer:   {r['answer']} ({'correct' if r['correct'] else 'wrong'}; the "
                 f"data's: {r['data_answer']}, from sentences "
                 f"{', '.join(map(str, r['supporting']))})")
    return "\n".join(lines)


def run(args) -> int:
    r = show(args.path, args.task, args.question, args.split, args.repeat)
    print(json.dumps(r) if args.json else format_text(r))
    return 0
