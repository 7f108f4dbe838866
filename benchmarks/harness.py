"""The benchmark runner: ``python -m benchmarks [names...] [--repeats N] [--quick]``.

For each workload it starts one worker process per implementation (deltaflow, torch,
numpy), lets each warm up, then times them round robin (one call each per round, the
starting implementation rotating) so that drift in the machine's speed hits all of them
alike; after each call it waits until that worker's thread pools stop spinning, so that
no implementation runs while another one burns a core. It reports the median and
interquartile range per call, the ratio of each median to the reference implementation's,
whether deltaflow meets the workload's target (judged on that ratio of medians), the
paired ratio (the median, and IQR, of the per-round ratios: the two calls of a round run
seconds apart, so a slow phase of the machine hits both), the peak RSS of each worker and
its ratio to the reference's, and for workloads that list their matrix products
(``gemms()``) the GEMM floor measured right after them (benchmarks/gemm_floor.py) and each
implementation's share of it; prints markdown tables and appends them, with the machine
description and the exact command, to ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import workloads

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
IMPLS = ("deltaflow", "torch", "numpy")
BUSY_LOAD = 1.5
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ------------------------------------------------------------------------- the machine
def _version(dist: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str:
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        text = f"{blas.get('name')} {blas.get('version')}"
        conf = blas.get("openblas configuration")
        return f"{text} ({conf})" if conf else text
    except Exception:  # numpy < 2 or an unusual build
        return "unknown"


def machine_info(threads: int) -> dict:
    """What the numbers depend on: CPU, cores, library versions, BLAS, thread settings."""
    import numpy as np
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS", "NUMEXPR_MAX_THREADS")
           if k in os.environ}
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas(),
        "torch": _version("torch"),
        "deltaflow": _version("deltaflow"),
        "numexpr": _version("numexpr"),
        "threads": threads,
        "thread_env": env,
        "priority": _priority(),
    }


def _priority() -> str:
    """The run's scheduling priority: nice value and, where the kernel groups processes by
    session (autogroup), the group's nice value, which decides against other sessions."""
    text = f"nice {os.nice(0)}"
    try:
        with open("/proc/self/autogroup") as f:
            text += f", autogroup nice {f.read().split()[-1]}"
    except (OSError, IndexError):
        pass
    return text


def foreign_workers() -> int:
    """How many benchmark workers of *other* harness runs are alive (they would compete)."""
    count = 0
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if b"benchmarks.worker" in args and ppid != os.getpid():
            count += 1
    return count


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


