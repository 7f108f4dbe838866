"""``deltaflow graph``: draw the autograd graph of one training step.

    deltaflow graph                                  # the textbook 3→4→2 sigmoid network
    deltaflow graph 4,8,3 --grads                    # an MLP spec, edges labelled with ‖∂L/∂t‖
    deltaflow graph runs/cnn-digits-... --depth 1    # a run of deltaflow train, modules collapsed
    deltaflow graph --model transformer -o tf.svg    # a fresh model as deltaflow train builds it
    deltaflow graph FILE.py:build --output graph.dot # DOT text (needs no Graphviz)

The step is the loss of one batch: a classify run's cross-entropy on training samples, a
charlm run's next-character loss on the first characters of its text, a GAN run's generator
loss through the discriminator (both networks in one graph).
"""
from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace

import numpy as np

from .. import nn
from . import UsageError

MODELS = ("mlp", "cnn", "lstm", "transformer", "gan", "dcgan")


def add_parser(subparsers, name="graph"):
    p = subparsers.add_parser(
        name, help="draw the autograd graph of one training step (SVG, PNG or DOT)",
        description="Run one forward pass (and with --grads one backward) and draw the "
                    "autograd graph: one node per op with its output shape and dtype, "
                    "parameters by name, edges in the forward direction, each module a "
                    "cluster (collapsed below --depth). SVG/PNG/PDF need Graphviz "
                    "(pip install 'deltaflow[viz]' and apt-get install graphviz); "
                    ".dot needs nothing.")
    p.add_argument("target", nargs="?", default=None,
                   help="a run folder, an MLP spec like 4,8,3, FILE.py:NAME, or 'textbook' "
                        "(default)")
    p.add_argument("--model", choices=MODELS,
                   help="instead of a target: a freshly initialised model of deltaflow train "
                        "(mlp, cnn on 1×8×8 digits; lstm, transformer character models; gan, "
                        "dcgan generator + discriminator)")
    p.add_argument("--depth", default="auto",
                   help="collapse each module this many levels below the model into one box; "
                        "'all' draws every op; 'auto' (default) the deepest level with at "
                        "most --max-nodes nodes")
    p.add_argument("--max-nodes", type=int, default=60,
                   help="node budget of --depth auto (default 60)")
    p.add_argument("--grads", nargs="?", const="norm", choices=["norm", "mean", "max"],
                   help="run the backward and label each edge with the gradient's norm "
                        "(default), mean |g| or max |g|; NaN/Inf and vanishing gradients "
                        "are marked")
    p.add_argument("--output", "-o", default="graph.svg",
                   help="file to write: .svg (default graph.svg), .png, .pdf, or .dot/.gv "
                        "text; '-' prints DOT")
    p.add_argument("--batch-size", type=int, default=4, help="batch size of the step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh", "gelu"],
                   help="hidden activation of an MLP spec (default relu)")
    p.set_defaults(run=run)
    return p


def _depth(text):
    if text in ("auto", "all"):
        return {"auto": "auto", "all": None}[text]
    try:
        depth = int(text)
    except ValueError:
        depth = -1
    if depth < 0:
        raise UsageError(f"graph: --depth must be a non-negative integer, 'auto' or 'all', "
                         f"got {text!r}")
    return depth


def run(args) -> int:
    import deltaflow as dl
    if args.model and args.target:
        raise UsageError("graph: give either a target or --model, not both")
    if args.batch_size < 1:
        raise UsageError("graph: --batch-size must be at least 1")
    depth = _depth(args.depth)
    step = _model_step(args) if args.model else _target_step(args)
    step.model.train()
    dl.manual_seed(args.seed)
    with dl.viz.trace():
        loss = step.loss()
    g = dl.viz.graph(loss, model=step.model, grads=args.grads, depth=depth,
                     max_nodes=args.max_nodes)
    shown = "every op" if g.depth is None else f"modules collapsed at depth {g.depth}"
    levels = g.max_depth()
    print(f"graph: {step.description}: {len(g.nodes)} nodes, {len(g.edges)} edges ({shown}; "
          f"{levels} module level{'s' * (levels != 1)}, --depth N to change)", file=sys.stderr)
    for note in g.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.output == "-":
        sys.stdout.write(g.to_dot())
        return 0
    try:
        g.render(args.output)
    except (ImportError, RuntimeError) as err:
        raise UsageError(f"{err}") from None
    print(f"wrote {args.output}")
    return 0


# -------------------------------------------------------------------------- steps
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


def _target_step(args):
    from ..train import run_folder as rf
    from .targets import resolve
    word = args.target
    if word is not None and _is_run(word):
        task = rf.open_run(rf.locate(word)[0]).get("task")
        if task == "charlm":
            return _charlm_run(word, args)
        if task == "gan":
            return _gan_run(word, args)
    t = resolve(word, activation=args.activation, batch_size=args.batch_size, seed=args.seed)
    x, y = _as_input(t.x, t.model), None if t.y is None else _as_input(t.y, t.model)
    return SimpleNamespace(model=t.model, description=t.description,
                           loss=lambda: t.loss_fn(t.model(x), y) if y is not None
                           else t.loss_fn(t.model(x)))


