"""Training tasks run by ``deltaflow train --task NAME``: classify, charlm, gan.

Each module exposes ``add_arguments(parser)`` (task-specific options only) and
``run(args) -> int``.
"""
