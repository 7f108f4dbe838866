"""Atomic file writes, JSON, and appends to logs (text, JSON lines).

``atomic_path(path)`` yields a temporary path in the target's folder; on success the file is
fsynced, renamed over ``path`` (``os.replace`` is atomic) and the rename made durable by an
fsync of the folder. A reader (or a crash) never sees a half-written file: the path holds
either the old content or the complete new one. Every file deltaflow writes goes through here.

A write that fails (a full disk, an I/O error, a read-only folder, a folder that is a file)
raises :class:`WriteError`, an ``OSError`` whose message is one line naming the file and the
cause; the temporary file is removed and ``path`` keeps its old content.
"""
from __future__ import annotations

import contextlib
import errno as errno_codes
import json
import os
import secrets
from pathlib import Path

import numpy as np


class WriteError(OSError):
    """A file could not be written: ``str(err)`` is ``cannot write PATH: CAUSE (ECODE)``.
    ``errno`` is the underlying error's, ``path`` the file that was being written."""

    def __init__(self, path, cause: OSError):
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.path, self.cause = Path(path), cause
        code = errno_codes.errorcode.get(cause.errno) if cause.errno is not None else None
        self.message = f"cannot write {path}: {cause.strerror or cause}" + \
            (f" ({code})" if code else "")

    def __str__(self) -> str:
        return self.message


def _failed(path, err: OSError) -> WriteError:
    return err if isinstance(err, WriteError) else WriteError(path, err)


def _new_temp_file(path: Path) -> tuple[Path, int]:
    """Create an empty, unique temporary file next to ``path``; return it and the usual
    permissions (0666 & ~umask, what ``open`` gives) for the finished file. The name keeps
    ``path``'s suffix, so writers that pick a format from the name (matplotlib's ``savefig``)
    write the right one."""
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        return tmp, os.fstat(fd).st_mode & 0o777
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """``with atomic_path(path) as tmp: <write the file tmp>``: on success ``tmp`` replaces
    ``path`` atomically (its folder is created if missing); on an exception ``tmp`` is
    deleted and ``path`` is left untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp, mode = _new_temp_file(path)
    except OSError as err:
        raise _failed(path, err) from None
    try:
        yield tmp
        os.chmod(tmp, mode)  # writers that replace tmp (matplotlib) may change its mode
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _failed(path, err) from None
        raise
    _fsync_folder(path.parent)


def move(src, dst) -> None:
    """Rename ``src`` over ``dst`` atomically (same folder) and make the rename durable."""
    try:
        os.replace(src, dst)
    except OSError as err:
        raise _failed(dst, err) from None
    _fsync_folder(Path(dst).parent)


def remove(path) -> None:
    """Delete ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise _failed(path, err) from None


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", encoding: str | None = None):
    """``with atomic_write(path) as f: f.write(...)``: like ``open(path, mode)`` but atomic."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f


def _to_json(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"save_json: cannot store a {type(obj).__name__} in JSON (save arrays "
                    f"with deltaflow.save)")


def save_json(obj, path, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON atomically (NumPy scalars become Python numbers, paths strings;
    NaN and ±Inf are written as ``NaN``/``Infinity``, which :func:`load_json` reads back)."""
    text = json.dumps(obj, indent=indent, default=_to_json)
    with atomic_write(path, "w") as f:
        f.write(text + "\n")


def load_json(path):
    """Read a JSON file written by :func:`save_json`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def append_text(path, text: str) -> None:
    """Append ``text`` to ``path`` (a log; the file and its folder are created if missing).
    A failed append is cut back off, so the log keeps only whole records."""
    path = Path(path)
    data = text.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            size = f.tell()
            try:
                f.write(data)
                f.flush()
            except OSError:
                with contextlib.suppress(OSError):
                    f.truncate(size)
                raise
    except OSError as err:
        raise _failed(path, err) from None


def append_jsonl(path, record) -> None:
    """Append ``record`` to ``path`` as one JSON line (``metrics.jsonl``); NumPy scalars
    become Python numbers, NaN and ±Inf ``NaN``/``Infinity``."""
    append_text(path, json.dumps(record, default=_to_json) + "\n")
