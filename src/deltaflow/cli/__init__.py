"""The ``deltaflow`` command line.

Each subcommand lives in its own module here and exposes ``add_parser(subparsers)`` and
``run(args) -> int``. Errors a user can cause (bad option values, missing files) are
raised as :class:`UsageError` (or ``FileNotFoundError`` / ``ValueError``, or an ``OSError`` such
as a failed write) and printed as one line with a non-zero exit code -- never a traceback.
Output piped into a reader that stops early (``deltaflow explain | head``) ends quietly with
exit code 141, as for other command-line tools killed by SIGPIPE.
"""
from __future__ import annotations

import argparse
import importlib
import os
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
    "sharpness": "sharpness",
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
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:   # (a stopped training run prints its own resume line)
        print("interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """After the reader of stdout went away: point stdout at /dev/null, so that the
    interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):   # pragma: no cover - stdout without a file descriptor
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
