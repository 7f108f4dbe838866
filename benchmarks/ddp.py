"""The ``ddp`` benchmark: all-reduce time against message size, the per-step breakdown of
DistributedDataParallel (compute, communication, exposed communication), and the cost model
(benchmarks/cost_model.py) checked against them and projected to clusters.

    python -m benchmarks.ddp                   # --nproc 2,4; appends to benchmarks/RESULTS.md
    python -m benchmarks.ddp --quick --no-record
    python -m benchmarks.ddp --json run.json --plot-dir docs/img

It starts the processes itself: ``python -m benchmarks.ddp_worker profile`` (one process, at
each thread count the runs below give a rank) and ``mpiexec -n P python -m
benchmarks.ddp_worker mpi`` for each P (the venv's mpiexec, as tests/distributed does).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import cost_model as cm
from benchmarks.ddp_worker import AUTOGROUP_ENV, BUCKETS_MB, MEASURED_STEPS
from benchmarks.harness import RESULTS, ROOT, load_average, machine_info

TIMEOUT = 600
# Ranks that outnumber the cores: a rank waiting in MPI sleeps 1 µs after 64 polls that
# found nothing (MPICH's progress throttle) instead of spinning on a core that a rank still
# computing needs. MPICH's default yield (sched_yield every 1000 polls) stays in force too.
OVERSUBSCRIBED_ENV = {"MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1",
                      "MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT": "64"}


def mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("benchmarks.ddp: mpiexec not found next to this Python or on PATH "
                 "(pip install -e \".[distributed]\")")
    return found


def launch(cmd, env_extra, out_path):
    """Run ``cmd`` (its own process group, killed after TIMEOUT; the session, and so the
    scheduling priority, stays this one's) and read its JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPI_"))}
    env.update(env_extra)
    nice = _autogroup_nice()
    if nice:
        env[AUTOGROUP_ENV] = nice
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, preexec_fn=os.setpgrp)
    try:
        code = proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        sys.exit(f"benchmarks.ddp: {' '.join(cmd)} did not end within {TIMEOUT} s")
    if code != 0:
        sys.exit(f"benchmarks.ddp: {' '.join(cmd)} exited with {code}")
    with open(out_path) as f:
        return json.load(f)


# the α–β fits: over the whole sweep, and over the messages these workloads' buckets are
# (≤ 4 MiB: their gradients are 1.6-2.6 MiB), which the predictions use; larger messages
# leave the caches and run at memory bandwidth, another β
FIT_SPANS = {"1 KiB-64 MiB": 2 ** 26, "1 KiB-4 MiB": 2 ** 22}
PREDICT_SPAN = "1 KiB-4 MiB"


