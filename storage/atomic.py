"""Atomic whole-file writes, and a TinyDB storage built on them.

A write goes to a temporary file in the target's directory, is flushed and fsynced, is
``os.replace``d over the target, and the directory is fsynced so the rename itself is
durable. A crash at any point leaves either the old file or the new one, never a mix.

:class:`AtomicJSONStorage` is not thread-safe: one thread at a time uses it (for the state
file that is the storage writer thread; the engine's start-up load runs before it exists).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from storage.errors import unusable
from storage.plainjson import check_plain_json

logger = logging.getLogger(__name__)

NEW_FILE_MODE = 0o600  # state holds orders and positions: private by default


class StorageFileCorrupt(ValueError):
    """A storage file exists and is not empty but cannot be read; ``reason`` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        if os.name == "nt":  # Windows cannot open a directory; NTFS journals renames
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, replace, fsync dir).

    The file keeps its permission bits; a new file gets ``NEW_FILE_MODE``. On any error
    the temporary file is removed and the old ``path`` is untouched.
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


def _check_tinydb_layout(path: Path, data: Any) -> None:
    """TinyDB's layout: {table: {doc_id: {document}}}; raise StorageFileCorrupt otherwise."""
    if not isinstance(data, dict):
        raise StorageFileCorrupt(
            path, f"the top level is a JSON {type(data).__name__}, not an object of tables"
        )
    for name, table in data.items():
        if not isinstance(table, dict):
            raise StorageFileCorrupt(path, f"table {name!r} is not a JSON object")
        for doc_id, doc in table.items():
            if not doc_id.isdigit() or not isinstance(doc, dict):
                raise StorageFileCorrupt(
                    path, f"table {name!r}: entry {doc_id!r} is not a numbered document object"
                )


def read_json_file(path: Path) -> dict[str, Any] | None:
    """The parsed TinyDB file; None when it does not exist.

    Raises :class:`StorageFileCorrupt` (with line and column for a JSON error) for a file
    that is not a TinyDB file, a zero-length one included: an atomic write never leaves
    one, so it is what a crash on a file system that lost the data left. Raises
    :class:`~storage.errors.DataFileError` when the file cannot be read at all (a
    directory in its place, no permission).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise unusable(path, exc, "cannot be read") from None
    if not raw:
        raise StorageFileCorrupt(path, "the file is empty (zero-length): a write was cut "
                                 "short; nothing saved is a missing file, never an empty one")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise StorageFileCorrupt(path, f"not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise StorageFileCorrupt(
            path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    _check_tinydb_layout(path, data)
    return data


PIECE_ITEMS = 200  # items of a large object or array encoded by one json.dumps
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def dumps_in_pieces(value: Any, depth: int = 2) -> str:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False)``, the same text, built
    from several encoder calls: the items of objects and arrays of the outer ``depth``
    levels (a TinyDB file: its tables, their documents) one by one, and the items of any
    object or array of more than ``PIECE_ITEMS`` items (a section of 3,000 instruments)
    ``PIECE_ITEMS`` at a time.

    A single ``json.dumps`` of a multi-megabyte state holds the GIL from start to end
    (tens of milliseconds), stalling the feed, engine and broker threads; between the
    pieces other threads get their turn. Any thread.
    """
    pieces: list[str] = []
    _pieces(value, depth, pieces)
    return "".join(pieces)


def _pieces(value: Any, depth: int, out: list[str]) -> None:
    kind = type(value)
    if kind is dict and all(type(key) is str for key in value):
        items = list(value.items())
    elif kind is list:
        items = value
    else:
        out.append(_ENCODE(value))
        return
    large = len(items) > PIECE_ITEMS
    if not large and (depth <= 0 or len(items) < 2):
        out.append(_ENCODE(value))
        return
    out.append("{" if kind is dict else "[")
    if large:  # a run of items, without its brackets
        for i in range(0, len(items), PIECE_ITEMS):
            run = items[i : i + PIECE_ITEMS]
            out.append((", " if i else "") + _ENCODE(dict(run) if kind is dict else run)[1:-1])
    else:
        for i, item in enumerate(items):
            if i:
                out.append(", ")
            if kind is dict:
                key, item = item
                out.append(_ENCODE(key) + ": ")
            _pieces(item, depth - 1, out)
    out.append("}" if kind is dict else "]")


@dataclass
class _Batch:
    data: dict[str, Any] | None
    dirty: bool = False


class AtomicJSONStorage(Storage):
    """TinyDB storage: every write replaces the whole JSON file atomically.

    ``write`` rejects non-JSON values (:class:`~storage.plainjson.NotPlainJSON`, naming the
    key path as ``table['doc_id'].key``). Inside :meth:`batch`, TinyDB's many reads and
    writes go to memory and the file is written once, at the end.
    """

    def __init__(self, path: str | os.PathLike[str], *, indent: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self._indent = indent
        self._batch: _Batch | None = None
        self.file_writes = 0  # atomic replaces done, for tests and benchmarks

    def read(self) -> dict[str, Any] | None:
        if self._batch is not None:
            return self._batch.data
        return read_json_file(self.path)

    def write(self, data: dict[str, Any]) -> None:
        if self._batch is not None:
            self._batch.data = data
            self._batch.dirty = True
            return
        self._write_file(data)

    @contextmanager
    def batch(self, *, start_empty: bool = False) -> Iterator[None]:
        """Group TinyDB operations into one file read and at most one atomic file write.

        The file is read once on entry (not at all with ``start_empty``: the batch starts
        from an empty database); TinyDB's reads and writes inside the block see and change
        that copy in memory; on a normal exit a changed copy is checked and written with a
        single ``os.replace``. If the block raises, nothing is written. Not reentrant.
        """
        if self._batch is not None:
            raise RuntimeError(f"{self.path}: storage batches do not nest")
        batch = _Batch(None if start_empty else read_json_file(self.path))
        self._batch = batch
        try:
            yield
        finally:
            self._batch = None
        if batch.dirty:
            self._write_file(batch.data or {})

    def _write_file(self, data: dict[str, Any]) -> None:
        check_plain_json(data, str(self.path))
        if self._indent is None:
            text = dumps_in_pieces(data)
        else:
            text = json.dumps(data, ensure_ascii=False, indent=self._indent, allow_nan=False)
        atomic_write_bytes(self.path, text.encode("utf-8"))
        self.file_writes += 1
