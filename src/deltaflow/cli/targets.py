"""What ``deltaflow explain`` and ``deltaflow gradcheck`` run on, from one command-line word.

* ``textbook`` -- the 3→4→2 sigmoid example with L = ½Σ(a−y)²;
* an MLP spec ``4,8,3`` -- Linear layers of those widths with ``activation`` between them,
  a seeded random batch and a loss (cross-entropy on random labels, or MSE);
* ``FILE.py:NAME`` -- ``NAME()`` from that Python file (which you name, so it is run)
  returns a model, or ``(model, loss_fn, batch)``; a bare model gets a random batch and
  MSE against random targets if its first layer is a Linear;
* a run folder written by ``deltaflow train`` (or a checkpoint in one) -- its model with
  the saved weights and one training step's loss: a classify run's cross-entropy on a
  batch of its training data, a charlm run's next-character loss on the first characters
  of its text, a gan run's generator loss BCE(D(G(z)), 1) through its discriminator.

``deltaflow explain``, ``graph``, ``gradcheck`` and ``sharpness`` read their targets here.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import nn
from ..diagnostics.explain import (
    TEXTBOOK_X,
    TEXTBOOK_Y,
    half_sse,
    mlp_from_spec,
    parse_sizes,
    textbook_model,
)

LOSSES = ("cross_entropy", "mse", "half_sse")
RUN_TASKS = ("classify", "charlm", "gan")


@dataclass
class Target:
    model: object
    loss_fn: object
    x: object
    y: object
    description: str
    loss_name: str
    notes: list = field(default_factory=list)    # what the step is, for explain's header

    def loss(self):
        """``loss_fn(model(x), y)`` once (``loss_fn(model(x))`` without y), floating inputs
        in the dtype of the model's parameters."""
        x = _as_input(self.x, self.model)
        if self.y is None:
            return self.loss_fn(self.model(x))
        return self.loss_fn(self.model(x), _as_input(self.y, self.model))


def _as_input(value, model):
    """``value`` as a Tensor; floating data in the dtype of the model's parameters."""
    from ..tensor import Tensor
    if isinstance(value, Tensor):
        value = value.numpy()
    a = np.asarray(value)
    if a.dtype.kind == "f":
        p = next(iter(model.parameters()), None)
        a = a.astype(p.dtype if p is not None else np.float32)
    return Tensor(a)


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
    if path.is_dir() or (path.is_file() and path.suffix == ".safetensors"):
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


def _from_run(path, batch_size, seed):
    """A run folder of ``deltaflow train`` (its final weights, else checkpoints/last) or a
    checkpoint in one: the training step of its task, the model in training mode."""
    from ..train import run_folder as rf
    run_dir = rf.locate(path)[0]
    task = rf.open_run(run_dir).get("task")
    loaders = {"classify": _classify_run, "charlm": _charlm_run, "gan": _gan_run}
    if task not in loaders:
        raise ValueError(f"{run_dir} is a {task!r} run; this command reads "
                         f"{', '.join(RUN_TASKS)} runs")
    target = loaders[task](path, batch_size, seed)
    target.model.train()
    return target


def _classify_run(path, batch_size, seed):
    """The first ``batch_size`` samples of a seeded shuffle of the training data,
    normalised as in training; cross-entropy."""
    from ..nn import functional as F
    from ..tasks import classify
    model, opts, meta, run_dir, weights = classify.load_trained(path)
    splits = classify.load_splits(meta["data"], meta.get("data_dir"))
    x, y = (t.numpy() for t in splits.train.tensors)
    pick = np.random.default_rng(seed).permutation(len(x))[:batch_size]
    x = classify.prepare_inputs(x[pick], meta)
    return Target(model, F.cross_entropy, x, np.asarray(y)[pick],
                  f"run {run_dir.name} ({meta['model']} on {meta['data']}, weights "
                  f"{weights.name}, {len(pick)} training samples)",
                  "cross-entropy (mean over the batch)")


# ------------------------------------------------------------------- character models
def next_char_loss(output, targets):
    """L = −(1/NT) Σₙₜ log softmax(zₙₜ)[yₙₜ]: the mean cross-entropy of each next character,
    ``output`` the logits z (N, T, V) or a character model's ``(logits, state)``."""
    from .. import functional as Fn
    from ..nn import functional as F
    logits = output[0] if isinstance(output, (tuple, list)) else output
    return F.cross_entropy(Fn.reshape(logits, -1, logits.shape[-1]), Fn.reshape(targets, -1))


