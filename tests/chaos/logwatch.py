"""What the crash test watches in the agent's log (``data_dir/logs/agent.log``), and how.

``EVENTS`` is the one place that knows the agent's log lines: the moments right after which
the harness may kill the agent. The order lifecycle is being redesigned (issue 12) and
these lines may change: match loosely (the tag's kind letter and a verb), and update the
patterns here when the wording moves. Today's lines come from ``agent/execution.py``,
``agent/stops.py``, ``agent/adapters/kite_actions.py`` and ``agent/scheduler.py``.

``LogTail`` reads the lines appended to the file since the last call; it survives the
agent's restarts (the file is appended to) and its rotation (a new file is read from its
start). Harness thread only.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

# what follows a tag's kind letter: alphanumerics with a digit among them (E26120700001)
_ID = r"(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{2,19}"

# event name -> the log line that says it just happened (case-insensitive)
EVENTS: dict[str, re.Pattern[str]] = {name: re.compile(rx, re.IGNORECASE) for name, rx in {
    # the engine decided an entry (the broker call follows on its worker thread)
    # ("... signal entry BUY 1 @ market ...", not "waiting reverse entry BUY dropped")
    "entry_decided": r"\b(?:signal|reverse)\s+entry\s+(?:BUY|SELL)\s+\d+\s+@",
    # the entry reached Kite: its placement answered with an order id (or the order found
    # in Kite's book before the answer came)
    "entry_placed": rf"\bE{_ID}\s+(?:placed\s+(?:BUY|SELL)\b|found at Kite\b)",
    # the engine decided an exchange stop after an entry filled
    "stop_decided": r"\bexchange stop\s+(?:BUY|SELL)\s+\d+\s+trigger\b",
    "stop_placed": rf"\bS{_ID}\s+(?:placed\s+(?:BUY|SELL)\b|found at Kite\b)",
    "stop_modified": rf"\bS{_ID}\s+modified\b",
    "stop_cancelled": rf"\bS{_ID}\s+cancel(?:lation)?\s+of\s+\S+\s+sent\b",
    "exit_decided": r"\bexit\s+(?:BUY|SELL)\s+\d+\s+@\s+market\b",
    "exit_placed": rf"\bX{_ID}\s+(?:placed\s+(?:BUY|SELL)\b|found at Kite\b)",
    "square_off": r"\bjob square_off\b|\bsquare-off:\s+closing\b",
    # informative only (never a kill): the agent is up; the session ended
    "agent_running": r"\bagent running: mode\b",
    "session_end": r"\bjob session_end\b|\bsession ended\b",
}.items()}

# the events a kill may follow (the others are only counted)
KILL_EVENTS: tuple[str, ...] = ("entry_decided", "entry_placed", "stop_decided", "stop_placed",
                                "stop_modified", "stop_cancelled", "exit_decided",
                                "exit_placed", "square_off")


def events_in(line: str) -> list[str]:
    """The names of the events ``line`` reports."""
    return [name for name, rx in EVENTS.items() if rx.search(line)]


class LogTail:
    """New complete lines of a growing (and rotating) log file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: int | None = None
        self._pos = 0
        self._partial = b""
        self.counts: Counter[str] = Counter()

    def lines(self) -> list[str]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []
        if stat.st_ino != self._inode or stat.st_size < self._pos:
            self._inode, self._pos, self._partial = stat.st_ino, 0, b""  # new or rotated
        if stat.st_size == self._pos:
            return []
        with open(self.path, "rb") as f:
            f.seek(self._pos)
            chunk = f.read()
        self._pos += len(chunk)
        *parts, self._partial = (self._partial + chunk).split(b"\n")
        done = [p.decode("utf-8", errors="replace") for p in parts]
        for line in done:
            self.counts.update(events_in(line))
        return done
