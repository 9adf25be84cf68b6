"""When entries can actually happen (``agent.entry_window``), over the calendar's cases: the
words /start and /resume reply with (issue 14)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from pathlib import Path

import pytest

from agent.calendar import TradingCalendar, load_schedule
from agent.entry_window import Phase, day_text, entries_note, entry_window
from agent.settings import SpecialSession
from agent.timeutil import IST

CALENDAR = TradingCalendar(load_schedule(Path(__file__).resolve().parents[1] /
                                         "schedules.yaml"))


def at(d: date, hh: int, mm: int) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=IST)


MONDAY = date(2026, 12, 7)
SATURDAY = date(2026, 12, 5)
CHRISTMAS = date(2026, 12, 25)  # a Friday holiday
GURPURB = date(2026, 11, 24)  # a Tuesday holiday


@pytest.mark.parametrize("now, logged_in, phase, words", [
    (at(MONDAY, 7, 40), False, Phase.PRE_OPEN, "entries from 09:15 once logged in"),
    (at(MONDAY, 9, 14), True, Phase.PRE_OPEN, "entries from 09:15"),
    (at(MONDAY, 9, 15), True, Phase.ENTRIES, "entries allowed now"),
    (at(MONDAY, 14, 59), False, Phase.ENTRIES, "entries once logged in: /login"),
    (at(MONDAY, 15, 0), True, Phase.CUTOFF, "after the 15:00 cutoff: no entries today"),
    (at(MONDAY, 15, 29), False, Phase.CUTOFF, "after the 15:00 cutoff: no entries today"),
    (at(MONDAY, 15, 30), True, Phase.AFTER_CLOSE,
     "market closed at 15:30; next trading day Tuesday 8 Dec"),
    (at(SATURDAY, 10, 0), True, Phase.CLOSED, "closed: Saturday; next trading day Monday 7 Dec"),
    (at(date(2026, 12, 6), 10, 0), False, Phase.CLOSED,
     "closed: Sunday; next trading day Monday 7 Dec"),
    (at(CHRISTMAS, 9, 30), True, Phase.CLOSED,
     "closed: Christmas; next trading day Monday 28 Dec"),
    (at(GURPURB, 8, 0), False, Phase.CLOSED,
     "closed: Prakash Gurpurb Sri Guru Nanak Dev; next trading day Wednesday 25 Nov"),
])
def test_the_words_for_each_part_of_the_calendar(now, logged_in, phase, words) -> None:
    window = entry_window(now, CALENDAR)
    assert window.phase is phase
    assert entries_note(window, logged_in=logged_in) == words


def test_the_usual_words_fit_a_phone_line() -> None:
    for now in (at(MONDAY, 8, 0), at(MONDAY, 10, 0), at(MONDAY, 15, 5)):
        for logged_in in (True, False):
            assert len(entries_note(entry_window(now, CALENDAR), logged_in=logged_in)) <= 40


def test_a_friday_evening_points_to_monday_and_the_day_before_a_holiday_past_it() -> None:
    friday = entry_window(at(date(2026, 12, 4), 16, 0), CALENDAR)
    assert friday.next_day == MONDAY and day_text(friday.next_day) == "Monday 7 Dec"
    before_christmas = entry_window(at(date(2026, 12, 24), 15, 45), CALENDAR)
    assert entries_note(before_christmas, logged_in=True) == (
        "market closed at 15:30; next trading day Monday 28 Dec")


def test_an_unconfirmed_special_session_is_closed_and_says_so() -> None:
    window = entry_window(at(date(2026, 11, 8), 18, 30), CALENDAR)  # Muhurat, not confirmed
    assert window.phase is Phase.CLOSED
    assert entries_note(window, logged_in=True).startswith(
        "closed: Sunday; special session 'Muhurat trading (Diwali)' not confirmed yet; "
        "next trading day Monday 9 Nov")


def test_a_confirmed_special_session_has_its_own_hours_and_shifted_cutoff() -> None:
    schedule = CALENDAR.schedule
    muhurat = SpecialSession(date(2026, 11, 8), "Muhurat", time(18, 0), time(19, 0))
    calendar = TradingCalendar(dataclasses.replace(schedule, special_sessions=(muhurat,)))
    assert entries_note(entry_window(at(muhurat.day, 17, 0), calendar), logged_in=True) == \
        "entries from 18:00"
    # the cutoff keeps its 30 minutes before the close: 18:30
    assert entry_window(at(muhurat.day, 18, 20), calendar).phase is Phase.ENTRIES
    assert entries_note(entry_window(at(muhurat.day, 18, 40), calendar), logged_in=True) == \
        "after the 18:30 cutoff: no entries today"
