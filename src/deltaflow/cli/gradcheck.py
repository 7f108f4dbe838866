"""``deltaflow gradcheck``: every parameter's gradient against central differences.

    deltaflow gradcheck 4,8,3 --activation tanh    # an MLP spec
    deltaflow gradcheck runs/classify-digits-...   # a run saved by deltaflow train
    deltaflow gradcheck my_model.py:build          # build() returns model or (model, loss, batch)

Exit status 0 when every parameter agrees, 1 when one does not (a wrong backward).
"""
from __future__ import annotations

import json

from . import UsageError


def add_parser(subparsers, name="gradcheck"):
    p = subparsers.add_parser(
        name, help="check a model's gradients against finite differences (float64 copy)",
        description="Copy the model to float64, compare backprop's gradient of every "
                    "parameter with central differences along random directions (every "
                    "element for small tensors) and print a per-parameter table with a "
                    "verdict. Exits 1 on failure.")
    p.add_argument("target", help="a run folder, an MLP spec like 4,8,3, FILE.py:NAME, or "
                                   "'textbook'")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh", "gelu"],
                   help="hidden activation for an MLP spec (default relu)")
    p.add_argument("--output-activation", default="none",
                   choices=["none", "relu", "sigmoid", "tanh", "gelu"],
                   help="activation after the last Linear of a spec (default none)")
    p.add_argument("--loss", choices=["cross_entropy", "mse", "half_sse"],
                   help="loss for a spec or a bare model (default cross_entropy / mse)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eps", type=float, default=1e-6, help="finite-difference step")
    p.add_argument("--directions", type=int, default=3,
                   help="random directions per parameter (default 3)")
    p.add_argument("--full-max", type=int, default=32,
                   help="check every element of tensors with at most this many (default 32)")
    p.add_argument("--tolerance", type=float, default=1e-5, help="relative error that fails")
    p.add_argument("--format", default="text", choices=["text", "json"])
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..diagnostics.gradcheck import gradcheck_model
    from .targets import resolve
    if args.batch_size < 1 or args.directions < 0 or args.eps <= 0:
        raise UsageError("gradcheck: --batch-size ≥ 1, --directions ≥ 0 and --eps > 0")
    t = resolve(args.target, activation=args.activation,
                output_activation=args.output_activation, loss=args.loss,
                batch_size=args.batch_size, seed=args.seed)
    batch = (t.x, t.y) if t.y is not None else t.x
    report = gradcheck_model(t.model, t.loss_fn, batch, eps=args.eps,
                             directions=args.directions, full_max=args.full_max,
                             tolerance=args.tolerance, seed=args.seed)
    if args.format == "json":
        print(json.dumps({"target": t.description, "passed": report.passed,
                          "verdict": report.verdict, "loss": report.loss,
                          "params": [{"name": p.name, "shape": list(p.shape),
                                      "checks": p.checks, "full": p.full,
                                      "max_rel_error": p.max_rel_error, "status": p.status,
                                      "kinks": p.kinks, "kinks_avoided": p.kinks_avoided,
                                      "worst": p.worst} for p in report.params]}, indent=2))
    else:
        print(f"model: {t.description}; loss: {t.loss_name}")
        print(report.table())
    return 0 if report.passed else 1