# --------------------------------------------------------------------------- workers
def worker_env(threads: int, limit_all: bool, src: str | None = None) -> dict:
    """The environment of a worker process: this checkout (or ``src``) importable, and with
    ``limit_all`` every library's thread pools limited to ``threads``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), src, env.get("PYTHONPATH")]))
    if limit_all:  # every library's thread pools, not only torch's
        for var in THREAD_VARS:
            env[var] = str(threads)
    return env


class Worker:
    """One implementation of one workload running in ``benchmarks.worker``."""

    def __init__(self, name: str, impl: str, quick: bool, threads: int, limit_all: bool,
                 src: str | None = None, label: str | None = None):
        self.impl = label or impl
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self.error = self.why = self.note = None
        self.units, self.threads, self.peak_rss_kib = 1, {}, None
        self._stderr = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, "-m", "benchmarks.worker", name, impl, "--threads", str(threads)]
        if quick:
            cmd.append("--quick")
        env = worker_env(threads, limit_all, src)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                     bufsize=1)
        msg = self._receive()
        self.status = msg.get("status", "error")
        if self.status == "ready":
            self.units = msg["units"]
            self.note = msg["note"]
            self.threads = msg["threads"]
        elif self.status == "na":
            self.why = msg["why"]
            self._finish()
        else:
            self.error = msg.get("error", "worker died")
            self._finish()

    @property
    def alive(self) -> bool:
        return self.status == "ready" and self.error is None

    def _receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            tail = self._stderr.read()[-3000:]
            return {"status": "error", "error": f"worker exited (rc={self.proc.wait()})\n{tail}"}
        return json.loads(line)

    def run_once(self, record: bool) -> None:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        msg = self._receive()
        if "t" not in msg:
            self.error = msg.get("error", "worker died")
            self._finish()
        elif record:
            self.times.append(msg["t"])
            self.cpu_times.append(msg["cpu"])
        self._settle()

    def _cpu_ticks(self) -> int | None:
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime, all threads
        except (OSError, IndexError, ValueError):
            return None

    def _settle(self, poll: float = 0.02, limit: float = 2.0) -> None:
        """Wait until this worker stops using CPU: BLAS and OpenMP pools keep spinning for a
        while after a call (OpenBLAS ≈ 0.1 s), which would slow the next worker down."""
        before = self._cpu_ticks()
        waited = 0.0
        while before is not None and waited < limit:
            time.sleep(poll)
            waited += poll
            now = self._cpu_ticks()
            if now == before:
                return
            before = now

    def close(self) -> None:
        if self.alive:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            msg = self._receive()
            self.peak_rss_kib = msg.get("peak_rss_kib")
        self._finish()

    def _finish(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()
        self._stderr.close()


def time_workload(name: str, impls, repeats: int, warmup: int, quick: bool,
                  threads: int, limit_all: bool, baseline: tuple | None = None,
                  gemm_floor: bool = True) -> dict:
    """Run one workload: all its implementations, interleaved round robin. ``baseline``
    (label, src folder) adds deltaflow from another checkout as one more implementation;
    ``gemm_floor``: then measure the floor of its ``gemms()``, if it has them."""
    mod = workloads.load(name)
    workers = []
    for impl in impls:
        print(f"  {name}/{impl}: starting", file=sys.stderr, flush=True)
        workers.append(Worker(name, impl, quick, threads, limit_all))
    if baseline is not None:
        print(f"  {name}/{baseline[0]}: starting", file=sys.stderr, flush=True)
        workers.append(Worker(name, "deltaflow", quick, threads, limit_all, src=baseline[1],
                              label=baseline[0]))
    live = [w for w in workers if w.alive]
    foreign = 0
    for rnd in range(warmup + repeats):
        foreign = max(foreign, foreign_workers())
        k = rnd % len(live) if live else 0
        for w in live[k:] + live[:k]:
            if w.alive:
                w.run_once(record=rnd >= warmup)
        print(f"  {name}: round {rnd + 1}/{warmup + repeats}", file=sys.stderr, flush=True)
    for w in workers:
        if w.status == "ready":
            w.close()
    floor = (measure_floor(name, quick, threads, limit_all)
             if gemm_floor and hasattr(mod, "gemms") else None)
    return {"name": name, "module": mod, "workers": workers, "foreign_workers": foreign,
            "floor": floor}


def measure_floor(name: str, quick: bool, threads: int, limit_all: bool) -> dict:
    """The GEMM floor of workload ``name`` (``python -m benchmarks.gemm_floor``), measured in
    a process of its own with the workers' thread settings; ``{"error": ...}`` on failure."""
    print(f"  {name}: GEMM floor", file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "benchmarks.gemm_floor", name] + (["--quick"] if quick else [])
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=worker_env(threads, limit_all),
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"error": "benchmarks.gemm_floor ran past 600 s"}
    if done.returncode:
        return {"error": f"benchmarks.gemm_floor failed (rc={done.returncode}): "
                         f"{done.stderr.strip()[-1000:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- reporting
def _stats(times: list[float]) -> tuple[float, float]:
    import numpy as np
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    return float(med), float(q3 - q1)


def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} µs"


