"""The ``deltaflow`` command line.

Each subcommand lives in its own module here and exposes ``add_parser(subparsers)`` and
``run(args) -> int``. Errors a user can cause (bad option values, missing files) are
raised as :class:`UsageError` (or ``FileNotFoundError`` / ``ValueError``) and printed as one
line with a non-zero exit code -- never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import backend

#: subcommand name -> module under ``deltaflow.cli``
COMMANDS = {
    "train": "train",
    "eval": "evaluate",
    "predict": "predict",
    "generate": "generate",
    "explain": "explain",
    "memory": "memory",
    "graph": "graph",
    "gradcheck": "gradcheck",
    "compare": "compare",
    "tune": "tune",
    "export": "export",
}


class UsageError(Exception):
    """A mistake in how the command was called; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line instead of usage + traceback
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deltaflow", description="Train, inspect and check neural networks.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, module in COMMANDS.items():
        importlib.import_module(f"deltaflow.cli.{module}").add_parser(sub, name)
    return parser


def main(argv=None) -> int:
    """Run one subcommand; returns the exit code. The command owns its process, so it lets
    malloc keep freed memory for the next step (:func:`deltaflow.backend.tune_allocator`)."""
    backend.tune_allocator()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)   # train --nproc relaunches
        if args.command is None:
            parser.print_help()
            return 2
        return int(args.run(args) or 0)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