def _is_run(word) -> bool:
    from pathlib import Path
    path = Path(word)
    return path.is_dir() or (path.is_file() and path.suffix == ".safetensors")


def _next_char_loss(model, ids):
    """Mean cross-entropy of predicting ``ids[:, 1:]`` from ``ids[:, :-1]``."""
    from .. import functional as Fn
    from ..nn import functional as F
    from ..tensor import Tensor
    logits, _ = model(Tensor(ids[:, :-1]))
    V = logits.shape[-1]
    return F.cross_entropy(Fn.reshape(logits, -1, V), Tensor(ids[:, 1:].reshape(-1)))


def _charlm_run(word, args):
    from pathlib import Path

    from ..tasks import charlm
    model, meta, run_dir, weights = charlm.load_trained(word)
    vocab, T = meta["vocab"], int(meta.get("seq_len", 64))
    path = Path(str(meta.get("data", ""))[5:])
    rng = np.random.default_rng(args.seed)
    if path.is_file():
        lookup = {c: k for k, c in enumerate(vocab)}
        text = path.read_text(encoding="utf-8")[:args.batch_size * (T + 1)]
        ids = np.array([lookup.get(c, 0) for c in text], dtype=np.int64)
        rows = len(ids) // (T + 1)
        ids = ids[:rows * (T + 1)].reshape(rows, T + 1) if rows else ids[None, :]
        source = f"{ids.shape[0]} × {ids.shape[1] - 1} characters of {path.name}"
    else:
        ids = rng.integers(0, len(vocab), size=(args.batch_size, T + 1))
        source = f"random characters ({path} is gone)"
    return SimpleNamespace(model=model, loss=lambda: _next_char_loss(model, ids),
                           description=f"run {run_dir.name} ({meta['model']}, weights "
                                       f"{weights.name}, {source})")


class GeneratorStep(nn.Module):
    """D(G(z)) as one module, so the generator's and the discriminator's ops sit in the
    clusters ``generator.*`` and ``discriminator.*``."""

    def __init__(self, G, D):
        super().__init__()
        self.generator, self.discriminator = G, D

    def forward(self, z):
        return self.discriminator(self.generator(z))


def _gan_step(G, D, z_dim, batch_size, seed, description):
    from ..nn import functional as F
    from ..tensor import Tensor
    model = GeneratorStep(G, D)
    z = np.random.default_rng(seed).standard_normal((batch_size, z_dim)).astype(np.float32)

    def loss():
        logits = model(Tensor(z))
        return F.binary_cross_entropy_with_logits(logits, Tensor(np.ones(logits.shape,
                                                                         np.float32)))
    return SimpleNamespace(model=model, loss=loss,
                           description=description + ": the generator's loss "
                                                     "BCE(D(G(z)), 1)")


def _gan_run(word, args):
    from .. import io
    from ..models import gan as M
    from ..tasks import gan
    from ..train import run_folder as rf
    run_dir, weights, meta = rf.open_trained(word, "gan")
    G, D = M.build(meta["model"], meta["z_dim"])
    gan.networks(G, D).load_state_dict(io.load(weights))
    return _gan_step(G, D, meta["z_dim"], args.batch_size, args.seed,
                     f"run {run_dir.name} ({meta['model']} GAN, weights {weights.name})")


def _task_defaults(module, *argv):
    """The options a task module declares, at their defaults."""
    parser = argparse.ArgumentParser(add_help=False)
    module.add_arguments(parser)
    return parser.parse_args(list(argv))


def _model_step(args):
    """A freshly initialised model of ``deltaflow train --model NAME``."""
    import deltaflow as dl

    from .. import models
    from ..models import charlm as CM
    from ..models import gan as GM
    from ..tasks import charlm, gan
    dl.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    name, n = args.model, args.batch_size
    if name in ("mlp", "cnn"):
        model = models.build(name, (1, 8, 8), 10)
        x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, size=n)
        return SimpleNamespace(
            model=model, description=f"a fresh {name} for 1×8×8 digits, batch of {n}",
            loss=lambda: dl.nn.functional.cross_entropy(model(dl.tensor(x)), dl.tensor(y)))
    if name in ("lstm", "transformer"):
        opts = _task_defaults(charlm, "--model", name)
        vocab = "abcdefghijklmnopqrstuvwxyz .\n"
        model = CM.build({"model": name, "vocab": vocab, "hparams": charlm.hparams(opts)})
        T = min(opts.seq_len, 16)
        ids = rng.integers(0, len(vocab), size=(n, T + 1))
        return SimpleNamespace(model=model, loss=lambda: _next_char_loss(model, ids),
                               description=f"a fresh charlm {name} ({len(vocab)} characters, "
                                           f"batch {n} × {T})")
    opts = _task_defaults(gan)
    G, D = GM.build("mlp" if name == "gan" else "dcgan", opts.z_dim)
    return _gan_step(G, D, opts.z_dim, n, args.seed, f"a fresh {name} GAN")


__all__ = ["MODELS", "add_parser", "run"]
