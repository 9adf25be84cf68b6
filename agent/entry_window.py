"""When entries can actually happen: the day's phase from the trading calendar, and the
words for it that ``/start`` and ``/resume`` reply with ("entries from 09:15 once logged
in", "after the 15:00 cutoff: no entries today", "closed: Saturday; next trading day
Monday 7 Dec").

Pure functions of a time, the calendar and the login state; any thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from agent.calendar import TradingCalendar
from agent.events import Job
from agent.timeutil import ist, to_ist


class Phase(StrEnum):
    CLOSED = "closed"  # not a trading day (weekend, holiday)
    PRE_OPEN = "pre_open"  # a trading day, before the open
    ENTRIES = "entries"  # open, before the entry cutoff
    CUTOFF = "cutoff"  # the entry cutoff passed, the market still open
    AFTER_CLOSE = "after_close"  # the session is over


@dataclass(frozen=True, slots=True)
class EntryWindow:
    """Where ``now`` falls in its day. ``opens``, ``cutoff``, ``closes`` are None on a
    closed day; ``next_day`` is the first trading day after ``now``'s date."""

    phase: Phase
    now: datetime
    opens: datetime | None
    cutoff: datetime | None
    closes: datetime | None
    next_day: date
    why_closed: str | None = None


def entry_window(now: datetime, calendar: TradingCalendar, exchange: str = "NSE"
                 ) -> EntryWindow:
    """The phase of ``now`` on ``exchange``: its session (a special session's hours when it
    has one) and its entry cutoff (the day's timetable, shifted on a special session)."""
    now = to_ist(now)
    day = now.date()
    following = calendar.next_trading_day(day, exchange)
    hours = calendar.session(day, exchange)
    if hours is None:
        return EntryWindow(Phase.CLOSED, now, None, None, None, following,
                           calendar.why_closed(day, exchange))
    opens, closes = hours
    cutoff = dict(calendar.timetable(day, exchange)).get(Job.ENTRY_CUTOFF.value) or ist(
        day, calendar.schedule.entry_cutoff)
    cutoff = min(cutoff, closes)
    if now < opens:
        phase = Phase.PRE_OPEN
    elif now < cutoff:
        phase = Phase.ENTRIES
    elif now < closes:
        phase = Phase.CUTOFF
    else:
        phase = Phase.AFTER_CLOSE
    return EntryWindow(phase, now, opens, cutoff, closes, following)


def day_text(d: date) -> str:
    """'Monday 7 Dec'."""
    return f"{d:%A} {d.day} {d:%b}"


def entries_note(window: EntryWindow, *, logged_in: bool) -> str:
    """One short line (under 40 characters for the usual cases) saying when entries can
    happen, for a reply to /start or /resume."""
    phase = window.phase
    if phase is Phase.CLOSED:
        reason = window.why_closed or "not a trading day"
        weekday = f"{window.now:%A}"
        if reason.startswith(f"weekend ({weekday})"):  # "Saturday", not "weekend (Saturday)"
            reason = weekday + reason[len(f"weekend ({weekday})"):]
        return f"closed: {reason}; next trading day {day_text(window.next_day)}"
    login = "" if logged_in else " once logged in"
    if phase is Phase.PRE_OPEN:
        assert window.opens is not None
        return f"entries from {window.opens:%H:%M}{login}"
    if phase is Phase.ENTRIES:
        return "entries allowed now" if logged_in else "entries once logged in: /login"
    if phase is Phase.CUTOFF:
        assert window.cutoff is not None
        return f"after the {window.cutoff:%H:%M} cutoff: no entries today"
    assert window.closes is not None
    return (f"market closed at {window.closes:%H:%M}; next trading day "
            f"{day_text(window.next_day)}")
