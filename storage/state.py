"""``state.json``: the agent's state as TinyDB tables, saved whole and atomically.

A snapshot is a plain ``dict`` of sections, e.g. ``{"meta": {...}, "settings": {...},
"orders": [...], "trades": [...], "strategy": {...}}``. Each section is one TinyDB table: a
dict section is a single document, a list section one document per element, in order. A
``_sections`` table records each section's kind (``{"version": 1, "sections": {"orders":
"list", "meta": "dict"}}``) so an empty list and a one-element list read back as they were
saved. The file stays an ordinary TinyDB file that ``TinyDB(path)`` can open and query.

One save is one file write: :meth:`StateStore.save` runs its TinyDB operations inside
:meth:`AtomicJSONStorage.batch`, which keeps them in memory and ends with a single
``os.replace`` of the whole document. Either the previous snapshot or the new one is on
disk, never a mix of sections from both.

Threads: only the storage writer thread calls :meth:`save`; :meth:`load` and
:meth:`load_section` run at start-up, before the writer exists. Not thread-safe.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from agent.clock import Clock, LiveClock
from storage.atomic import AtomicJSONStorage, StorageFileCorrupt
from storage.errors import DataFileError, unusable
from storage.plainjson import check_plain_json

logger = logging.getLogger(__name__)

StateSnapshot = dict[str, Any]

SECTIONS_TABLE = "_sections"
FORMAT_VERSION = 1
_KINDS = ("dict", "list")


class StateFileCorrupt(DataFileError):
    """``state.json`` exists but cannot be used; a copy was kept, the original is untouched.

    The message starts with the file and the problem, e.g. ``data/state.json:
    orders[3].tag: missing``, then says where the copy is.
    """

    def __init__(self, path: Path, reason: str, copy: Path | None, copy_error: str = "") -> None:
        kept = f"a copy was kept at {copy}" if copy else f"no copy could be made ({copy_error})"
        super().__init__(
            path, f"{reason} (the state file is corrupt; {kept}; the original was left as it "
            "is. Repair it or move it away to start with an empty state.)")
        self.reason = reason
        self.copy = copy


def _layout_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with a parsed TinyDB file as a StateStore file, or None."""
    sections = data.get(SECTIONS_TABLE)
    tables = {name: table for name, table in data.items() if name != SECTIONS_TABLE}
    if sections is None:
        filled = sorted(name for name, table in tables.items() if table)
        if filled:
            return f"tables {filled} but no {SECTIONS_TABLE!r} table (not written by StateStore)"
        return None
    if len(sections) != 1:
        return f"table {SECTIONS_TABLE!r} holds {len(sections)} documents, expected 1"
    (doc,) = sections.values()
    if doc.get("version") != FORMAT_VERSION:
        return f"format version {doc.get('version')!r}, expected {FORMAT_VERSION}"
    kinds = doc.get("sections")
    if not isinstance(kinds, dict) or any(kind not in _KINDS for kind in kinds.values()):
        return f"table {SECTIONS_TABLE!r}: 'sections' must map names to 'dict' or 'list'"
    for name, kind in kinds.items():
        count = len(tables.get(name, {}))
        if kind == "dict" and count != 1:
            return f"section {name!r} is a dict but its table holds {count} documents"
    unlisted = sorted(set(tables) - set(kinds))
    if unlisted:
        return f"tables {unlisted} are not listed in {SECTIONS_TABLE!r}"
    return None


def _section_kind(name: Any, value: Any) -> str:
    """'dict' or 'list' for a valid section; raises naming the section otherwise."""
    if not isinstance(name, str) or not name or name.startswith("_"):
        raise ValueError(f"section name {name!r}: must be a non-empty str not starting with '_'")
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, list):
        for i, element in enumerate(value):
            if not isinstance(element, Mapping):
                raise TypeError(
                    f"section {name!r}[{i}] is a {type(element).__name__}: the elements of a "
                    f"list section are dicts (one TinyDB document each)"
                )
        return "list"
    raise TypeError(f"section {name!r} is a {type(value).__name__}: expected a dict or a list")


class StateStore:
    """The state file at ``path`` (e.g. ``data_dir / "state.json"``), opened through TinyDB.

    Opening checks the file: one that exists but is not a readable StateStore file (a
    zero-length one included) raises :class:`StateFileCorrupt` after copying it aside to
    ``<name>.corrupt-YYYYmmddTHHMMSS``; it never starts silently from an empty state over a
    damaged one. One that cannot be read at all (a directory in its place) raises
    :class:`~storage.errors.DataFileError` naming it.
    """

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or LiveClock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unusable(self.path.parent, exc, "cannot be made a directory") from None
        self._db = TinyDB(self.path, storage=AtomicJSONStorage)
        storage = self._db.storage
        assert isinstance(storage, AtomicJSONStorage)
        self._storage = storage
        try:
            data = storage.read()
            problem = None if data is None else _layout_problem(data)
        except StorageFileCorrupt as exc:
            problem = exc.reason
        if problem is not None:
            self.refuse(problem)

    @property
    def storage(self) -> AtomicJSONStorage:
        return self._storage

    def load(self) -> StateSnapshot | None:
        """All sections as saved, or None when nothing has been saved. Start-up thread."""
        with self._storage.batch():
            kinds = self._kinds()
            if kinds is None:
                return None
            return {name: self._read_section(name, kind) for name, kind in kinds.items()}

    def load_section(self, name: str) -> Any | None:
        """One section as saved (a dict or a list), or None if it was not saved."""
        with self._storage.batch():
            kind = (self._kinds() or {}).get(name)
            return None if kind is None else self._read_section(name, kind)

    def save(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the whole state with ``snapshot`` in one atomic file write. Writer thread.

        Raises ``ValueError``/``TypeError`` naming the section or key path for a snapshot
        that is not sections of plain JSON; the file is then left as it was.
        """
        kinds = {name: _section_kind(name, value) for name, value in snapshot.items()}
        check_plain_json(dict(snapshot), str(self.path), "snapshot")
        with self._storage.batch(start_empty=True):
            self._db.drop_tables()  # also forgets TinyDB's cached tables and next ids
            for name, kind in kinds.items():
                table = self._db.table(name)
                if kind == "dict":
                    table.insert(snapshot[name])
                else:
                    table.insert_multiple(snapshot[name])
            self._db.table(SECTIONS_TABLE).insert(
                {"version": FORMAT_VERSION, "sections": kinds}
            )

    def _kinds(self) -> dict[str, str] | None:
        docs = self._db.table(SECTIONS_TABLE).all()
        return dict(docs[0]["sections"]) if docs else None

    def _read_section(self, name: str, kind: str) -> Any:
        docs = sorted(self._db.table(name).all(), key=lambda doc: doc.doc_id)
        if kind == "dict":
            return dict(docs[0])
        return [dict(doc) for doc in docs]

    def refuse(self, problem: str) -> None:
        """Raise ``StateFileCorrupt`` for ``problem`` (a field path and what is wrong with it,
        or why the file cannot be parsed), after copying the file aside. Start-up thread."""
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%S")
        copy = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while copy.exists():
            copy = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            shutil.copy2(self.path, copy)
        except OSError as exc:
            logger.error("state file %s is corrupt (%s); copying it failed: %s", self.path,
                         problem, exc)
            raise StateFileCorrupt(self.path, problem, None, str(exc)) from None
        logger.error("state file %s is corrupt (%s); copy kept at %s", self.path, problem, copy)
        raise StateFileCorrupt(self.path, problem, copy)
