"""``deltaflow export RUN --format onnx [--opset N] [--output FILE] [--task N] [--repeat R]
[--check]``: a trained run as an ONNX model that runs where deltaflow is not installed
(onnxruntime, ...).

The graph takes what the run's own commands take: a classifier the raw samples that
``deltaflow predict`` reads (its standardisation is part of the graph) and gives
``logits`` and ``probabilities``; a character model character ids (and, for the LSTM, the
state it carries) and gives next-character logits; a GAN its generator's noise and gives
images in [−1, 1]; a memory network (``--task babi``) one of its models (``--task N``,
``--repeat R``, as ``deltaflow memory`` chooses) on word ids ``story``, ``query``, ``time``
and gives answer logits and probabilities over the vocabulary. The batch (and a character
model's sequence length, a memory network's slots and sentence lengths) is dynamic. What
a caller must know (classes, vocabulary, preprocessing) is printed and stored in the
model's ``metadata_props``. ``--check`` runs the file with onnxruntime, when installed,
on an example batch and compares it with deltaflow.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import UsageError


def add_parser(subparsers, name):
    p = subparsers.add_parser(name, help="export a trained run as an ONNX model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("path", metavar="RUN_OR_CHECKPOINT", help="a run folder or a checkpoint")
    p.add_argument("--format", default="onnx", choices=("onnx",), help="onnx (the default)")
    p.add_argument("--opset", type=int, default=17, metavar="N",
                   help="ONNX opset version (default 17)")
    p.add_argument("--output", metavar="FILE", help="where to write (default RUN/model.onnx)")
    p.add_argument("--task", type=int, default=None, metavar="N",
                   help="babi run: the model of bAbI task N (default: the run's first)")
    p.add_argument("--repeat", type=int, default=None, metavar="R",
                   help="babi run: repeat R instead of the one chosen by validation")
    p.add_argument("--check", action="store_true",
                   help="run the exported model with onnxruntime on an example batch and "
                        "compare it with deltaflow")
    p.set_defaults(run=run)
    return p


@dataclass
class Exportable:
    """What one task exports: the module, example inputs and how to describe them."""

    model: object
    inputs: tuple
    input_names: list
    output_names: list
    dynamic_axes: dict
    metadata: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _standardised(model, stats):
    """``model`` applied to (x − mean)/std: the run's input scaling inside the graph."""
    from .. import nn
    from ..functional import softmax
    from ..tensor import Tensor

    class Standardised(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("mean", Tensor(np.asarray(stats["mean"], dtype=np.float32)))
            self.register_buffer("std", Tensor(np.asarray(stats["std"], dtype=np.float32)))

        def forward(self, x):
            logits = self.model((x - self.mean) / self.std)
            return logits, softmax(logits, dim=1)

    return Standardised().eval()


def _classify(path) -> Exportable:
    from ..tasks.classify import load_trained
    model, _, meta, _, _ = load_trained(path)
    shape, stats = tuple(meta["input_shape"]), meta["normalize"]
    rng = np.random.default_rng(0)
    mean, std = (np.asarray(stats[k], dtype=np.float32) for k in ("mean", "std"))
    x = (mean + std * rng.standard_normal((2, *shape))).astype(np.float32)
    classes = meta.get("classes") or list(range(meta["num_classes"]))
    scaling = ("per column" if np.ndim(stats["mean"]) else
               f"mean {float(stats['mean']):.6g}, std {float(stats['std']):.6g}")
    input_note = ("raw samples as `deltaflow predict` reads them (float32, shape "
                  f"[batch, {', '.join(map(str, shape))}]); the run's standardisation "
                  f"(x − mean)/std ({scaling}) is part of the graph: apply nothing")
    return Exportable(
        _standardised(model, stats), (x,), ["input"], ["logits", "probabilities"],
        {"input": {0: "batch"}, "logits": {0: "batch"}, "probabilities": {0: "batch"}},
        {"deltaflow.input": input_note, "deltaflow.classes": json.dumps(classes),
         "deltaflow.outputs": "logits [batch, classes]; probabilities = softmax(logits); "
                              "the predicted class is classes[argmax]"},
        [f"input: {input_note}", f"classes (argmax of logits): {classes}"])


def _charlm(path) -> Exportable:
    from .. import nn
    from ..models.charlm import CharLSTM
    from ..tasks.charlm import load_trained
    model, meta, _, _ = load_trained(path)
    vocab = meta["vocab"]
    rng = np.random.default_rng(0)
    meta_props = {"deltaflow.vocab": json.dumps(vocab),
                  "deltaflow.input": "ids: int64 [batch, sequence], the index of each "
                                     "character in deltaflow.vocab"}
    seq = {0: "batch", 1: "sequence"}
    if isinstance(model, CharLSTM):
        lstm = model.lstm
        state = np.zeros((lstm.num_layers, 2, lstm.hidden_size), dtype=np.float32)

        class Stateful(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, ids, h0, c0):
                logits, (h, c) = self.model(ids, (h0, c0))
                return logits, h, c

        ids = rng.integers(0, len(vocab), (2, 8)).astype(np.int64)
        batch1 = {1: "batch"}
        meta_props["deltaflow.state"] = ("h0, c0: float32 [layers, batch, hidden] (zeros to "
                                         "start); feed h_n, c_n back to continue the text")
        return Exportable(Stateful().eval(), (ids, state, state.copy()), ["ids", "h0", "c0"],
                          ["logits", "h_n", "c_n"],
                          {"ids": seq, "h0": batch1, "c0": batch1, "logits": seq,
                           "h_n": batch1, "c_n": batch1}, meta_props,
                          [meta_props["deltaflow.input"], meta_props["deltaflow.state"]])

    class Logits(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, ids):
            return self.model(ids)[0]

    ids = rng.integers(0, len(vocab), (2, min(16, model.block_size))).astype(np.int64)
    meta_props["deltaflow.input"] += f" (sequence ≤ {model.block_size})"
    return Exportable(Logits().eval(), (ids,), ["ids"], ["logits"],
                      {"ids": seq, "logits": seq}, meta_props, [meta_props["deltaflow.input"]])


def _gan(path) -> Exportable:
    from ..tasks.gan import load_trained
    generator, meta, _ = load_trained(path)
    z = np.random.default_rng(0).standard_normal((2, meta["z_dim"])).astype(np.float32)
    note = (f"z: float32 [batch, {meta['z_dim']}] standard normal noise; images: float32 "
            "[batch, 1, 28, 28] in [-1, 1] ((x + 1)/2 for pixels in [0, 1])")
    return Exportable(generator, (z,), ["z"], ["images"],
                      {"z": {0: "batch"}, "images": {0: "batch"}},
                      {"deltaflow.input": note}, [note])


def _babi(path, task=None, repeat=None) -> Exportable:
    """One of the run's memory networks (``deltaflow memory``'s choice: the model of
    ``task``, default the run's first, of the repeat chosen by validation or ``repeat``)
    on word ids; the vocabulary is in the metadata (no bAbI files are read)."""
    from .. import nn
    from ..functional import softmax
    from ..tasks.babi import load_members
    from .memory import chosen_member
    model, meta, run_dir, _ = load_members(path)
    _, m = chosen_member(model, meta, run_dir, task, repeat, command="export")
    member, (tasks, rep) = model.members[m], model.keys[m]

    class Answer(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = member

        def forward(self, story, query, time):
            logits = self.model(story, query, time)
            return logits, softmax(logits, dim=1)

    vocab, memory = meta["vocab"], member.memory_size
    rng = np.random.default_rng(0)
    # sizes distinct from each other, batch × slots other at the exporter's other sizes
    batch, slots = 5, min(4, memory)
    story = rng.integers(1, len(vocab), (batch, slots, 7))
    story[:, :, 3:] = 0                                     # sentences of 3 words
    time = np.tile(np.arange(slots, 0, -1), (batch, 1))
    story[1, -1], time[1, -1] = 0, 0                        # an empty slot
    query = rng.integers(1, len(vocab), (batch, 6))
    query[:, 3:] = 0
    which = (f"the model of bAbI task{'s' if len(tasks) > 1 else ''} "
             f"{','.join(map(str, tasks))} (repeat {rep})")
    inputs = ("word ids int64, each word the index of its token in deltaflow.vocab "
              "(deltaflow.data.babi.tokens: lower case, punctuation dropped; 0 = <nil>, "
              "padding): story [batch, slots, words], the story's sentences before the "
              f"question, oldest first, left-aligned, at most {memory} slots (the last "
              f"{memory} sentences; empty slots all 0); query [batch, query_words]; time "
              "[batch, slots] int64, the temporal index of each slot: 1 for the sentence "
              "just before the question, 2 for the one before it, ..., 0 for an empty slot")
    axes = {"story": {0: "batch", 1: "slots", 2: "words"}, "query": {0: "batch",
            1: "query_words"}, "time": {0: "batch", 1: "slots"},
            "logits": {0: "batch"}, "probabilities": {0: "batch"}}
    notes = [f"model: {which} of the run's {len(model.keys)} member(s) (--task, --repeat "
             f"for another)", f"inputs: {inputs}",
             "answer: deltaflow.vocab[argmax(logits)]"]
    return Exportable(
        Answer().eval(), (story, query, time), ["story", "query", "time"],
        ["logits", "probabilities"], axes,
        {"deltaflow.vocab": json.dumps(vocab), "deltaflow.input": inputs,
         "deltaflow.member": json.dumps({"tasks": list(tasks), "repeat": rep}),
         "deltaflow.outputs": "logits [batch, vocabulary]; probabilities = "
                              "softmax(logits); the answer is deltaflow.vocab[argmax]"},
        notes)


TASKS = {"classify": _classify, "charlm": _charlm, "gan": _gan, "babi": _babi}


def prepare(path, task=None, repeat=None) -> Exportable:
    """The :class:`Exportable` of the run (or checkpoint) ``path``; ``task``, ``repeat``:
    which memory network of a babi run."""
    from ..train import run_folder as rf
    run_dir, _ = rf.locate(path)
    kind = rf.open_run(run_dir).get("task")
    if kind not in TASKS:
        raise ValueError(f"export: {run_dir} is a {kind!r} run; export knows "
                         f"{', '.join(sorted(TASKS))} runs")
    member = {k: v for k, v in (("task", task), ("repeat", repeat)) if v is not None}
    if member and kind != "babi":
        raise UsageError(f"export: --task and --repeat choose a babi run's model; {run_dir} "
                         f"is a {kind} run")
    spec = TASKS[kind](path, **member)
    spec.metadata["deltaflow.task"] = kind
    return spec


def _deltaflow_outputs(spec) -> list:
    from ..autograd import no_grad
    from ..onnx.export import _flatten
    from ..tensor import Tensor
    with no_grad():
        out = spec.model(*[Tensor(x) for x in spec.inputs])
    return [t.numpy() for t in _flatten(out)]


def check(path, spec) -> str:
    """Run ``path`` with onnxruntime on the example inputs; compare with deltaflow."""
    try:
        import onnxruntime
    except ImportError:
        return "check skipped: onnxruntime is not installed (pip install onnxruntime)"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip(spec.input_names, spec.inputs)))
    want = _deltaflow_outputs(spec)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want))
    for name, a, b in zip(spec.output_names, got, want):
        if not np.allclose(a, b, rtol=1e-4, atol=1e-5):
            raise ValueError(f"export --check: output {name!r} of onnxruntime differs from "
                             f"deltaflow's by up to {float(np.max(np.abs(a - b))):.3g}")
    return (f"check: onnxruntime {onnxruntime.__version__} on an example batch of "
            f"{len(spec.inputs[0])} agrees with deltaflow (max |difference| {worst:.2g})")


def run(args) -> int:
    from ..train import run_folder as rf
    try:
        from ..onnx import export
    except ModuleNotFoundError as err:
        if err.name != "onnx":
            raise
        raise UsageError(f"export: {err}") from None
    if args.opset < 1:
        raise UsageError(f"export: --opset must be positive, got {args.opset}")
    spec = prepare(args.path, args.task, args.repeat)
    out = Path(args.output) if args.output else rf.locate(args.path)[0] / "model.onnx"
    export(spec.model, spec.inputs, out, opset_version=args.opset,
           input_names=spec.input_names, output_names=spec.output_names,
           dynamic_axes=spec.dynamic_axes, metadata=spec.metadata)
    print(f"wrote {out} (ONNX opset {args.opset}, {out.stat().st_size / 1e6:.2f} MB)")
    print(f"  inputs: {', '.join(spec.input_names)}; outputs: {', '.join(spec.output_names)}")
    for note in spec.notes:
        print(f"  {note}")
    if args.check:
        print(check(out, spec))
    return 0
