"""``deltaflow eval RUN_OR_CHECKPOINT``: a trained run measured on the test split of the data
it was trained on (``--json``: one JSON object on stdout) — loss and accuracy of a
classifier, loss and perplexity of a character model, the judge's verdict on a GAN's
samples, the per-task test-error table of a memory network on bAbI (with the mean error and
the number of failed tasks, error > 5 %)."""
from __future__ import annotations

import json

import numpy as np


def add_parser(subparsers, name):
    parser = subparsers.add_parser(name, help="evaluate a trained run or checkpoint",
                                   description=__doc__)
    parser.add_argument("path", metavar="RUN_OR_CHECKPOINT",
                        help="a run folder (its final weights) or a checkpoint such as "
                             "RUN/checkpoints/best.safetensors")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="which split to evaluate (default test; classify and charlm)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="where the dataset's files are, if not where training found them")
    parser.add_argument("--batch-size", type=int, default=512, metavar="N")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of text")
    parser.set_defaults(run=run)
    return parser


def evaluate_run(path, split: str = "test", data_dir=None, batch_size: int = 512) -> dict:
    """Evaluate a run of any task (see the module docstring); returns the measures,
    ``samples`` and where the weights came from."""
    from ..train import run_folder as rf
    if batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {batch_size}")
    run_dir, _ = rf.locate(path)
    task = rf.open_run(run_dir).get("task")
    measure = {"classify": _classify, "charlm": _charlm, "gan": _gan, "babi": _babi}.get(task)
    if measure is None:
        raise ValueError(f"eval: {run_dir} is a {task!r} run, which eval does not know")
    return measure(path, split, data_dir, batch_size)


def _classify(path, split, data_dir, batch_size) -> dict:
    from ..data import DataLoader, TensorDataset
    from ..nn import CrossEntropyLoss
    from ..tasks.classify import load_splits, load_trained, prepare_inputs
    from ..train import Trainer
    model, opts, meta, run_dir, weights = load_trained(path)
    splits = load_splits(meta["data"], data_dir or meta.get("data_dir"))
    x, y = getattr(splits, split).tensors
    x = prepare_inputs(x.numpy(), meta)
    metrics = ("accuracy", "top5") if meta["num_classes"] > 5 else ("accuracy",)
    trainer = Trainer(model, None, CrossEntropyLoss(), metrics=metrics, progress=False)
    result = trainer.evaluate(DataLoader(TensorDataset(x, np.asarray(y.numpy())),
                                         batch_size=batch_size))
    return {"run": str(run_dir), "weights": str(weights), "data": meta["data"],
            "split": split, "samples": int(len(x)), **result}


def _charlm(path, split, data_dir, batch_size) -> dict:
    import math

    from ..data import datasets
    from ..tasks import charlm
    model, meta, run_dir, weights = charlm.load_trained(path)
    corpus = datasets.text(meta["data"][len("text:"):], val_fraction=0.0)
    if "".join(corpus.vocab) != meta["vocab"]:
        raise ValueError(f"eval: {meta['data']} has other characters than when {run_dir} "
                         f"was trained")
    ids = corpus.train_ids                    # the whole text (val_fraction 0)
    ids = ids[:meta["train_chars"]] if split == "train" else charlm.held_out(ids, meta)[1]
    loss = charlm.evaluate(model, ids, charlm.eval_window(meta))
    return {"run": str(run_dir), "weights": str(weights), "data": meta["data"],
            "split": split, "samples": int(len(ids)), "loss": loss, "ppl": math.exp(loss)}


def _gan(path, split, data_dir, batch_size) -> dict:
    from ..data import datasets
    from ..random import manual_seed
    from ..tasks import gan
    from ..train import run_folder as rf
    G, meta, run_dir = gan.load_trained(path)
    manual_seed(0)
    data = datasets.mnist(data_dir or meta.get("data_dir"), flatten=False)
    epochs = rf.read_config(run_dir).get("judge_epochs", 3)
    return {"run": str(run_dir), "data": "mnist",
            **gan.judge(run_dir, G, meta["z_dim"], data, epochs=epochs)}


def _babi(path, split, data_dir, batch_size) -> dict:
    """Every member's validation and ``split`` errors, the repeats chosen by validation, the
    per-task errors of those (``test_error``, whichever the split), their mean and the
    failed tasks."""
    from ..tasks import babi
    model, meta, store, splits, run_dir, weights = babi.load_trained(path)
    if split == "train":
        splits = [{**s, "test": s["train"]} for s in splits]
    return {"run": str(run_dir), "weights": str(weights), "data": meta["data"],
            "split": split, "task_names": meta["task_names"],
            **babi.results(model, store, splits)}


def run(args) -> int:
    result = evaluate_run(args.path, args.split, args.data_dir, args.batch_size)
    if args.json:
        print(json.dumps(result))
    elif "task_names" in result:      # babi: the per-task table
        from ..tasks.babi import table
        print(f"run      {result['run']}\nweights  {result['weights']}\n"
              f"split    {result['split']}")
        print(table(result, {int(k): v for k, v in result["task_names"].items()}))
    else:
        for key, value in result.items():
            print(f"{key:<9} {value:.4f}" if isinstance(value, float) else f"{key:<9} {value}")
    return 0
