"""``deltaflow compare RUN RUN ... [--metric val_loss] [--output compare.png]``: several runs
side by side -- one metric's curves overlaid in one plot, a table of the runs' final metrics
(their last ``metrics.jsonl`` record and the ``test_*`` values of ``results.json``) and a
table of the settings (``config.toml``) that differ between them. A study folder (a folder
whose subfolders are run folders, such as a ``deltaflow tune`` study) stands for its runs."""
from __future__ import annotations

import sys
from pathlib import Path

from ..io import atomic_path, load_json
from ..train import run_folder as rf
from ..train.callbacks import read_metrics
from . import UsageError

METRICS_NAME = "metrics.jsonl"
#: record keys that are no final metric (counters, timing, the schedule)
NOT_METRICS = ("epoch", "step", "lr", "time", "samples_per_s")


def add_parser(subparsers, name):
    parser = subparsers.add_parser(name, help="overlay the curves of several runs and "
                                              "tabulate their results", description=__doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run folders, or study folders holding run folders")
    parser.add_argument("--metric", default="val_loss",
                        help="the metric per epoch to plot (default val_loss; any key of "
                             "metrics.jsonl: loss, accuracy, val_accuracy, loss_g ...)")
    parser.add_argument("--output", default="compare.png", metavar="FILE.png",
                        help="where to write the plot (default compare.png)")
    parser.set_defaults(run=run)
    return parser


def is_run_folder(path: Path) -> bool:
    return (path / rf.META_NAME).is_file()


def expand_runs(paths) -> list[Path]:
    """The run folders named: each path a run folder, or a study folder standing for the
    run folders inside it (sorted by name); each run once, in the order given."""
    runs = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise FileNotFoundError(f"compare: no such folder {path}")
        found = [path] if is_run_folder(path) else \
            sorted(p for p in path.iterdir() if p.is_dir() and is_run_folder(p))
        if not found:
            raise ValueError(f"compare: {path} is not a run folder (no {rf.META_NAME}) nor a "
                             f"study folder (no run folders inside)")
        runs += [r for r in found if r not in runs]
    return runs


def load_run(run_dir: Path) -> dict:
    """A run's records, config and results; a clear error when it has no records."""
    metrics, results = run_dir / METRICS_NAME, run_dir / rf.RESULTS_NAME
    records = read_metrics(metrics) if metrics.is_file() else []
    if not records:
        raise ValueError(f"compare: {run_dir} has no epochs in {METRICS_NAME} (it stopped "
                         f"before its first epoch ended)")
    return {"dir": run_dir, "records": records, "config": rf.read_config(run_dir),
            "results": load_json(results) if results.is_file() else {}}


def labels(runs: list[dict]) -> list[str]:
    """Each run's folder name, with its parent's when two runs share a name."""
    names = [r["dir"].name for r in runs]
    return [f"{r['dir'].parent.name}/{n}" if names.count(n) > 1 else n
            for r, n in zip(runs, names)]


def check_metric(runs: list[dict], names: list[str], metric: str) -> None:
    lacking = [n for r, n in zip(runs, names)
               if not any(metric in record for record in r["records"])]
    if lacking:
        common = set.intersection(*(set().union(*r["records"]) for r in runs))
        known = sorted(k for k in common if k not in NOT_METRICS)
        raise UsageError(f"--metric {metric}: not among the metrics of {', '.join(lacking)}; "
                         f"the runs share: {', '.join(known) or 'none'}")


def final_metrics(run: dict) -> dict:
    """The last record's metrics, then the run's ``test_*`` results."""
    last = run["records"][-1]
    values = {"epochs": last.get("epoch")}
    values.update((k, v) for k, v in last.items() if k not in NOT_METRICS)
    values.update((k, v) for k, v in run["results"].items() if k.startswith("test_"))
    return values


def differing_settings(runs: list[dict]) -> list[str]:
    """The ``config.toml`` keys whose value is not the same in every run."""
    keys = list(dict.fromkeys(k for r in runs for k in r["config"]))
    return [k for k in keys if len({repr(r["config"].get(k)) for r in runs}) > 1]


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def format_table(names: list[str], rows: list[dict], columns: list[str]) -> str:
    """Rows of ``names`` × ``columns``, aligned, with a header."""
    cells = [["run", *columns]] + [[n, *(_cell(row.get(c)) for c in columns)]
                                   for n, row in zip(names, rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(line, widths))) for line in cells]
    return "\n".join(lines)


def plot_curves(runs: list[dict], names: list[str], metric: str, path) -> Path:
    """``metric`` per epoch, one line per run, in one PNG."""
    from matplotlib.figure import Figure  # drawn by Agg; pyplot's global state is not touched
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    for run, name in zip(runs, names):
        points = [(r["epoch"], r[metric]) for r in run["records"] if r.get(metric) is not None]
        ax.plot(*zip(*points), marker="o", markersize=3, label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def run(args) -> int:
    from ..train.plots import have_matplotlib
    output = Path(args.output)
    if not output.parent.is_dir():
        raise FileNotFoundError(f"compare: --output {output}: no folder {output.parent}")
    runs = [load_run(d) for d in expand_runs(args.runs)]
    names = labels(runs)
    check_metric(runs, names, args.metric)
    finals = [final_metrics(r) for r in runs]
    columns = list(dict.fromkeys(k for f in finals for k in f))
    print(f"final metrics ({len(runs)} runs)")
    print(format_table(names, finals, columns))
    settings = differing_settings(runs)
    if settings:
        print("\nsettings that differ")
        print(format_table(names, [r["config"] for r in runs], settings))
    else:
        print("\nsettings: the same in every run")
    if not have_matplotlib():
        print('note: no plot: it needs matplotlib (pip install -e ".[plot]")', file=sys.stderr)
        return 0
    print(f"\nplot: {plot_curves(runs, names, args.metric, output)} ({args.metric} per "
          f"epoch)")
    return 0