def threads_for(p: int, cores: int) -> int:
    """What init_process_group gives each of p ranks on this machine."""
    return max(1, cores // p)


def measure(nproc, quick, tmp):
    from deltaflow.distributed.threads import usable_cores

    cores = usable_cores()
    flag = ["--quick"] if quick else []
    profiles, runs = {}, {}
    for t in sorted({cores, 1, *(threads_for(p, cores) for p in nproc)}, reverse=True):
        out = os.path.join(tmp, f"profile{t}.json")
        profiles[t] = launch([sys.executable, "-m", "benchmarks.ddp_worker", "profile", out,
                              *flag], {"DELTAFLOW_THREADS_PER_RANK": str(t)}, out)
    for p in nproc:
        out = os.path.join(tmp, f"mpi{p}.json")
        env = OVERSUBSCRIBED_ENV if p > cores else {}
        runs[p] = launch([mpiexec(), "-n", str(p), sys.executable, "-m",
                          "benchmarks.ddp_worker", "mpi", out, *flag], env, out)
        runs[p]["env"] = env
    return cores, profiles, runs


def analyse(cores, profiles, runs):
    """Fits, predictions against the measurements, projections."""
    fits = {p: {span: cm.fit_alpha_beta([(p, r["bytes"], r["iallreduce"])
                                         for r in run["allreduce"] if r["bytes"] <= limit])
                for span, limit in FIT_SPANS.items()} for p, run in runs.items()}
    rows = []
    for name in MEASURED_STEPS:
        for t in sorted(profiles, reverse=True):
            prof1 = profiles[t]["profiles"][name]
            for mb in BUCKETS_MB:
                rows.append({"workload": name, "p": 1, "threads": t, "bucket_mb": mb,
                             "buckets": None, "compute": prof1["plain_step"],
                             "compute_mean_rank": prof1["plain_step"], "comm": 0.0,
                             "step": prof1["ddp_step"][str(mb)], "pred_a": None,
                             "pred_b": None})
        for p, run in runs.items():
            t = threads_for(p, cores)
            share = max(1.0, p * t / cores)          # time-slicing when ranks outnumber cores
            prof = cm.Profile.from_dict(profiles[t]["profiles"][name]).slowed(share)
            alpha, beta = fits[p][PREDICT_SPAN]["alpha"], fits[p][PREDICT_SPAN]["beta"]
            for mb in BUCKETS_MB:
                m = run["steps"][name][str(mb)]
                a = cm.predict(prof, p, alpha, beta, mb * cm.MIB)
                # the same model with the compute measured on the p ranks (slowest rank)
                b = cm.predict(prof.slowed(m["compute"] / prof.compute), p, alpha, beta,
                               mb * cm.MIB)
                rows.append({"workload": name, "p": p, "threads": t, "bucket_mb": mb,
                             **{k: m[k] for k in ("buckets", "compute", "compute_mean_rank",
                                                  "comm", "step")},
                             "pred_a": a.step, "pred_b": b.step, "pred_exposed": a.exposed})
    cluster = profiles[1]["profiles"]        # one process per core
    return fits, rows, cluster


def _ms(x):
    return "" if x is None else f"{x * 1e3:.2f}"


def _err(pred, meas):
    return "" if pred is None else f"{(pred - meas) / meas:+.0%}"


def tables(cores, profiles, runs, fits, rows, cluster) -> str:
    out = ["All-reduce through `Communicator.iallreduce(...).wait()` (DDP's call; blocking "
           "`allreduce` in brackets), median of the slowest rank, and the α–β fit "
           "T = 2(p−1)α + 2(p−1)/p·n/β:", ""]
    ps = sorted(runs)
    out.append("| bytes | " + " | ".join(f"p={p} measured | p={p} fit" for p in ps) + " |")
    out.append("|---:|" + "---:|---:|" * len(ps))
    for i, r in enumerate(runs[ps[0]]["allreduce"]):
        cells = []
        for p in ps:
            m = runs[p]["allreduce"][i]
            f = fits[p][PREDICT_SPAN if m["bytes"] <= FIT_SPANS[PREDICT_SPAN] else
                        next(iter(FIT_SPANS))]
            fit = cm.ring_allreduce_time(m["bytes"], p, f["alpha"], f["beta"])
            cells.append(f"{m['iallreduce'] * 1e6:.1f} µs ({m['allreduce'] * 1e6:.1f}) | "
                         f"{fit * 1e6:.1f} µs")
        out.append(f"| {_bytes(r['bytes'])} | " + " | ".join(cells) + " |")
    out += ["", f"(fit column: the {PREDICT_SPAN} fit up to {_bytes(FIT_SPANS[PREDICT_SPAN])}, "
            "the whole-sweep fit above)", "",
            "| p | messages fitted | α | β | fit error (RMS / max, relative) | MPICH settings |",
            "|---:|---|---:|---:|---:|---|"]
    for p in ps:
        env = " ".join(f"{k}={v}" for k, v in runs[p]["env"].items()) or "defaults"
        for span, f in fits[p].items():
            out.append(f"| {p} | {span} | {f['alpha'] * 1e6:.2f} µs | {f['beta'] / 1e9:.2f} "
                       f"GB/s | {f['rms_rel_err']:.0%} / {f['max_rel_err']:.0%} | {env} |")
    out += ["", "Per step (medians; on several processes the slowest rank's): compute = the "
            "same step under `no_sync` (mean rank in brackets), comm = the buckets' "
            "all-reduces alone, exposed = DDP step − compute; predicted: (a) the cost model "
            "from the one-process profile at the rank's thread count (× p·threads/cores "
            "when ranks outnumber cores) and the fitted α, β; (b) the same with the compute "
            "measured on the p ranks.", "",
            "| workload | p | threads/rank | bucket | buckets | compute | comm | DDP step | "
            "exposed | predicted (a) | err (a) | predicted (b) | err (b) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        comp = _ms(r["compute"]) + ("" if r["p"] == 1 else f" ({_ms(r['compute_mean_rank'])})")
        out.append(f"| {r['workload']} | {r['p']} | {r['threads']} | {r['bucket_mb']} MB | "
                   f"{r['buckets'] or ''} | {comp} | {_ms(r['comm'])} | {_ms(r['step'])} | "
                   f"{_ms(r['step'] - r['compute'])} | {_ms(r['pred_a'])} | "
                   f"{_err(r['pred_a'], r['step'])} | {_ms(r['pred_b'])} | "
                   f"{_err(r['pred_b'], r['step'])} |")
    profs = {n: cm.Profile.from_dict(d) for n, d in cluster.items()}
    out += ["", "Projected weak-scaling efficiency (cost model, bucket 25 MB, one process per "
            "core, each with this machine's one-thread step and ready profile; α = "
            f"{cm.ALPHA_CLUSTER * 1e6:.0f} µs, β = line rate):", "",
            cm.projection_table(profs), ""]
    return "\n".join(out)


def _bytes(n):
    return f"{n // 2 ** 20} MiB" if n >= 2 ** 20 else f"{n // 2 ** 10} KiB"


def plot_allreduce(runs, fits, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for p in sorted(runs):
        n = [r["bytes"] for r in runs[p]["allreduce"]]
        line, = ax.plot(n, [r["iallreduce"] for r in runs[p]["allreduce"]], "o",
                        label=f"p={p} measured")
        for (span, f), style in zip(fits[p].items(), ("--", "-")):
            ax.plot(n, [cm.ring_allreduce_time(x, p, f["alpha"], f["beta"]) for x in n], style,
                    color=line.get_color(), label=f"p={p} fit {span}: α={f['alpha'] * 1e6:.1f} "
                                                  f"µs, β={f['beta'] / 1e9:.2f} GB/s")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("message (bytes)")
    ax.set_ylabel("all-reduce time (s)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ddp",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--nproc", default="2,4", help="process counts (default 2,4)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few sizes and steps")
    parser.add_argument("--no-record", action="store_true",
                        help="print the tables but do not append them to benchmarks/RESULTS.md")
    parser.add_argument("--json", help="write the measurements and the analysis here")
    parser.add_argument("--plot-dir", help="write ddp_allreduce.png and ddp_scaling.png here")
    args = parser.parse_args(argv)
    nproc = [int(p) for p in args.nproc.split(",")]
    command = "python -m benchmarks.ddp " + " ".join(argv if argv is not None else sys.argv[1:])
    load_start = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        cores, profiles, runs = measure(nproc, args.quick, tmp)
    load_end = load_average()
    fits, rows, cluster = analyse(cores, profiles, runs)
    info = machine_info(cores)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join([
        f"## {now} — `{command.strip()}`", "",
        f"- machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable); "
        f"Python {info['python']}, NumPy {info['numpy']} with {info['blas']}; deltaflow "
        f"{info['deltaflow']}; {_mpi_version()}",
        f"- scheduling priority: {info['priority']}; load average {load_start[0]:.2f} at "
        f"start, {load_end[0]:.2f} at end (shared machine: other jobs run beside this one)",
        "- synthetic batches of the workloads' shapes; per-process batch fixed (weak "
        "scaling): mlp 128, cnn 64, transformer 32×64", "",
        tables(cores, profiles, runs, fits, rows, cluster)])
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": cores, "profiles": profiles, "runs": runs, "fits": fits,
                       "rows": rows, "cluster_profiles": cluster}, f, indent=1)
    if args.plot_dir:
        plot_allreduce(runs, fits, Path(args.plot_dir) / "ddp_allreduce.png")
        cm.plot_projection({n: cm.Profile.from_dict(d) for n, d in cluster.items()},
                           Path(args.plot_dir) / "ddp_scaling.png")
    if not args.no_record and not args.quick:
        with RESULTS.open("a") as f:
            f.write("\n" + text)
        print(f"(appended to {RESULTS.relative_to(ROOT)})", file=sys.stderr)
    return 0


def _autogroup_nice():
    try:
        with open("/proc/self/autogroup") as f:
            nice = f.read().split()[-1]
    except (OSError, IndexError):
        return None
    return None if nice == "0" else nice


def _mpi_version():
    from importlib import metadata
    try:
        return f"mpich {metadata.version('mpich')}, mpi4py {metadata.version('mpi4py')}"
    except metadata.PackageNotFoundError:
        return "MPI: not from PyPI"


if __name__ == "__main__":
    sys.exit(main())