NEXT_CHAR = "cross-entropy of each next character (mean over batch × time)"


def charlm_target(model, ids, description) -> Target:
    """Rows of character ids (N, T+1): x = ids[:, :-1] predicts y = ids[:, 1:]."""
    n, t = ids.shape[0], ids.shape[1] - 1
    return Target(model, next_char_loss, np.ascontiguousarray(ids[:, :-1]),
                  np.ascontiguousarray(ids[:, 1:]), description, NEXT_CHAR,
                  [f"x = characters 1 … {t} of {n} row{'s' * (n != 1)}, y = characters "
                   f"2 … {t + 1}: each position predicts the next character"])


def _charlm_run(path, batch_size, seed):
    """The first ``batch_size`` rows of seq_len + 1 characters of the run's text (random
    characters when the text file is gone)."""
    from ..tasks import charlm
    model, meta, run_dir, weights = charlm.load_trained(path)
    vocab, T = meta["vocab"], int(meta.get("seq_len", 64))
    data = str(meta.get("data", ""))
    text = Path(data[5:]) if data.startswith("text:") else None
    if text is not None and text.is_file():
        lookup = {c: k for k, c in enumerate(vocab)}
        chars = text.read_text(encoding="utf-8")[:batch_size * (T + 1)]
        ids = np.array([lookup.get(c, 0) for c in chars], dtype=np.int64)
        rows = len(ids) // (T + 1)
        ids = ids[:rows * (T + 1)].reshape(rows, T + 1) if rows else ids[None, :]
        source = f"{ids.shape[0]} × {ids.shape[1] - 1} characters of {text.name}"
    else:
        ids = np.random.default_rng(seed).integers(0, len(vocab), size=(batch_size, T + 1))
        source = f"random characters ({data or 'its text'} is gone)"
    return charlm_target(model, ids, f"run {run_dir.name} ({meta['model']}, weights "
                                     f"{weights.name}, {source})")


# ---------------------------------------------------------------------------- GANs
class GeneratorStep(nn.Module):
    """D(G(z)) as one module, so the generator's and the discriminator's ops sit under
    ``generator.*`` and ``discriminator.*``."""

    def __init__(self, G, D):
        super().__init__()
        self.generator, self.discriminator = G, D

    def forward(self, z):
        return self.discriminator(self.generator(z))


def generator_loss(logits, ones):
    """L = BCE(D(G(z)), 1) = −(1/N) Σₙ log σ(D(G(zₙ))), ``logits`` = D(G(z))."""
    from ..nn import functional as F
    return F.binary_cross_entropy_with_logits(logits, ones)


def gan_target(G, D, z_dim, batch_size, seed, description) -> Target:
    """The generator's step: ``batch_size`` seeded noise vectors z, L = BCE(D(G(z)), 1)."""
    z = np.random.default_rng(seed).standard_normal((batch_size, z_dim)).astype(np.float32)
    return Target(GeneratorStep(G, D), generator_loss, z, np.ones((batch_size, 1), np.float32),
                  description + ": the generator's loss BCE(D(G(z)), 1)",
                  "BCE(D(G(z)), 1) (the generator's loss)",
                  ["the generator's step: training updates only generator.* with this loss; "
                   "the update shown for the discriminator's layers is not applied (D has "
                   "its own step, BCE(D(x), 1) + BCE(D(G(z)), 0), not shown here)"])


def _gan_run(path, batch_size, seed):
    from ..tasks import gan
    from ..train import run_folder as rf
    from ..train.checkpoint import load_weights
    run_dir, weights, meta = rf.open_trained(path, "gan")
    G, D = gan.build_networks(meta)     # the WGAN-GP critic for a --loss wgan-gp run
    load_weights(gan.networks(G, D), weights)
    return gan_target(G, D, meta["z_dim"], batch_size, seed,
                      f"run {run_dir.name} ({meta['model']} GAN, weights {weights.name})")


__all__ = ["LOSSES", "NEXT_CHAR", "RUN_TASKS", "GeneratorStep", "Target", "charlm_target",
           "gan_target", "generator_loss", "next_char_loss", "resolve"]
