"""``deltaflow generate RUN --prompt TEXT --tokens N --temperature T``: sample text from a
character language model trained by ``deltaflow train --task charlm --out RUN``.

RUN is the run folder (holding ``config.json`` and ``model.safetensors``); a path to a
``.safetensors`` file inside such a folder also works.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from . import UsageError


def add_parser(subparsers, name="generate"):
    p = subparsers.add_parser(name, help="sample text from a trained character language model",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", metavar="RUN", help="run folder of a charlm training run")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--tokens", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="softmax temperature; 0 = always the most likely character")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely")
    p.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    p.set_defaults(run=run)
    return p


def _locate(run_arg) -> tuple[Path, Path]:
    path = Path(run_arg)
    folder = path.parent if path.suffix == ".safetensors" else path
    weights = path if path.suffix == ".safetensors" else folder / "model.safetensors"
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"generate: {config} not found; RUN must be the --out folder "
                                "of `deltaflow train --task charlm`")
    if not weights.is_file():
        raise FileNotFoundError(f"generate: weights {weights} not found")
    return config, weights


def run(args) -> int:
    from ..models import charlm
    from ..train.checkpoint import load_weights

    if args.tokens < 0:
        raise UsageError(f"generate: --tokens must be >= 0, got {args.tokens}")
    if args.temperature < 0:
        raise UsageError(f"generate: --temperature must be >= 0, got {args.temperature}")
    config_path, weights = _locate(args.run_dir)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("task") != "charlm":
        raise ValueError(f"generate: {config_path} is from task {config.get('task')!r}, "
                         "not a charlm run")
    vocab = config["vocab"]
    unknown = sorted(set(args.prompt) - set(vocab))
    if unknown:
        raise ValueError(f"generate: the prompt has characters the model never saw: "
                         f"{''.join(unknown)!r}")
    if not args.prompt:
        raise UsageError("generate: --prompt must not be empty")
    model = charlm.build(config)
    model.load_state_dict(load_weights(weights))
    ids = charlm.sample(model, [vocab.index(c) for c in args.prompt], args.tokens,
                        args.temperature, np.random.default_rng(args.seed), args.top_k)
    sys.stdout.write(args.prompt + "".join(vocab[i] for i in ids) + "\n")
    return 0
