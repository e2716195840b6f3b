"""Every file the toolkit writes is written atomically: a temporary file, then a rename.

A reader never sees a half-written certificate: either the old file (until the rename)
or the complete new one. A failed write raises :class:`~.errors.OutputError` (one
sentence: the path, the reason, the fix), which the CLI reports with exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import OutputError

__all__ = ["check_writable", "check_writable_folder", "remove_stale", "write_json",
           "write_text"]


def _target(path: str | os.PathLike[str], what: str) -> Path:
    text = os.fspath(path)
    if not text.strip():
        raise OutputError(f"the {what} path is empty; give a file name such as out/cert.json")
    p = Path(text)
    if p.exists() and p.is_dir():
        raise OutputError(f"{text!r} is a folder, not a file; give a file name for the {what}")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Fail early (before a long run) if ``path`` cannot be written.

    The folder is created and a probe file written and removed in it, so a path that only
    looks writable (a folder of ``/proc``, a read-only mount) is refused before the run.
    """
    p = _target(path, what)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=p.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write the {what} {os.fspath(path)!r}: "
                          f"{exc.strerror or exc}; choose another path") from None
    return p


def check_writable_folder(path: str | os.PathLike[str], what: str = "report") -> Path:
    """Fail early if the folder ``path`` cannot be (re)written: not a file, parent writable."""
    text = os.fspath(path)
    if not text.strip():
        raise OutputError(f"the {what} path is empty; give a folder name such as out/report")
    p = Path(text)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{text!r} is a file, not a folder; give a folder name for the {what}")
    probe = p.parent if str(p.parent) else Path(".")
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise OutputError(f"cannot write the {what} folder {text!r}: {str(probe)!r} is not a "
                          "writable folder; choose another path")
    return p


def write_text(path: str | os.PathLike[str], text: str, what: str = "output") -> Path:
    """Write ``text`` to ``path`` atomically (creating missing parent folders)."""
    p = _target(path, what)
    tmp = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a file gets the usual mode
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write the {what} {os.fspath(path)!r}: "
                          f"{exc.strerror or exc}; choose another path") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return p


def write_json(path: str | os.PathLike[str], data: Any, what: str = "certificate") -> Path:
    """``json.dumps(data, indent=2)`` written atomically."""
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n", what)


def remove_stale(path: str | os.PathLike[str] | None) -> None:
    """Remove the certificate a failed or interrupted run would have replaced."""
    if path is None or not os.fspath(path).strip():
        return
    with contextlib.suppress(OSError):
        p = Path(path)
        if p.is_file():
            p.unlink()
