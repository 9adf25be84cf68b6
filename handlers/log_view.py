"""``/logs``: the log's last lines, compact for a phone.

A log line ``2026-11-23 09:25:10,123 IST INFO    agent.engine: entry BUY 50`` is shown as
``09:25:10 INF entry BUY 50``: the time (IST, as the file has it), a three-letter level
and the message, without the date and the logger's name; a line wider than 40 columns
goes on below, indented, and so do the lines a record continues on (a traceback). The
date is said once, above, and again where it changes. The lines come in ``<pre>``
blocks that ``split_message`` never cuts. Pure functions, any thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from handlers.phone import blocks, wrap
from handlers.text import b, esc

LEVELS = {"DEBUG": "DBG", "INFO": "INF", "WARNING": "WRN", "ERROR": "ERR", "CRITICAL": "CRT"}
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:[,.]\d+)?(?: IST)? +([A-Z]+) +"
                   r"(?:[\w.\-]+: )?(.*)$")
INDENT = "  "


def _day(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d:%a} {d.day} {d:%b}"


def render(lines: Sequence[str]) -> str:
    """The reply to /logs for the file's last ``lines`` (raw text)."""
    rows: list[list[str]] = []
    first_day = day = ""
    for raw in lines:
        match = _LINE.match(raw)
        if match is None:  # a record's continuation (a traceback) or a foreign line
            shown = wrap(INDENT + esc(raw.rstrip()), indent=INDENT)
            if rows:
                rows[-1] += shown
            else:
                rows.append(shown)
            continue
        when, clock, level, message = match.groups()
        row: list[str] = []
        if when != day:
            if day:
                row.append(f"-- {_day(when)} --")
            day = when
            first_day = first_day or when
        row += wrap(f"{clock} {LEVELS.get(level, level[:3])} {esc(message)}", indent=INDENT)
        rows.append(row)
    on = f" {_day(first_day)}" if first_day else ""
    title = f"{b('Log')}{on} · last {len(lines)} line{'' if len(lines) == 1 else 's'} · IST"
    done = blocks("", rows)
    return "\n\n".join([title + "\n" + done[0], *done[1:]])
