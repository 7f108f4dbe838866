"""``deltaflow sharpness``: the largest Hessian eigenvalue of the loss where training ended.

    deltaflow sharpness runs/classify-digits-...   # a run: its weights, a batch of its data
    deltaflow sharpness textbook --lr 0.1          # the 3→4→2 sigmoid example
    deltaflow sharpness 4,16,3 --activation tanh   # an MLP spec

Power iteration on Hessian-vector products (``deltaflow.diagnostics.curvature``), on a
float64 copy; for a run, η, the optimizer and its momentum come from its ``config.toml``
(``--lr`` overrides), and the output compares λ_max with gradient descent's stability
threshold 2/η.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

from . import UsageError


def add_parser(subparsers, name="sharpness"):
    p = subparsers.add_parser(
        name, help="largest Hessian eigenvalue of the loss (power iteration on Hessian-vector "
                   "products), read against the 2/lr stability threshold",
        description="Estimate the sharpness λ_max (the largest eigenvalue of the Hessian of "
                    "the loss with respect to all parameters) of a trained run, an MLP spec, "
                    "FILE.py:NAME or the textbook example, by power iteration on "
                    "Hessian-vector products (double backward), on a float64 copy.")
    p.add_argument("target", help="a run folder, an MLP spec like 4,8,3, FILE.py:NAME, or "
                                  "'textbook'")
    p.add_argument("--batch-size", type=int, default=256,
                   help="training samples of a run (or random samples of a spec) the loss is "
                        "taken over (default 256)")
    p.add_argument("--lr", type=float,
                   help="learning rate η for the threshold (default: the run's --lr; the "
                        "textbook example's 0.1)")
    p.add_argument("--iters", type=int, default=100,
                   help="most Hessian-vector products per power iteration (default 100)")
    p.add_argument("--tol", type=float, default=1e-6,
                   help="stop when the estimate changes by less than this, relative")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh", "gelu"],
                   help="hidden activation for an MLP spec (default relu)")
    p.add_argument("--loss", choices=["cross_entropy", "mse", "half_sse"],
                   help="loss for a spec or a bare model (default cross_entropy / mse)")
    p.add_argument("--eval", action="store_true",
                   help="the eval-mode loss: no dropout, batch norm's running statistics "
                        "(default: the training-mode loss, dropout's masks drawn once)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", default="text", choices=["text", "json"])
    p.set_defaults(run=run)
    return p


def _optimizer_of(target, lr):
    """``(η, optimizer, momentum, nesterov)``: from a run's config.toml (its SGD is
    Nesterov's whenever it has momentum, as ``deltaflow train`` builds it), else plain SGD
    at ``lr``."""
    from ..diagnostics.explain import TEXTBOOK_LR
    from ..train import run_folder as rf
    if Path(target).is_dir():
        config = rf.read_config(target)
        optimizer = config.get("optimizer", "adam")
        momentum = config.get("momentum", 0.0) if optimizer == "sgd" else 0.0
        return (lr if lr is not None else config.get("lr")), optimizer, momentum, momentum > 0
    if lr is None and target == "textbook":
        lr = TEXTBOOK_LR
    return lr, "sgd", 0.0, False


def run(args) -> int:
    from ..diagnostics.curvature import sharpness
    from .targets import resolve
    if args.batch_size < 1 or args.iters < 1 or args.tol <= 0:
        raise UsageError("sharpness: --batch-size ≥ 1, --iters ≥ 1 and --tol > 0")
    if args.lr is not None and args.lr <= 0:
        raise UsageError(f"sharpness: --lr must be positive, got {args.lr}")
    t = resolve(args.target, activation=args.activation, loss=args.loss,
                batch_size=args.batch_size, seed=args.seed)
    lr, optimizer, momentum, nesterov = _optimizer_of(args.target, args.lr)
    if args.eval:
        t.model.eval()
    batch = (t.x, t.y) if t.y is not None else t.x
    result = sharpness(t.model, t.loss_fn, batch, iters=args.iters, tol=args.tol,
                       seed=args.seed)
    if args.format == "json":
        print(json.dumps({"target": t.description, "loss": result.loss,
                          "sharpness": result.value, "largest_magnitude":
                          result.largest_magnitude, "iterations": result.iterations,
                          "converged": result.converged, "parameters": result.parameters,
                          "mode": "eval" if args.eval else "train",
                          "lr": lr, "optimizer": optimizer, "momentum": momentum,
                          "nesterov": nesterov,
                          "threshold": (result.threshold(lr, momentum, nesterov)
                                        if lr and optimizer == "sgd" else None)}, indent=2))
    else:
        print(f"model: {t.description}; loss: {t.loss_name} = {result.loss:.6g}")
        print(textwrap.fill(result.reading(lr, optimizer, momentum, nesterov), 92))
    return 0
