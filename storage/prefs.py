"""``prefs.json``: small owner settings (alert modes, ...) as one atomic JSON object.

The file is an object of sections, each an object of plain JSON values, e.g.
``{"alerts": {"stop_moved": "silent"}}``. Every change rewrites the whole file with
:func:`storage.atomic.atomic_write_bytes` (temp file, fsync, replace), so a crash leaves the
old file or the new one.

A file whose content cannot be used (bad JSON, not an object of objects, an alert mode
other than on/silent/off, a ``day_override`` that is not ``{"day": "YYYY-MM-DD",
"running": true|false}``) is renamed aside to ``prefs.json.corrupt-<n>`` with an error
naming the file and the field (``problem``; the composition root tells the owner), and the
settings start from their defaults: the owner's file is never overwritten and nothing is
lost. One that cannot be read at all (a directory in its place) raises
``storage.errors.DataFileError``: the agent does not start.

Threads: one owner thread (the Telegram/console asyncio loop); not thread-safe.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from agent.fields import FieldError, Fields, day, flag, shown
from storage.atomic import atomic_write_bytes
from storage.errors import unusable
from storage.plainjson import check_plain_json

logger = logging.getLogger(__name__)

PREFS_FILE = "prefs.json"


class Prefs:
    """Sections of plain JSON settings persisted in one file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.quarantined: Path | None = None  # where a corrupt file was moved, if it was
        self.problem = ""  # what was wrong with it then, naming the file and the field
        self._data: dict[str, dict[str, Any]] = self._load()

    @classmethod
    def in_dir(cls, data_dir: Path) -> Prefs:
        """The prefs file of a data directory (created on the first change)."""
        return cls(Path(data_dir) / PREFS_FILE)

    def section(self, name: str) -> dict[str, Any]:
        """A copy of one section ({} when it was never set)."""
        return dict(self._data.get(name, {}))

    def get(self, name: str, key: str, default: Any = None) -> Any:
        return self._data.get(name, {}).get(key, default)

    def set(self, name: str, key: str, value: Any) -> None:
        """Set one value and write the file; a non-JSON value raises NotPlainJSON and
        changes nothing."""
        self.update(name, {key: value})

    def update(self, name: str, values: dict[str, Any]) -> None:
        """Set several values of one section with a single file write."""
        check_plain_json(values, str(self.path), name)
        merged = {**self._data.get(name, {}), **values}
        data = {**self._data, name: merged}
        self._write(data)
        self._data = data

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, allow_nan=False)
        atomic_write_bytes(self.path, (text + "\n").encode("utf-8"))

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:  # a directory in its place: changes could not be saved
            raise unusable(self.path, exc, "cannot be read") from None
        if not raw.strip():
            return {}
        problem = None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"not valid JSON ({exc})"
        else:
            if not isinstance(data, dict):
                problem = f"the top level is a JSON {type(data).__name__}, not an object"
            else:
                bad = sorted(k for k, v in data.items() if not isinstance(v, dict))
                if bad:
                    problem = f"section(s) {', '.join(bad)} are not JSON objects"
                else:
                    problem = _field_problem(data)
        if problem is None:
            return data
        self.quarantined = self._move_aside()
        self.problem = (f"{self.path}: {problem}; moved it to {self.quarantined} and started "
                        "from the defaults (alert modes, and the day's /start or /stop)")
        logger.error("%s", self.problem)
        return {}

    def _move_aside(self) -> Path:
        n = 1
        while (target := self.path.with_name(f"{self.path.name}.corrupt-{n}")).exists():
            n += 1
        try:
            self.path.rename(target)
        except OSError as exc:
            raise unusable(self.path, exc, "is corrupt and cannot be moved aside") from None
        return target


ALERT_MODES = ("on", "silent", "off")  # handlers/args.py ALERT_MODES (a test keeps them equal)


def _field_problem(data: dict[str, dict[str, Any]]) -> str | None:
    """The first bad value of the sections the agent reads, as ``path: problem``."""
    for kind, mode in data.get("alerts", {}).items():
        if mode not in ALERT_MODES:
            return f"alerts.{kind}: expected one of {', '.join(ALERT_MODES)}, got {shown(mode)}"
    override = data.get("day_override", {})
    if override:
        try:
            f = Fields(override, "day_override")
            f.req("day", day)
            f.req("running", flag)
        except FieldError as exc:
            return str(exc)
    return None
