"""Missed jobs at start-up: the pure ``catch_up`` rules, and the scheduler running them."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pytest

from agent.calendar import TradingCalendar, schedule_from_dict
from agent.daycontrol import catch_up, last_token_expiry
from agent.events import Job, RunJob
from agent.scheduler import DayServices

from .helpers import CALENDAR, at, build

MON, HOLIDAY, WED, SAT = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), \
    date(2026, 11, 28)
J = Job


@pytest.mark.parametrize(("hh", "mm", "expected"), [
    (5, 0, []),
    (8, 29, []),
    (8, 30, [J.LOGIN_CHECK]),  # at the job's own time: due (the cron firing is deduplicated)
    (9, 0, [J.LOGIN_CHECK, J.INSTRUMENTS_REFRESH]),
    (11, 0, [J.LOGIN_CHECK, J.INSTRUMENTS_REFRESH, J.SESSION_START]),
    (15, 5, [J.LOGIN_CHECK, J.INSTRUMENTS_REFRESH, J.SESSION_START, J.ENTRY_CUTOFF]),
    (15, 20, [J.LOGIN_CHECK, J.SQUARE_OFF]),
    (15, 30, [J.LOGIN_CHECK, J.SQUARE_OFF]),
    (15, 31, []),  # session_end passed: the day is over
    (15, 45, []),  # no second day report
    (22, 0, []),
])
def test_missed_jobs_on_a_trading_day(hh: int, mm: int, expected: list[Job]) -> None:
    assert catch_up(at(MON, hh, mm), CALENDAR) == expected


@pytest.mark.parametrize("day", [HOLIDAY, SAT])
def test_nothing_is_caught_up_on_a_closed_day(day: date) -> None:
    assert catch_up(at(day, 11, 0), CALENDAR) == []


@pytest.mark.parametrize(("issued", "now", "dropped"), [
    (at(MON, 9, 0), at(WED, 11, 0), True),  # issued Monday, started Wednesday
    (at(MON, 9, 0), at(HOLIDAY, 7, 0), True),  # Kite kills it at 06:00 on a holiday too
    (at(MON, 9, 0), at(HOLIDAY, 5, 59), False),  # still alive until 06:00
    (at(MON, 5, 59), at(MON, 6, 0), True),
    (at(MON, 6, 0), at(MON, 11, 0), False),  # issued at/after today's expiry
    (at(MON, 6, 30), at(MON, 23, 0), False),
    (None, at(MON, 11, 0), False),  # no token held
])
def test_the_token_is_dropped_when_issued_before_the_last_6am(
        issued: datetime | None, now: datetime, dropped: bool) -> None:
    jobs = catch_up(now, CALENDAR, token_issued_at=issued)
    assert (Job.TOKEN_EXPIRY in jobs) is dropped
    if dropped:
        assert jobs[0] is Job.TOKEN_EXPIRY


def test_last_token_expiry() -> None:
    assert last_token_expiry(at(MON, 6, 0), CALENDAR) == at(MON, 6, 0)
    assert last_token_expiry(at(MON, 5, 59), CALENDAR) == at(date(2026, 11, 22), 6, 0)


def test_a_special_session_catches_up_by_its_shifted_times() -> None:
    raw = {"sessions": {"NSE": {"open": "09:15", "close": "15:30"}},
           "jobs": {name: f"{t:%H:%M}" for name, t in CALENDAR.schedule.jobs.items()},
           "special_sessions": [{"date": "2026-11-08", "name": "Muhurat", "open": "18:00",
                                 "close": "19:00"}]}
    calendar = TradingCalendar(schedule_from_dict(raw))
    sunday = date(2026, 11, 8)
    assert catch_up(at(sunday, 17, 0), calendar) == [J.LOGIN_CHECK, J.INSTRUMENTS_REFRESH]
    assert catch_up(at(sunday, 18, 30), calendar) == [
        J.LOGIN_CHECK, J.INSTRUMENTS_REFRESH, J.SESSION_START, J.ENTRY_CUTOFF]
    assert catch_up(at(sunday, 18, 50), calendar) == [J.LOGIN_CHECK, J.SQUARE_OFF]
    assert catch_up(at(sunday, 19, 5), calendar) == []


def test_started_at_11_the_day_starts_at_once() -> None:
    day, runner, services, _ = build(start=at(MON, 11, 0))
    services.token_at = at(date(2026, 11, 20), 8, 10)  # Friday's token
    assert day.run_catch_up() == [J.TOKEN_EXPIRY, J.LOGIN_CHECK, J.INSTRUMENTS_REFRESH,
                                  J.SESSION_START]
    assert [name for name, _, _ in services.calls] == [
        "drop_token", "login_check", "instruments_refresh", "session_started"]
    assert runner.commands == [RunJob(J.SESSION_START, at(MON, 11, 0))]
    # the cron firings of the times already caught up (e.g. a start right at 09:14) do nothing
    assert day.fire(J.SESSION_START, at(MON, 9, 14)) is False
    assert len(runner.commands) == 1


def test_started_at_15_20_squares_off() -> None:
    day, runner, services, _ = build(start=at(MON, 15, 20))
    day.run_catch_up()
    assert runner.commands == [RunJob(J.SQUARE_OFF, at(MON, 15, 20))]
    assert [name for name, _, _ in services.calls] == ["login_check"]


def test_started_after_session_end_does_nothing() -> None:
    day, runner, services, _ = build(start=at(MON, 16, 0))
    services.token_at = at(MON, 8, 0)
    assert day.run_catch_up() == []
    assert runner.commands == [] and services.calls == []


def test_started_on_a_holiday_idles_and_names_it(caplog) -> None:
    day, runner, services, _ = build(start=at(HOLIDAY, 10, 0))
    with caplog.at_level(logging.INFO, logger="agent.scheduler"):
        assert day.run_catch_up() == []
    assert runner.commands == [] and services.calls == []
    assert ("start-up on 2026-11-24: not a trading day (Prakash Gurpurb Sri Guru Nanak Dev); "
            "idle until Wednesday 2026-11-25") in caplog.text


def test_a_failing_token_source_counts_as_no_token(caplog) -> None:
    day, _, _, _ = build(start=at(MON, 7, 0))
    dropped: list[str] = []
    day.services = DayServices(token_issued_at=lambda: 1 / 0,
                               drop_token=lambda: dropped.append("dropped"))
    assert day.run_catch_up() == []
    assert dropped == []
    assert "token_issued_at failed" in caplog.text
