"""What a finished study leaves: ``best.toml``, the table of trials, and two plots."""
from __future__ import annotations

import warnings
from pathlib import Path

from .. import io
from ..train import run_folder as rf
from ..train.plots import have_matplotlib

BEST_FILE = "best.toml"
HISTORY_PLOT = "history.png"
IMPORTANCE_PLOT = "importances.png"


def format_params(params: dict) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def _where(metric: str) -> str:
    return " on the validation split" if metric.startswith("val_") else ""


def best_trial(study):
    """The best complete trial, or None when no trial completed."""
    try:
        return study.best_trial
    except ValueError:
        return None


def write_best(study, study_dir: Path, metric: str) -> Path | None:
    """``best.toml``: the best trial's ``config.toml`` without ``out`` (a reproduction goes
    to ``runs/`` or ``--out``), a ``deltaflow train --config`` file that trains that trial
    again, bit for bit."""
    best = best_trial(study)
    if best is None or "run" not in best.user_attrs:
        return None
    config = rf.read_config(study_dir / best.user_attrs["run"])
    config.pop("out", None)
    path = study_dir / BEST_FILE
    with io.atomic_write(path) as f:
        f.write(f"# the best trial of study {study.study_name}: trial {best.number} "
                f"({best.user_attrs['run']}), {metric} {best.value!r}{_where(metric)}\n"
                f"# deltaflow train --config {path.name} trains it again, bit for bit\n"
                + rf.dump_toml(config))
    return path


def table(study, metric: str) -> list[str]:
    """One line per trial: number, state, value, epochs, the parameters (best marked *)."""
    best = best_trial(study)
    names = list(dict.fromkeys(k for t in study.trials for k in t.params))
    rows = [["trial", "state", metric, "epochs", *names]]
    for t in study.trials:
        value = "" if t.value is None else f"{t.value:.4f}"
        params = [f"{t.params[k]:.4g}" if isinstance(t.params.get(k), float)
                  else str(t.params.get(k, "")) for k in names]
        mark = "*" if best is not None and t.number == best.number else ""
        rows.append([f"{t.number}{mark}", t.state.name.lower(), value,
                     str(t.user_attrs.get("epochs", "")), *params])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def plot_history(study, path, metric: str) -> Path | None:
    """Each trial's value (pruned: its last reported epoch, as x) and the best so far."""
    if not have_matplotlib():
        return None
    from matplotlib.figure import Figure
    done = [(t.number, t.value) for t in study.trials if t.state.name == "COMPLETE"]
    pruned = [(t.number, t.intermediate_values[max(t.intermediate_values)])
              for t in study.trials if t.state.name == "PRUNED" and t.intermediate_values]
    if not done:
        return None
    pick = min if study.direction.name == "MINIMIZE" else max
    best, running = [], None
    for _, value in done:
        running = value if running is None else pick(running, value)
        best.append(running)
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    ax.plot(*zip(*done), "o", label="complete")
    if pruned:
        ax.plot(*zip(*pruned), "x", color="grey", label="pruned (last epoch reported)")
    ax.step([n for n, _ in done], best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{metric} (validation split)")
    ax.set_title(f"{study.study_name}: optimization history")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp)
    return Path(path)


def plot_importances(study, path) -> Path | None:
    """Optuna's fANOVA parameter importances as bars (needs scikit-learn and at least two
    complete trials)."""
    if not have_matplotlib():
        return None
    import optuna
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except (ImportError, ValueError, RuntimeError):
        return None
    if not importances:
        return None
    from matplotlib.figure import Figure
    names = list(importances)[::-1]
    fig = Figure(figsize=(6, 1 + 0.5 * len(names)), dpi=100)
    ax = fig.subplots()
    ax.barh(names, [importances[n] for n in names], color="C0")
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title(f"{study.study_name}: parameter importances")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp)
    return Path(path)


def finish(study, study_dir: Path, metric: str, plot: bool = True,
           verbose: bool = False) -> list[Path]:
    """Write ``best.toml`` and the plots; print the table when ``verbose``."""
    written = [write_best(study, study_dir, metric)]
    if plot:
        written += [plot_history(study, study_dir / HISTORY_PLOT, metric),
                    plot_importances(study, study_dir / IMPORTANCE_PLOT)]
    written = [p for p in written if p is not None]
    if verbose:
        print("\n".join(table(study, metric)))
        best = best_trial(study)
        if best is not None:
            print(f"best: trial {best.number} ({best.user_attrs.get('run')}), {metric} "
                  f"{best.value:.4f}{_where(metric)} (the test split was not used to choose)")
        print("files: " + ", ".join(p.name for p in written))
    return written
