"""``deltaflow train --task classify``: a classifier on digits, MNIST, Fashion-MNIST or a CSV.

Inputs are standardised with the training split's statistics (one mean/std for images, one
per column for CSV tables; kept in the run's ``model.json`` so ``eval`` and ``predict`` apply
the same). Each epoch is validated on ``--val-split`` of the training data when given, else
on the test split — except that early stopping and the plateau scheduler, which act on the
validation results, then validate on ``DECISION_VAL_SPLIT`` of the training data; the final
weights are evaluated on the test split.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .. import data as dl_data
from .. import models, nn
from .. import random as dl_random
from ..data import DataLoader, TensorDataset
from ..train import EarlyStopping, Trainer
from .common import (
    CHECKPOINT,
    RunExtras,
    make_optimizer,
    make_scheduler,
    parse_data,
    print_summary,
    save_json,
)

META_NAME = "model.json"

#: the CLI makes the run folder, writes config.toml and handles --resume (cli/train.py)
MANAGED_RUN = True


def _fraction(text) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


#: held-out fraction used when --early-stopping or --scheduler plateau come without --val-split
DECISION_VAL_SPLIT = 0.1


def add_arguments(parser) -> None:
    parser.add_argument("--val-split", type=_fraction, default=0.0, metavar="F",
                        help="hold out this fraction of the training data to validate each "
                             "epoch (default 0: validate on the test split, or on 0.1 of the "
                             "training data with --early-stopping or --scheduler plateau)")
    parser.add_argument("--label-smoothing", type=_fraction, default=0.1, metavar="EPS",
                        help="train against (1 - EPS)·one-hot + EPS/classes (default 0.1); "
                             "reported validation/test losses are plain cross-entropy")


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


def _arrays(dataset):
    x, y = dataset.tensors
    return x.numpy(), y.numpy()


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


def read_meta(run_dir) -> dict:
    path = Path(run_dir) / META_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a classify run (no {META_NAME})")
    return json.loads(path.read_text())


# ------------------------------------------------------------------ run
def run(args) -> int:
    dl_random.manual_seed(args.seed)
    kind, _ = parse_data(args.data)
    splits = load_splits(args.data, args.data_dir)
    x_train, y_train = _arrays(splits.train)
    x_test, y_test = _arrays(splits.test)
    stats = normalizer(kind, x_train)
    x_train, x_test = normalize(x_train, stats), normalize(x_test, stats)
    val = None
    # early stopping and the plateau scheduler act on validation results: never the test set
    auto_val = args.val_split == 0 and bool(args.early_stopping or args.scheduler == "plateau")
    val_split = DECISION_VAL_SPLIT if auto_val else args.val_split
    if val_split > 0:
        order = np.random.default_rng(args.seed).permutation(len(x_train))
        n_val = max(1, int(round(len(x_train) * val_split)))
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        val = TensorDataset(x_train[val_idx], y_train[val_idx])
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    train_set, test_set = TensorDataset(x_train, y_train), TensorDataset(x_test, y_test)

    model = models.build(args.model, splits.input_shape, splits.num_classes, args)
    model.to(args.device)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              generator=args.seed)
    eval_batch = max(256, args.batch_size)
    test_loader = DataLoader(test_set, batch_size=eval_batch)
    val_loader = DataLoader(val, batch_size=eval_batch) if val is not None else test_loader
    optimizer = make_optimizer(model.parameters(), args)
    scheduler, interval = make_scheduler(optimizer, args, len(train_loader))

    run_dir = Path(args.run_dir)
    meta = {"task": "classify", "model": args.model, "data": args.data,
            "input_shape": list(splits.input_shape), "num_classes": splits.num_classes,
            "classes": list(splits.classes), "normalize": stats}
    save_json(run_dir / META_NAME, meta)
    extras = RunExtras(args, model, run_dir)
    callbacks = list(extras.callbacks)
    if args.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=args.early_stopping))
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(label_smoothing=args.label_smoothing),
                      eval_loss_fn=nn.CrossEntropyLoss(), metrics=("accuracy",),
                      scheduler=scheduler,
                      scheduler_interval=interval, clip_grad_norm=args.clip_grad,
                      callbacks=callbacks, run_dir=run_dir, progress=extras.progress,
                      plot=not args.no_plot, device=args.device,
                      detect_anomaly=args.detect_anomaly)
    if args.resuming:
        trainer.load_checkpoint(run_dir / CHECKPOINT)
    start_epoch = trainer.epoch
    start = time.perf_counter()
    trainer.fit(train_loader, val_loader if val is not None else test_loader,
                epochs=args.epochs)
    elapsed = time.perf_counter() - start
    test = trainer.evaluate(test_loader)
    written = extras.finish(plot=not args.no_plot)
    results = {"test_loss": test["loss"], "test_accuracy": test["accuracy"],
               "epochs": trainer.epoch, "steps": trainer.step, "train_seconds": elapsed}
    save_json(run_dir / "results.json", results)

    n_params = sum(p.numel() for p in model.parameters())
    ran = trainer.epoch - start_epoch
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in run_dir.iterdir()
                   if not p.name.startswith("."))
    lines = {
        "run": str(run_dir),
        "data": f"{args.data}: {len(train_set)} train / "
                + (f"{len(val)} val / " if val is not None else "")
                + f"{len(test_set)} test, input {tuple(splits.input_shape)}, "
                  f"{splits.num_classes} classes"
                + (f" (val: {DECISION_VAL_SPLIT:.0%} of train, as early stopping / the "
                   "plateau scheduler must not decide on the test set)" if auto_val else ""),
        "model": f"{args.model}: {n_params:,} parameters",
        "epochs": f"{trainer.epoch}" + (f" (resumed after {start_epoch})" if start_epoch
                                        else "")
                  + (", stopped early" if trainer.should_stop else ""),
        "train time": f"{elapsed:.1f} s" + (f" ({elapsed / ran:.2f} s/epoch)" if ran else ""),
        "test": f"accuracy {test['accuracy']:.4f}  loss {test['loss']:.4f}",
        "files": ", ".join(files),
    }
    if written:
        lines["diagnostics"] = ", ".join(p.name for p in written)
    print_summary(lines)
    return 0


# ------------------------------------------------------------------ trained runs
def locate(path) -> tuple[Path, Path]:
    """``(run folder, weights file)`` for a run folder (its ``model.safetensors``, else its
    last checkpoint) or a checkpoint/weights file inside one."""
    path = Path(path)
    if path.is_dir():
        for weights in (path / "model.safetensors", path / (CHECKPOINT + ".safetensors")):
            if weights.is_file():
                return path, weights
        raise FileNotFoundError(f"{path} holds no trained weights (model.safetensors or "
                                f"{CHECKPOINT}.safetensors)")
    name = path.name
    for suffix in (".optim.safetensors", ".json", ".safetensors"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    weights = path.with_name(name + ".safetensors")
    if not weights.is_file():
        raise FileNotFoundError(f"no such run folder or checkpoint: {path}")
    run_dir = weights.parent.parent if weights.parent.name == "checkpoints" else weights.parent
    return run_dir, weights


def load_trained(path):
    """``(model in eval mode, options namespace, meta, run folder, weights file)`` of a
    trained classify run."""
    from types import SimpleNamespace

    from ..train import load_weights
    from .common import CONFIG_NAME, read_toml
    run_dir, weights = locate(path)
    meta = read_meta(run_dir)
    if meta.get("task") != "classify":
        raise ValueError(f"{run_dir} is a {meta.get('task')} run; this command needs a "
                         f"classify run")
    config = read_toml(run_dir / CONFIG_NAME) if (run_dir / CONFIG_NAME).is_file() else {}
    opts = SimpleNamespace(**{k.replace("-", "_"): v for k, v in config.items()})
    model = models.build(meta["model"], meta["input_shape"], meta["num_classes"], opts)
    model.load_state_dict(load_weights(weights))
    model.eval()
    return model, opts, meta, run_dir, weights
