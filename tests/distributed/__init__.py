"""Multi-process tests: real mpiexec runs (see launch.py)."""
