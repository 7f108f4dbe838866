"""``deltaflow train --task classify``: a classifier on digits, MNIST, Fashion-MNIST or a CSV.

Inputs are standardised with the training split's statistics (one mean/std for images, one
per column for CSV tables; kept in the run's ``model.json`` so ``eval`` and ``predict`` apply
the same). Each epoch is validated on ``--val-split`` of the training data (default 0.1; 0:
no validation); the test split is used once, for the final report.
"""
from __future__ import annotations

import numpy as np

from .. import data as dl_data
from .. import models, nn
from ..data import TensorDataset
from ..train import SupervisedTask
from ..train import run_folder as rf
from ..train.checkpoint import load_weights
from .common import eval_loader, fraction, make_optimizer, make_scheduler, parse_data, train_loader
from .runner import Setup

NOT_APPLICABLE = ()
#: options that may differ when a run is resumed (besides the common ones)
RESUMABLE = ()


def add_arguments(parser) -> None:
    parser.add_argument("--label-smoothing", type=fraction, default=0.1, metavar="EPS",
                        help="train against (1 - EPS)·one-hot + EPS/classes (default 0.1); "
                             "reported validation/test losses are plain cross-entropy")


def default_name(opts) -> str:
    return opts.model


# ------------------------------------------------------------------ data
def load_splits(spec: str, data_dir=None, image_shape: bool = True):
    """The :class:`~deltaflow.data.datasets.Splits` for ``--data``; images keep their
    ``(1, H, W)`` shape (models flatten what they need)."""
    kind, path = parse_data(spec)
    ds = dl_data.datasets
    if kind == "digits":
        return ds.digits(flatten=not image_shape)
    if kind == "mnist":
        return ds.mnist(data_dir, flatten=not image_shape)
    if kind == "fashion-mnist":
        return ds.fashion_mnist(data_dir, flatten=not image_shape)
    if kind == "csv":
        splits = ds.csv(path)
        if splits.num_classes is None:
            raise ValueError(f"{path}: the target column holds continuous values; --task "
                             f"classify needs class labels (whole numbers or names)")
        return splits
    raise ValueError(f"--data {spec} is text; train a character model with --task charlm")


def normalizer(kind: str, x: np.ndarray) -> dict:
    """Standardisation statistics of training inputs ``x``: a scalar mean/std for images,
    one per column for tables."""
    if kind == "csv":
        std = x.std(axis=0)
        return {"mean": x.mean(axis=0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}
    std = float(x.std())
    return {"mean": float(x.mean()), "std": std if std > 0 else 1.0}


def normalize(x: np.ndarray, stats: dict) -> np.ndarray:
    mean = np.asarray(stats["mean"], dtype=np.float32)
    std = np.asarray(stats["std"], dtype=np.float32)
    return ((np.asarray(x, dtype=np.float32) - mean) / std).astype(np.float32)


def prepare_inputs(x: np.ndarray, meta: dict) -> np.ndarray:
    """Raw samples (as the dataset gives them, or flattened) → normalised model inputs."""
    shape = tuple(meta["input_shape"])
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1:] != shape:
        if x.ndim < 1 or int(np.prod(x.shape[1:])) != int(np.prod(shape)):
            raise ValueError(f"inputs of shape {x.shape} do not fit this model: it expects "
                             f"samples of shape {shape} ({int(np.prod(shape))} values each)")
        x = x.reshape((len(x), *shape))
    return normalize(x, meta["normalize"])


# ------------------------------------------------------------------ run
def split_validation(x, y, fraction: float, seed: int):
    """``(train x, train y, val x, val y)``: a seeded random ``fraction`` of the training
    samples held out (in their original order); no validation arrays for 0."""
    if fraction == 0:
        return x, y, None, None
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * fraction)))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def setup(opts) -> Setup:
    kind, _ = parse_data(opts.data)
    splits = load_splits(opts.data, opts.data_dir)
    x_train, y_train = (t.numpy() for t in splits.train.tensors)
    x_test, y_test = (t.numpy() for t in splits.test.tensors)
    stats = normalizer(kind, x_train)
    x_train, x_test = normalize(x_train, stats), normalize(x_test, stats)
    x_train, y_train, x_val, y_val = split_validation(x_train, y_train, opts.val_split,
                                                      opts.seed)
    model = models.build(opts.model, splits.input_shape, splits.num_classes, opts)
    model.to(opts.device)
    train = train_loader(TensorDataset(x_train, y_train), opts.batch_size, opts.seed)
    eval_batch = max(256, opts.batch_size)
    val_loader = None if x_val is None else eval_loader(TensorDataset(x_val, y_val), eval_batch)
    test_loader = eval_loader(TensorDataset(x_test, y_test), eval_batch)
    optimizer = make_optimizer(model.parameters(), opts)
    scheduler, interval = make_scheduler(optimizer, opts, len(train))
    task = SupervisedTask(model, nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing),
                          eval_loss_fn=nn.CrossEntropyLoss(), metrics=("accuracy",))
    meta = {"task": "classify", "model": opts.model, "data": opts.data,
            "data_dir": opts.data_dir, "input_shape": list(splits.input_shape),
            "num_classes": splits.num_classes, "classes": list(splits.classes),
            "normalize": stats}

    def finish(trainer):
        test = trainer.evaluate(test_loader)
        return ({"test_loss": test["loss"], "test_accuracy": test["accuracy"]},
                {"test": f"accuracy {test['accuracy']:.4f}  loss {test['loss']:.4f}"})

    n_val = 0 if x_val is None else len(x_val)
    data = (f"{opts.data}: {len(x_train)} train / {n_val} validation "
            f"({opts.val_split:.0%} of train) / {len(x_test)} test, input "
            f"{tuple(splits.input_shape)}, {splits.num_classes} classes")
    return Setup(task, optimizer, train, val_loader, meta, finish, scheduler, interval,
                 summary={"data": data, "model": opts.model})


# ------------------------------------------------------------------ trained runs
def load_trained(path):
    """``(model in eval mode, options namespace, meta, run folder, weights file)`` of a
    trained classify run (a run folder or a checkpoint inside one)."""
    from types import SimpleNamespace
    run_dir, weights, meta = rf.open_trained(path, "classify")
    try:
        parse_data(meta.get("data", ""))
    except ValueError as err:
        raise ValueError(f"{run_dir / rf.META_NAME}: its 'data' entry: {err}") from None
    config = rf.read_config(run_dir)
    opts = SimpleNamespace(**{k.replace("-", "_"): v for k, v in config.items()})
    model = models.build(meta["model"], meta["input_shape"], meta["num_classes"], opts)
    load_weights(model, weights)
    model.eval()
    return model, opts, meta, run_dir, weights
