"""``deltaflow explain``: one forward and backward pass, layer by layer, with the numbers.

    deltaflow explain                              # the textbook 3→4→2 sigmoid network
    deltaflow explain --spec 4,8,3 --activation relu
    deltaflow explain runs/classify-digits-...     # a run saved by deltaflow train
    deltaflow explain --format markdown            # or json
"""
from __future__ import annotations

from . import UsageError


def add_parser(subparsers, name="explain"):
    p = subparsers.add_parser(
        name, help="show one forward/backward pass layer by layer: z, a, δ, ∇W, ∇b, update",
        description="Run one forward and backward pass and print, layer by layer, the "
                    "equations with their live shapes and values (norms for large tensors): "
                    "z, a, δ, ∇W, ∇b and the SGD update. Default: the textbook 3→4→2 "
                    "sigmoid example.")
    p.add_argument("target", nargs="?", default=None,
                   help="a run folder, an MLP spec like 4,8,3, FILE.py:NAME, or 'textbook' "
                        "(default)")
    p.add_argument("--spec", help="MLP layer widths, e.g. 4,8,3 (same as the positional)")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh", "gelu"],
                   help="hidden activation for --spec (default relu)")
    p.add_argument("--output-activation", default="none",
                   choices=["none", "relu", "sigmoid", "tanh", "gelu"],
                   help="activation after the last Linear of a spec (default none)")
    p.add_argument("--loss", choices=["cross_entropy", "mse", "half_sse"],
                   help="loss (default: ½Σ(a−y)² for the textbook example, cross_entropy "
                        "for a spec)")
    p.add_argument("--batch-size", type=int, default=4, help="random batch size for a spec")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.1, help="learning rate of the shown update")
    p.add_argument("--max-values", type=int, default=24,
                   help="show tensors with at most this many elements in full, larger ones "
                        "by norm/mean/std/min/max")
    p.add_argument("--format", default="text", choices=["text", "markdown", "json"])
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..diagnostics.explain import explain
    from .targets import resolve
    if args.spec and args.target:
        raise UsageError("explain: give either a positional target or --spec, not both")
    if args.batch_size < 1:
        raise UsageError("explain: --batch-size must be at least 1")
    t = resolve(args.spec or args.target, activation=args.activation,
                output_activation=args.output_activation, loss=args.loss,
                batch_size=args.batch_size, seed=args.seed)
    result = explain(t.model, t.x, t.y, t.loss_fn, lr=args.lr, loss_name=t.loss_name,
                     title=f"explain: {t.description}", max_values=args.max_values)
    print(result.format(args.format))
    return 0
