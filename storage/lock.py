"""One agent per data directory: an exclusive ``fcntl.flock`` on ``data_dir/agent.lock``.

The lock belongs to the open file: it is released when the holder closes it or dies (even
on ``kill -9``), so a stale lock file never blocks a restart. The holder writes its PID
into the file so a second process can say who holds it.

Threads: the composition root (main thread) acquires it at start and releases it at exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

from storage.errors import unusable

logger = logging.getLogger(__name__)

LOCK_FILE = "agent.lock"


class DataDirLocked(RuntimeError):
    """Another process holds the data directory's lock; ``pid`` is its PID when known."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"PID {pid}" if pid is not None else "a process whose PID is unknown"
        super().__init__(
            f"another agent ({who}) is already running on {path.parent}: it holds {path}. "
            "Stop it first; two agents on one data directory would trade twice.")


class DataDirLock:
    """``with DataDirLock(data_dir):`` or ``acquire()`` / ``release()``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting; raises DataDirLocked naming the holder's PID, or
        ``DataFileError`` naming the lock file when it cannot be opened or written."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise unusable(self.path, exc, "the lock file cannot be opened") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirLocked(self.path, pid) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.fsync(fd)
        except OSError as exc:  # a full or read-only disk: let go of the lock at once
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise unusable(self.path, exc, "the lock file cannot be written") from None
        self._fd = fd
        logger.debug("locked %s", self.path)

    def release(self) -> None:
        """Drop the lock (the file stays; its content is cleared)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
