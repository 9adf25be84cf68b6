"""Time zone and small time helpers. Every datetime inside the agent is IST-aware."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

# India has had no daylight saving since 1945: a fixed offset is exact and much faster
# than a zoneinfo lookup on the tick path. APScheduler gets the zoneinfo name instead.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
IST_NAME = "Asia/Kolkata"


def ist(d: date, t: time) -> datetime:
    """The IST-aware datetime of a date and a wall-clock time."""
    return datetime.combine(d, t, tzinfo=IST)


def to_ist(dt: datetime) -> datetime:
    """An aware datetime in IST; a naive one is taken to be IST already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=IST)
    return dt.astimezone(IST)


def parse_hhmm(text: str) -> time:
    """'09:15' or '09:15:30' -> time; raises ValueError naming the text."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"expected a time HH:MM, got {text!r}")
    hh, mm = int(parts[0]), int(parts[1])
    ss = int(parts[2]) if len(parts) == 3 else 0
    if not (0 <= hh < 24 and 0 <= mm < 60 and 0 <= ss < 60):
        raise ValueError(f"expected a time HH:MM, got {text!r}")
    return time(hh, mm, ss)
