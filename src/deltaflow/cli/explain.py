"""``deltaflow explain``: one forward and backward pass, layer by layer, with the numbers.

    deltaflow explain                              # the textbook 3→4→2 sigmoid network
    deltaflow explain --spec 4,8,3 --activation relu
    deltaflow explain runs/classify-digits-...     # a run saved by deltaflow train (any task:
                                                   # charlm's next-character loss, gan's
                                                   # generator loss BCE(D(G(z)), 1))
    deltaflow explain --format markdown            # or json
    deltaflow explain --model cnn                  # conv + pooling on one MNIST digit
    deltaflow explain --model rnn                  # backpropagation through time (or lstm)
"""
from __future__ import annotations

import sys

from . import UsageError


def add_parser(subparsers, name="explain"):
    p = subparsers.add_parser(
        name, help="show one forward/backward pass layer by layer: z, a, δ, ∇W, ∇b, update",
        description="Run one forward and backward pass and print, layer by layer, the "
                    "equations with their live shapes and values (norms for large tensors): "
                    "z, a, δ, ∇W, ∇b and the SGD update. Default: the textbook 3→4→2 "
                    "sigmoid example.")
    p.add_argument("target", nargs="?", default=None,
                   help="a run folder of deltaflow train (classify, charlm or gan: the "
                        "generator's loss), an MLP spec like 4,8,3, FILE.py:NAME, or "
                        "'textbook' (default)")
    p.add_argument("--spec", help="MLP layer widths, e.g. 4,8,3 (same as the positional)")
    p.add_argument("--model", choices=["cnn", "rnn", "lstm"],
                   help="a small built-in model: cnn (convolution and pooling on one MNIST "
                        "digit, a synthetic one without the data), rnn or lstm (a short "
                        "sequence, backpropagation through time)")
    p.add_argument("--data-dir", help="the only folder to look in for MNIST for --model cnn "
                                      "(default: $DELTAFLOW_DATA, ../shared/data, "
                                      "~/.cache/deltaflow)")
    p.add_argument("--seq-len", type=int, default=8,
                   help="time steps for --model rnn/lstm (default 8)")
    p.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh", "gelu"],
                   help="hidden activation for --spec (default relu)")
    p.add_argument("--output-activation", default="none",
                   choices=["none", "relu", "sigmoid", "tanh", "gelu"],
                   help="activation after the last Linear of a spec (default none)")
    p.add_argument("--loss", choices=["cross_entropy", "mse", "half_sse"],
                   help="loss (default: ½Σ(a−y)² for the textbook example, cross_entropy "
                        "for a spec)")
    p.add_argument("--batch-size", type=int, default=4,
                   help="batch size: of the random batch of a spec, or the samples (charlm: "
                        "rows of text, gan: noise vectors) of a run (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.1, help="learning rate of the shown update")
    p.add_argument("--max-values", type=int, default=24,
                   help="show tensors with at most this many elements in full, larger ones "
                        "by norm/mean/std/min/max")
    p.add_argument("--format", default="text", choices=["text", "markdown", "json"])
    p.add_argument("--html", metavar="FILE",
                   help="also write a self-contained page that steps through the forward "
                        "pass, the backward pass and the update (open it in a browser)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..diagnostics.explain import explain
    from .targets import resolve
    if sum(bool(v) for v in (args.spec, args.target, args.model)) > 1:
        raise UsageError("explain: give one of a positional target, --spec or --model")
    if args.batch_size < 1:
        raise UsageError("explain: --batch-size must be at least 1")
    if args.seq_len < 1:
        raise UsageError("explain: --seq-len must be at least 1")
    if args.model:
        from ..diagnostics.demos import explain_demo
        d = explain_demo(args.model, seed=args.seed, data_dir=args.data_dir,
                         seq_len=args.seq_len)
        result = explain(d.model, d.x, d.y, d.loss_fn, lr=args.lr, loss_name=d.loss_name,
                         title=f"explain: {d.description}", max_values=args.max_values,
                         notes=d.notes)
    else:
        t = resolve(args.spec or args.target, activation=args.activation,
                    output_activation=args.output_activation, loss=args.loss,
                    batch_size=args.batch_size, seed=args.seed)
        result = explain(t.model, t.x, t.y, t.loss_fn, lr=args.lr, loss_name=t.loss_name,
                         title=f"explain: {t.description}", max_values=args.max_values,
                         notes=t.notes)
    print(result.format(args.format))
    if args.html:
        from ..viz import write_page
        print(f"wrote {write_page(result, args.html)}", file=sys.stderr)
    return 0
