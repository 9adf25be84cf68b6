"""``session.json``: the day's Kite access token, readable by the owner only (mode 0600).

Written atomically; the file is created with 0600 before any secret is in it. Any thread
(calls are short and rare: login, 06:00 expiry, start-up). ``KiteSession`` checks what it
holds (``agent/session.py:checked_session``): a bad field means a new login.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from storage.atomic import atomic_write_bytes
from storage.errors import unusable

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"


class SessionFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_dir(cls, data_dir: Path) -> SessionFile:
        return cls(data_dir / SESSION_FILE)

    def load(self) -> dict[str, Any] | None:
        """The saved session, or None: no file, or one whose content cannot be used (logged
        with the reason: a new login is needed; ``KiteSession`` checks the fields). A file
        that cannot be read at all (a directory in its place) raises ``DataFileError``: the
        next login could not be saved either."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise unusable(self.path, exc, "cannot be read") from None
        try:
            data = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            log.error("%s: not a session (%s): a new login is needed", self.path, exc)
            return None
        if not isinstance(data, dict):
            log.error("%s does not hold a session object: a new login is needed", self.path)
            return None
        try:
            mode = self.path.stat().st_mode & 0o777
            if mode & 0o077:
                log.warning("%s is readable by others (mode %o): tightening to 0600",
                            self.path, mode)
                os.chmod(self.path, 0o600)
        except OSError as exc:
            log.warning("%s: could not make it private (%s)", self.path, exc)
        return data

    def save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # An atomic write keeps the target's mode: make the (empty) target 0600 first, so
        # the token is never in a file anyone else can read, not even for a moment.
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(self.path, 0o600)
        atomic_write_bytes(self.path, json.dumps(data, indent=1).encode("utf-8"))

    def stamp(self) -> tuple[int, int, int] | None:
        """What changes whenever the file is written (its mtime, inode and size); None
        when there is none. One ``stat``: cheap enough to poll."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino, st.st_size

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
