"""deltaflow's benchmark suite: ``python -m benchmarks [names...] [--repeats N] [--quick]``.

Each workload is a module ``benchmarks/workloads/<name>.py`` (see ``benchmarks/README.md``);
:mod:`benchmarks.harness` runs every implementation of it in its own subprocess, times
them round robin and writes the table to ``benchmarks/RESULTS.md``.
"""