def summarize(result: dict) -> list[dict]:
    """One row per implementation: medians per unit, ratio to the reference, target."""
    mod = result["module"]
    unit = getattr(mod, "UNIT", "call")
    rows = []
    for w in result["workers"]:
        row = {"workload": result["name"], "impl": w.impl, "unit": unit, "note": w.note,
               "peak_rss_mib": None if w.peak_rss_kib is None else w.peak_rss_kib / 1024,
               "threads": w.threads}
        if w.times and w.error is None:
            med, iqr = _stats(w.times)
            row.update(median=med / w.units, iqr=iqr / w.units, n=len(w.times), units=w.units,
                       cpu=_stats(w.cpu_times)[0] / w.units)
        else:
            row["skipped"] = w.why or ("error: " + (w.error or "").strip().splitlines()[-1]
                                       if w.error else "no timings")
            row["error"] = w.error
        rows.append(row)
    ref = next((r for r in rows if r["impl"] == mod.REFERENCE and "median" in r), None)
    ref_times = next((w.times for w, r in zip(result["workers"], rows) if r is ref), None)
    for w, r in zip(result["workers"], rows):
        if ref is not None and "median" in r:
            r["ratio"] = r["median"] / ref["median"]
            r["cpu_ratio"] = r["cpu"] / ref["cpu"] if ref["cpu"] > 0 else float("nan")
            if r is not ref and len(w.times) == len(ref_times):
                r["paired_ratio"], r["paired_iqr"] = _stats(
                    [t / w.units / (u / ref["units"]) for t, u in zip(w.times, ref_times)])
        if r["impl"] == "deltaflow" and mod.TARGET is not None and "ratio" in r:
            r["target"] = mod.TARGET
            r["met"] = r["ratio"] <= mod.TARGET
    ref_rss = next((r["peak_rss_mib"] for r in rows if r["impl"] == mod.REFERENCE), None)
    floor = result.get("floor") or {}
    for r in rows:
        if r["peak_rss_mib"] is not None and ref_rss:
            r["rss_ratio"] = r["peak_rss_mib"] / ref_rss
        if "floor_s" in floor and "median" in r:
            r["floor_s"] = floor["floor_s"]
            r["floor_share"] = floor["floor_s"] / r["median"]
            own = floor.get("reference") if r["impl"] == "torch" else None
            r["beyond_floor_s"] = r["median"] - (own or floor)["floor_s"]   # its own BLAS's
    return rows


def markdown_table(rows: list[dict], references: dict) -> str:
    lines = ["| workload | impl | median per unit | IQR | ratio (vs ref) | target | met | "
             "paired ratio (IQR) | CPU time per unit (ratio) | peak RSS (ratio) |",
             "|---|---|---:|---:|---:|---:|:-:|---:|---:|---:|"]
    for r in rows:
        ref = references[r["workload"]]
        impl = f"{r['impl']} (ref)" if r["impl"] == ref else r["impl"]
        rss = "" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f} MiB" + (
            f" ({r['rss_ratio']:.2f}×)" if "rss_ratio" in r else "")
        if "median" not in r:
            lines.append(f"| {r['workload']} | {impl} | {r['skipped']} | | | | | | | {rss} |")
            continue
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else "–"
        target = f"≤ {r['target']:.2f}×" if "target" in r else ""
        met = ("yes" if r["met"] else "**NO**") if "met" in r else ""
        cpu = _fmt_time(r["cpu"]) + (f" ({r['cpu_ratio']:.2f}×)" if "cpu_ratio" in r else "")
        paired = (f"{r['paired_ratio']:.2f}× ({r['paired_iqr']:.2f})" if "paired_ratio" in r
                  else "")
        lines.append(f"| {r['workload']} | {impl} | {_fmt_time(r['median'])}/{r['unit']} | "
                     f"{_fmt_time(r['iqr'])} | {ratio} | {target} | {met} | {paired} | {cpu} | "
                     f"{rss} |")
    return "\n".join(lines)


