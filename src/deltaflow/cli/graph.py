"""``deltaflow graph``: draw the autograd graph of one training step.

    deltaflow graph                                  # the textbook 3→4→2 sigmoid network
    deltaflow graph 4,8,3 --grads                    # an MLP spec, edges labelled with ‖∂L/∂t‖
    deltaflow graph runs/cnn-digits-... --depth 1    # a run of deltaflow train, modules collapsed
    deltaflow graph --model transformer -o tf.svg    # a fresh model as deltaflow train builds it
    deltaflow graph FILE.py:build --output graph.dot # DOT text (needs no Graphviz)

The step is the loss of one batch, read by :mod:`.targets` as for explain: a classify run's
cross-entropy on training samples, a charlm run's next-character loss on the first
characters of its text, a GAN run's generator loss through the discriminator (both
networks in one graph).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

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

    from .targets import resolve
    if args.model and args.target:
        raise UsageError("graph: give either a target or --model, not both")
    if args.batch_size < 1:
        raise UsageError("graph: --batch-size must be at least 1")
    depth = _depth(args.depth)
    step = _model_step(args) if args.model else resolve(
        args.target, activation=args.activation, batch_size=args.batch_size, seed=args.seed)
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
    from ..nn import functional as F
    from ..tasks import charlm, gan
    from .targets import Target, charlm_target, gan_target
    dl.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    name, n = args.model, args.batch_size
    if name in ("mlp", "cnn"):
        x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
        return Target(models.build(name, (1, 8, 8), 10), F.cross_entropy, x,
                      rng.integers(0, 10, size=n),
                      f"a fresh {name} for 1×8×8 digits, batch of {n}", "cross-entropy")
    if name in ("lstm", "transformer"):
        opts = _task_defaults(charlm, "--model", name)
        vocab = "abcdefghijklmnopqrstuvwxyz .\n"
        model = CM.build({"model": name, "vocab": vocab, "hparams": charlm.hparams(opts)})
        T = min(opts.seq_len, 16)
        return charlm_target(model, rng.integers(0, len(vocab), size=(n, T + 1)),
                             f"a fresh charlm {name} ({len(vocab)} characters, batch {n} × {T})")
    opts = _task_defaults(gan)
    G, D = GM.build("mlp" if name == "gan" else "dcgan", opts.z_dim)
    return gan_target(G, D, opts.z_dim, n, args.seed, f"a fresh {name} GAN")


__all__ = ["MODELS", "add_parser", "run"]
