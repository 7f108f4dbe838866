"""What ``deltaflow explain`` and ``deltaflow gradcheck`` run on, from one command-line word.

* ``textbook`` -- the 3→4→2 sigmoid example with L = ½Σ(a−y)²;
* an MLP spec ``4,8,3`` -- Linear layers of those widths with ``activation`` between them,
  a seeded random batch and a loss (cross-entropy on random labels, or MSE);
* ``FILE.py:NAME`` -- ``NAME()`` from that Python file (which you name, so it is run)
  returns a model, or ``(model, loss_fn, batch)``; a bare model gets a random batch and
  MSE against random targets if its first layer is a Linear;
* a run folder written by ``deltaflow train`` -- its model with the saved weights and a
  batch of its training data.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..diagnostics.explain import (
    TEXTBOOK_X,
    TEXTBOOK_Y,
    half_sse,
    mlp_from_spec,
    parse_sizes,
    textbook_model,
)

LOSSES = ("cross_entropy", "mse", "half_sse")


@dataclass
class Target:
    model: object
    loss_fn: object
    x: object
    y: object
    description: str
    loss_name: str


def _loss(name):
    from ..nn import functional as F
    if name == "cross_entropy":
        return F.cross_entropy, "cross-entropy (mean over the batch)"
    if name == "mse":
        return F.mse_loss, "mean squared error"
    if name == "half_sse":
        return half_sse, "L = ½ Σ (a − y)²"
    raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")


def _random_batch(n_in, n_out, batch_size, loss, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, n_in))
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, size=batch_size)
    else:
        y = rng.standard_normal((batch_size, n_out))
    return x, y


def _first_linear(model):
    for m in model.modules():
        if type(m).__name__ == "Linear":
            return m
    return None


def _last_linear(model):
    last = None
    for m in model.modules():
        if type(m).__name__ == "Linear":
            last = m
    return last


def resolve(word=None, *, activation="relu", output_activation=None, loss=None, batch_size=4,
            seed=0) -> Target:
    """Turn ``word`` (None = the textbook example) into a :class:`Target`."""
    import deltaflow as dl
    if word is None or word == "textbook":
        loss_fn, name = _loss(loss or "half_sse")
        return Target(textbook_model(), loss_fn, TEXTBOOK_X, TEXTBOOK_Y,
                      "the textbook 3→4→2 sigmoid network (2 samples)", name)
    path = Path(str(word).rsplit(":", 1)[0])
    if ":" in str(word) and path.suffix == ".py":
        return _from_file(path, str(word).rsplit(":", 1)[1], loss, batch_size, seed)
    if path.is_dir():
        return _from_run(path, batch_size, seed)
    if all(part.strip().isdigit() for part in str(word).split(",")):
        sizes = parse_sizes(word)
        loss = loss or "cross_entropy"
        dl.manual_seed(seed)
        model = mlp_from_spec(word, activation, output_activation)
        x, y = _random_batch(sizes[0], sizes[-1], batch_size, loss, seed)
        loss_fn, name = _loss(loss)
        return Target(model, loss_fn, x, y, f"MLP {'→'.join(map(str, sizes))} with "
                      f"{activation} (random batch of {batch_size}, seed {seed})", name)
    raise FileNotFoundError(f"{word!r} is not a run folder, an MLP spec like 4,8,3, "
                            "FILE.py:NAME or 'textbook'")


def _from_file(path, name, loss, batch_size, seed):
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"deltaflow_target_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ValueError(f"{path} has no function {name!r}")
    made = factory()
    if isinstance(made, tuple):
        if len(made) != 3:
            raise ValueError(f"{path}:{name}() must return a model or (model, loss_fn, "
                             f"batch); got a tuple of {len(made)}")
        model, loss_fn, batch = made
        x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
        return Target(model, loss_fn, x, y, f"{path.name}:{name}",
                      getattr(loss_fn, "__name__", type(loss_fn).__name__))
    model = made
    first, last = _first_linear(model), _last_linear(model)
    if first is None:
        raise ValueError(f"{path}:{name}() returned a model without a Linear layer; return "
                         "(model, loss_fn, batch) so the check knows what to feed it")
    loss = loss or "mse"
    x, y = _random_batch(first.in_features, last.out_features, batch_size, loss, seed)
    loss_fn, lname = _loss(loss)
    return Target(model, loss_fn, x, y, f"{path.name}:{name} (random batch of {batch_size})",
                  lname)


def _from_run(run_dir, batch_size, seed):
    """A classify run of ``deltaflow train``: its model with the final weights (else
    checkpoints/last), and the first ``batch_size`` samples of a seeded shuffle of its
    training data, normalised as in training."""
    from ..nn import functional as F
    from ..tasks import classify
    model, opts, meta, run_dir, weights = classify.load_trained(run_dir)
    model.train()
    splits = classify.load_splits(meta["data"], meta.get("data_dir"))
    x, y = (t.numpy() for t in splits.train.tensors)
    pick = np.random.default_rng(seed).permutation(len(x))[:batch_size]
    x = classify.prepare_inputs(x[pick], meta)
    return Target(model, F.cross_entropy, x, np.asarray(y)[pick],
                  f"run {run_dir.name} ({meta['model']} on {meta['data']}, weights "
                  f"{weights.name}, {len(pick)} training samples)",
                  "cross-entropy (mean over the batch)")


__all__ = ["LOSSES", "Target", "resolve"]
