"""Training tasks run by ``deltaflow train --task NAME``: classify, charlm, gan, babi.

Each module exposes ``add_arguments(parser)`` (task-specific options only) and
``run(args) -> int``.
"""
