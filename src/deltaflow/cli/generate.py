"""``deltaflow generate RUN --prompt TEXT --tokens N --temperature T``: sample text from a
character language model trained by ``deltaflow train --task charlm`` (RUN: the run folder
it printed).

RUN is the run folder (its final weights, ``model.safetensors``); a checkpoint inside it,
such as ``RUN/checkpoints/best.safetensors``, also works.
"""
from __future__ import annotations

import sys

import numpy as np

from . import UsageError


def add_parser(subparsers, name="generate"):
    p = subparsers.add_parser(name, help="sample text from a trained character language model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", metavar="RUN",
                   help="a charlm run folder or a checkpoint inside one")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--tokens", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="softmax temperature; 0 = always the most likely character")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely")
    p.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..models import charlm
    from ..tasks.charlm import load_trained

    if args.tokens < 0:
        raise UsageError(f"generate: --tokens must be >= 0, got {args.tokens}")
    if args.temperature < 0:
        raise UsageError(f"generate: --temperature must be >= 0, got {args.temperature}")
    model, meta, _, _ = load_trained(args.run_dir)
    vocab = meta["vocab"]
    unknown = sorted(set(args.prompt) - set(vocab))
    if unknown:
        raise ValueError(f"generate: the prompt has characters the model never saw: "
                         f"{''.join(unknown)!r}")
    if not args.prompt:
        raise UsageError("generate: --prompt must not be empty")
    ids = charlm.sample(model, [vocab.index(c) for c in args.prompt], args.tokens,
                        args.temperature, np.random.default_rng(args.seed), args.top_k)
    sys.stdout.write(args.prompt + "".join(vocab[i] for i in ids) + "\n")
    return 0
