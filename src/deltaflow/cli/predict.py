"""``deltaflow predict RUN --input FILE``: the predicted class of every sample in a ``.npy``
array or a numeric ``.csv`` (one sample per row, features only), one per line."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def add_parser(subparsers, name):
    parser = subparsers.add_parser(name, help="predict classes with a trained run",
                                   description=__doc__)
    parser.add_argument("path", metavar="RUN_OR_CHECKPOINT", help="a run folder or checkpoint")
    parser.add_argument("--input", required=True, metavar="FILE",
                        help=".npy array of samples (N, ...) or .csv with one sample per row; "
                             "raw values as the dataset gives them (e.g. pixels in [0, 1])")
    parser.add_argument("--probs", action="store_true",
                        help="also print each class probability")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)
    return parser


def read_inputs(path) -> np.ndarray:
    """Samples from a ``.npy`` file or a numeric CSV (an optional header row is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--input: no such file: {path}")
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"--input {path}: not a numeric .npy array ({err})") from None
    elif path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
        try:
            [float(c) for c in rows[0]] if rows else None
        except ValueError:
            rows = rows[1:]  # a header
        if not rows:
            raise ValueError(f"--input {path}: no rows")
        try:
            x = np.array([[float(c) for c in r] for r in rows], dtype=np.float32)
        except ValueError:
            raise ValueError(f"--input {path}: every cell must be a number (and every row "
                             f"the same length)") from None
    else:
        raise ValueError(f"--input {path}: expected a .npy or .csv file")
    if x.dtype.kind not in "biuf":
        raise ValueError(f"--input {path}: expected numbers, got dtype {x.dtype}")
    x = x.reshape(1, -1) if x.ndim == 1 else x
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1)) \
        if x.dtype.kind == "f" and x.size else []
    if len(bad):
        rows = ", ".join(str(i + 1) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(f"--input {path}: {len(bad)} of {len(x)} samples hold NaN or Inf "
                         f"(sample {rows}, counting from 1); a model cannot classify them: "
                         f"fill in or drop those values")
    return x


def run(args) -> int:
    from ..functional import softmax
    from ..tasks.classify import load_trained, prepare_inputs
    from ..tensor import Tensor
    from ..train import Trainer
    model, _, meta, _, _ = load_trained(args.path)
    x = prepare_inputs(read_inputs(args.input), meta)
    logits = Trainer(model, None, progress=False).predict(x)
    probs = softmax(Tensor(logits), dim=1).numpy()
    classes = meta.get("classes") or list(range(meta["num_classes"]))
    predicted = [classes[i] for i in logits.argmax(axis=1)]
    if args.json:
        out = {"predictions": predicted}
        if args.probs:
            out["probabilities"] = probs.tolist()
        print(json.dumps(out))
        return 0
    for label, p in zip(predicted, probs):
        print(label if not args.probs else
              f"{label}\t" + " ".join(f"{v:.4f}" for v in p))
    return 0
