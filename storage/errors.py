"""The one error the data files raise when the agent cannot use them: ``DataFileError``,
whose message starts with the path (``data/state.json: orders[3].tag: missing``,
``data/prefs.json: is a directory, not a file``).

The start-up turns it into one line on stderr and exit status 1 (handlers/run_cli.py).
Pure; any thread.
"""

from __future__ import annotations

import errno
from pathlib import Path

_PLAIN = {
    errno.EISDIR: "is a directory, not a file",
    errno.EEXIST: "a file is in the way of a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EIO: "input/output error (a failing disk?)",
}


class DataFileError(Exception):
    """A file or directory of the data directory cannot be used; ``path`` names it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def os_problem(exc: OSError) -> str:
    """A plain reason for an ``OSError`` (``the disk is full (errno 28)``)."""
    plain = _PLAIN.get(exc.errno or 0)
    if plain is None:
        return exc.strerror or str(exc)
    return f"{plain} (errno {exc.errno})"


def unusable(path: Path, exc: OSError, doing: str = "") -> DataFileError:
    """The ``DataFileError`` for an ``OSError`` met while ``doing`` something with ``path``."""
    return DataFileError(path, f"{doing + ': ' if doing else ''}{os_problem(exc)}")
