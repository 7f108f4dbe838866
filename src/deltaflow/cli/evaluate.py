"""``deltaflow eval RUN_OR_CHECKPOINT``: loss and accuracy of a trained classifier on the
test split of the data it was trained on (``--json``: one JSON object on stdout)."""
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
                        help="which split to evaluate (default test)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="where the dataset's files are, if not where training found them")
    parser.add_argument("--batch-size", type=int, default=512, metavar="N")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of text")
    parser.set_defaults(run=run)
    return parser


def evaluate_run(path, split: str = "test", data_dir=None, batch_size: int = 512) -> dict:
    """Evaluate a classify run; returns ``loss``, ``accuracy``, ``top5`` (more than 5
    classes), ``samples`` and where the weights came from."""
    from ..data import DataLoader, TensorDataset
    from ..nn import CrossEntropyLoss
    from ..tasks.classify import load_splits, load_trained, prepare_inputs
    from ..train import Trainer
    if batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {batch_size}")
    model, opts, meta, run_dir, weights = load_trained(path)
    splits = load_splits(meta["data"], data_dir or getattr(opts, "data_dir", None))
    x, y = getattr(splits, split).tensors
    x = prepare_inputs(x.numpy(), meta)
    metrics = ("accuracy", "top5") if meta["num_classes"] > 5 else ("accuracy",)
    trainer = Trainer(model, None, CrossEntropyLoss(), metrics=metrics, progress=False)
    result = trainer.evaluate(DataLoader(TensorDataset(x, np.asarray(y.numpy())),
                                         batch_size=batch_size))
    return {"run": str(run_dir), "weights": str(weights), "data": meta["data"],
            "split": split, "samples": int(len(x)), **result}


def run(args) -> int:
    result = evaluate_run(args.path, args.split, args.data_dir, args.batch_size)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<9} {value:.4f}" if isinstance(value, float) else f"{key:<9} {value}")
    return 0
