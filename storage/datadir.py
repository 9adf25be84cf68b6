"""The data directory at start: it exists (or is made), is a directory, and takes a write.

A ``data_dir`` that is a file, a parent that is a file, a read-only file system or a full
disk stops the start with a ``DataFileError`` naming the path, before anything is written
or started. Main thread, at start-up (``handlers/run_cli.py``, ``handlers/runtime.py``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from storage.atomic import atomic_write_bytes
from storage.errors import DataFileError, unusable

PROBE = ".write-probe"


def prepare_data_dir(data_dir: Path) -> Path:
    """Make ``data_dir`` if needed and check that a file can be written in it (one small
    atomic write, removed at once: the path the state file takes). Returns it."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataFileError(data_dir, "data_dir is a file, not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(data_dir, exc, "data_dir cannot be made") from None
    probe = data_dir / PROBE
    try:
        atomic_write_bytes(probe, f"{os.getpid()}\n".encode())
    except OSError as exc:
        raise unusable(data_dir, exc, "cannot write in the data directory") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return data_dir
