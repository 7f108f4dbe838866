"""``deltaflow tune``: search hyper-parameters of ``deltaflow train`` with Optuna.

Every ``deltaflow train`` option is a fixed setting of the study; ``--param NAME=SPEC``
(repeated) and ``--space FILE.toml`` say what is sampled (:mod:`deltaflow.tune.search_space`).
Each trial is a run folder in the study folder ``--out/--study`` (see
:mod:`deltaflow.tune.study`); naming an existing study resumes it.
"""
from __future__ import annotations

from ..tasks.common import positive_float, positive_int, text
from ..tune.search_space import SearchSpace, SpaceError
from ..tune.study import StudyError, tune_train
from . import UsageError
from . import train as train_cli


def add_parser(subparsers, name):
    parser = train_cli.add_parser(subparsers, name)   # every train option, as fixed settings
    subparsers._choices_actions[-1].help = "search hyper-parameters of deltaflow train " \
                                           "(Optuna)"
    parser.description = (
        "Search hyper-parameters with Optuna (TPE, median pruning). Every deltaflow train "
        "option is a fixed setting; --param/--space say what is sampled. Each trial is a "
        "run folder in the study folder --out/--study; naming an existing study resumes it. "
        "Trials are judged on the validation split of the training data, never the test "
        "split.")
    g = parser.add_argument_group("the study")
    g.add_argument("--param", action="append", default=[], type=text, metavar="NAME=SPEC",
                   help="a sampled option: lr=loguniform:1e-4:1e-1, dropout=uniform:0:0.5, "
                        "batch-size=int:32:256:log, hidden=choice:128,256,512 (repeat)")
    g.add_argument("--space", type=text, metavar="FILE.toml",
                   help="sampled options from a TOML file (NAME = \"SPEC\", or an array of "
                        "choices)")
    g.add_argument("--n-trials", type=positive_int, metavar="N",
                   help="finished trials (complete or pruned) the study should hold "
                        "(default 20; with --timeout alone: as many as fit)")
    g.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                   help="start no trial after this many seconds")
    g.add_argument("--metric", type=text,
                   help="the epoch record's key to optimize (default val_loss; val_accuracy, "
                        "val_ppl, ...)")
    g.add_argument("--direction", choices=["minimize", "maximize"],
                   help="default: minimize losses and perplexities, maximize accuracies")
    g.add_argument("--startup-trials", type=positive_int, metavar="N",
                   help="the first N trials are drawn at random and never pruned (default 5)")
    g.add_argument("--storage", type=text, metavar="URL",
                   help="Optuna storage (default sqlite:///<study folder>/study.db)")
    g.add_argument("--study", type=text, metavar="NAME",
                   help="study folder under --out (default tune-<model>-<data>-<time>); an "
                        "existing one is resumed")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    try:
        space = SearchSpace.from_sources(args.space, args.param)
        n_trials = args.n_trials if args.n_trials or args.timeout else 20
        tune_train(args, space, out=args.out or "runs", study=args.study,
                   storage=args.storage, n_trials=n_trials, timeout=args.timeout,
                   metric=args.metric, direction=args.direction,
                   startup_trials=args.startup_trials, plot=not args.no_plot, verbose=True)
    except (SpaceError, StudyError) as err:
        raise UsageError(str(err)) from None
    return 0