def report(rows, references, info, command, load_start, load_end, repeats, warmup,
           floors=None) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    threads = sorted({f"{k}={v}" for r in rows for k, v in (r["threads"] or {}).items()})
    busy = load_start[0] > BUSY_LOAD or info.get("foreign_workers")
    out = [f"## {now} — `{command}`", ""]
    out.append(f"- machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} "
               f"usable); Python {info['python']}, NumPy {info['numpy']} with {info['blas']}; "
               f"torch {info['torch']}; deltaflow {info['deltaflow']}"
               + (f"; numexpr {info['numexpr']}" if info["numexpr"] else ""))
    limit = (f"{', '.join(THREAD_VARS)}={info['threads']} for every worker and "
             if info["limit_all"] else "")
    out.append(f"- threads: {limit}torch.set_num_threads({info['threads']}); seen by the "
               f"workers: "
               f"{', '.join(threads) or 'n/a'}"
               + (f"; env {info['thread_env']}" if info["thread_env"] else ""))
    out.append(f"- scheduling priority: {info['priority']}")
    out.append(f"- {repeats} timed rounds after {warmup} warm-up, implementations interleaved; "
               f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end (the end "
               f"value includes this run's own threads)"
               + (f"; **{info['foreign_workers']} workers of another benchmark run were "
                  "active**" if info.get("foreign_workers") else "")
               + ((" — **machine busy: wall-clock timings unreliable; with every library "
                   "single-threaded, compare the CPU-time column**"
                   if info["limit_all"] and info["threads"] == 1 else
                   " — **machine busy: timings unreliable**") if busy else ""))
    notes = [f"{r['workload']}/{r['impl']}: {r['note']}" for r in rows if r.get("note")]
    for n in notes:
        out.append(f"- {n}")
    out += ["", markdown_table(rows, references), ""]
    if floors:
        out += [floor_table(rows, floors), ""]
    return "\n".join(out)


def floor_table(rows: list[dict], floors: dict) -> str:
    """Per workload with ``gemms()``: its matrix products per unit, NumPy's rate on their
    shapes, the resulting floor, each implementation's share of it (floor / median), the
    floor of PyTorch's matmul on the same shapes when it was measured, and each
    implementation's time beyond its own BLAS's floor (PyTorch: beyond PyTorch's floor)."""
    lines = ["GEMM floor (benchmarks/gemm_floor.py: NumPy float32 matmul of each workload's "
             "own forward + backward products, best of 5, measured after its rounds; "
             "share = floor / median time per unit; PyTorch's matmul timed on the same "
             "shapes; beyond = median − the floor of the implementation's own BLAS):", "",
             "| workload | GEMM work per unit | rate on its shapes (peak) | floor per unit | "
             "share of the floor | floor target | PyTorch's matmul: rate, floor | "
             "beyond its BLAS's floor |", "|---|---:|---:|---:|---|---:|---:|---|"]
    for name, floor in floors.items():
        if "error" in floor:
            lines.append(f"| {name} | {floor['error'].splitlines()[0]} | | | | | | |")
            continue
        mine = [r for r in rows if r["workload"] == name]
        unit = mine[0]["unit"] if mine else "unit"
        shares = " · ".join(f"{r['impl']} {100 * r['floor_share']:.3g}%" for r in mine
                            if "floor_share" in r)
        beyond = " · ".join(f"{r['impl']} {_fmt_time(r['beyond_floor_s'])}" for r in mine
                            if "beyond_floor_s" in r)
        target = floor.get("target")
        df = next((r for r in mine if r["impl"] == "deltaflow" and "floor_share" in r), None)
        met = "" if target is None or df is None else (
            f"≥ {target:.0%}: " + ("yes" if df["floor_share"] >= target else "**NO**"))
        ref = floor.get("reference")
        theirs = (f"{ref['rate'] / 1e9:.0f} GFLOP/s, {_fmt_time(ref['floor_s'])}" if ref
                  else "not measured")
        lines.append(f"| {name} | {floor['flops'] / 1e9:.3g} GFLOP/{unit} | "
                     f"{floor['rate'] / 1e9:.0f} GFLOP/s ({floor['peak_rate'] / 1e9:.0f} at "
                     f"{floor['peak_n']}³) | {_fmt_time(floor['floor_s'])} | {shares} | {met} | "
                     f"{theirs} | {beyond} |")
    return "\n".join(lines)


def _append_results(text: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by `python -m benchmarks`; see "
                           "benchmarks/README.md.\n\n")
    with RESULTS.open("a") as f:
        f.write("\n" + text)


# ------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help="workloads to run (default: all)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds (default: the workload's REPEATS, else 9; 3 with --quick)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: small problems (where the workload supports it), 3 rounds")
    p.add_argument("--impls", default=",".join(IMPLS),
                   help="comma-separated implementations to run (default: all)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every library to N threads (torch.set_num_threads and the "
                        "*_NUM_THREADS variables for NumPy's BLAS); default: torch gets one "
                        "thread per core, the others their defaults")
    p.add_argument("--no-record", action="store_true",
                   help="print the table but do not append it to benchmarks/RESULTS.md")
    p.add_argument("--baseline", metavar="REV",
                   help="also run deltaflow as of git revision REV (interleaved with the "
                        "others, row 'deltaflow@REV'): before/after of a change in one run")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON here")
    p.add_argument("--no-floor", action="store_true",
                   help="skip the GEMM floor of the training workloads (benchmarks/gemm_floor)")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = p.parse_args(argv)

    if args.list:
        for name in workloads.expand(workloads.names()):
            mod = workloads.load(name)
            print(f"{name:18s} {mod.DESCRIPTION}")
        return 0
    names = workloads.expand(args.names or workloads.names())
    impls = [i for i in args.impls.split(",") if i]
    for i in impls:
        if i not in IMPLS:
            p.error(f"unknown implementation {i!r}; expected some of {', '.join(IMPLS)}")
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])

    limit_all = args.threads is not None
    threads = args.threads or os.cpu_count()
    info = machine_info(threads)
    info["limit_all"] = limit_all
    info["foreign_workers"] = foreign_workers()
    load_start = load_average()
    if load_start[0] > BUSY_LOAD:
        print(f"warning: load average {load_start[0]:.2f} > {BUSY_LOAD}: the machine is busy "
              "and timings will be unreliable", file=sys.stderr)
    baseline = None
    if args.baseline:
        tmp = tempfile.mkdtemp(prefix="deltaflow-baseline-")
        archive = subprocess.run(["git", "archive", args.baseline, "src"], cwd=ROOT,
                                 capture_output=True, check=False)
        if archive.returncode:
            p.error(f"--baseline {args.baseline}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        baseline = (f"deltaflow@{args.baseline}", str(Path(tmp) / "src"))
    rows, references, floors = [], {}, {}
    for name in names:
        mod = workloads.load(name)
        references[name] = mod.REFERENCE
        repeats = args.repeats or (3 if args.quick else getattr(mod, "REPEATS", 9))
        result = time_workload(name, impls, repeats, args.warmup, args.quick, threads,
                               limit_all, baseline, gemm_floor=not args.no_floor)
        rows += summarize(result)
        if result["floor"] is not None:
            floors[name] = {**result["floor"], "target": getattr(mod, "FLOOR_TARGET", None)}
        info["foreign_workers"] = max(info["foreign_workers"], result["foreign_workers"])
    load_end = load_average()
    info["foreign_workers"] = max(info["foreign_workers"], foreign_workers())
    if baseline is not None:
        shutil.rmtree(Path(baseline[1]).parent, ignore_errors=True)

    text = report(rows, references, info, command.strip(), load_start, load_end,
                  args.repeats or ("3" if args.quick else "9 (or the workload's REPEATS)"),
                  args.warmup, floors)
    print(text)
    for r in rows:
        if r.get("error"):
            print(f"\n{r['workload']}/{r['impl']} failed:\n{r['error']}", file=sys.stderr)
    if not args.no_record:
        _append_results(text)
        print(f"(appended to {RESULTS.relative_to(ROOT)})", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"command": command, "machine": info, "load": [load_start, load_end],
             "rows": [{k: v for k, v in r.items() if k != "error"} for r in rows],
             "floors": floors}, indent=1))
    return 0
