"""A whole week on the real triggers: Mon-Fri with the Guru Nanak Jayanti holiday on
Tuesday, the weekend, and special sessions (weekend and shifted weekday)."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from agent.calendar import TradingCalendar, schedule_from_dict
from agent.events import Job, RunJob
from agent.timeutil import IST

from .helpers import at, build, drive

MON = date(2026, 11, 23)
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=i) for i in range(1, 7))
JOB_TIMES = {"token_expiry": (6, 0), "login_check": (8, 30), "instruments_refresh": (8, 45),
             "session_start": (9, 14), "entry_cutoff": (15, 0), "square_off": (15, 15),
             "session_end": (15, 31), "day_report": (15, 40)}


def test_the_triggers_are_mon_fri_crons_in_ist_at_the_schedule_times() -> None:
    day, *_ = build()
    specs = {s.id: s for s in day.job_specs(at(MON, 0, 0))}
    assert set(specs) == set(JOB_TIMES)  # no one-offs: the 2026 Muhurat is not confirmed
    for name, (hh, mm) in JOB_TIMES.items():
        trigger = specs[name].trigger
        assert "day_of_week='mon-fri'" in str(trigger)
        assert str(trigger.timezone) == "Asia/Kolkata"
        first = trigger.get_next_fire_time(None, at(SAT, 0, 0))  # a Saturday: next is Monday
        assert first.astimezone(IST) == at(date(2026, 11, 30), hh, mm)


def test_a_week_with_a_holiday_and_a_weekend(caplog) -> None:
    day, runner, services, clock = build()
    with caplog.at_level(logging.INFO, logger="agent.scheduler"):
        fired = drive(day, clock, at(MON, 0, 0), at(MON + timedelta(days=7), 0, 0))

    # the triggers fire on weekdays only, each job once a day at its time
    assert {when.date() for when, _ in fired} == {MON, TUE, WED, THU, FRI}
    assert sorted(fired) == sorted((at(d, *JOB_TIMES[name]), name)
                                   for d in (MON, TUE, WED, THU, FRI) for name in JOB_TIMES)

    # what reached the engine: the four engine jobs on the four trading days, none on Tuesday
    trading = (MON, WED, THU, FRI)
    expected = [RunJob(Job(name), at(d, *JOB_TIMES[name])) for d in trading
                for name in ("session_start", "entry_cutoff", "square_off", "session_end")]
    assert runner.commands == expected

    # the other jobs went to the services, at their times, on the trading days only
    expected_calls = []
    for d in trading:
        expected_calls += [("drop_token", None, at(d, 6, 0)), ("login_check", None, at(d, 8, 30)),
                           ("instruments_refresh", None, at(d, 8, 45)),
                           ("session_started", d, at(d, 9, 14)),
                           ("session_ended", d, at(d, 15, 31)), ("day_report", d, at(d, 15, 40))]
    assert services.calls == expected_calls

    holiday_lines = [r.getMessage() for r in caplog.records if "not a trading day" in r.message]
    assert holiday_lines == ["Tuesday 2026-11-24 is not a trading day (Prakash Gurpurb Sri "
                             "Guru Nanak Dev): no jobs run; next trading day Wednesday 2026-11-25"]


def _calendar_with(*specials: dict) -> TradingCalendar:
    raw = {"timezone": "Asia/Kolkata", "sessions": {"NSE": {"open": "09:15", "close": "15:30"}},
           "jobs": {name: f"{hh:02d}:{mm:02d}" for name, (hh, mm) in JOB_TIMES.items()},
           "misfire_grace_seconds": 300,
           "holidays": [{"date": "2026-11-24", "name": "Prakash Gurpurb Sri Guru Nanak Dev"}],
           "special_sessions": list(specials)}
    return TradingCalendar(schedule_from_dict(raw))


def test_a_confirmed_weekend_special_session_runs_its_shifted_jobs() -> None:
    calendar = _calendar_with({"date": "2026-11-08", "name": "Muhurat trading (Diwali)",
                               "open": "18:00", "close": "19:00", "confirmed": True})
    sunday = date(2026, 11, 8)
    day, runner, services, clock = build(calendar, at(date(2026, 11, 7), 0, 0))
    fired = drive(day, clock, at(date(2026, 11, 7), 0, 0), at(date(2026, 11, 9), 0, 0))

    # session_start keeps its 1-minute lead; the afternoon jobs keep their offset from the
    # close (entry_cutoff: 30 min before it); the morning jobs keep their clock times
    shifted = {"token_expiry": (6, 0), "login_check": (8, 30), "instruments_refresh": (8, 45),
               "session_start": (17, 59), "entry_cutoff": (18, 30), "square_off": (18, 45),
               "session_end": (19, 1), "day_report": (19, 10)}
    assert fired == [(at(sunday, *hm), f"{name}@2026-11-08T{hm[0]:02d}:{hm[1]:02d}")
                     for name, hm in shifted.items()]
    assert runner.commands == [RunJob(Job(n), at(sunday, *shifted[n])) for n in
                               ("session_start", "entry_cutoff", "square_off", "session_end")]
    assert [(name, when) for name, _, when in services.calls] == [
        ("drop_token", at(sunday, 6, 0)), ("login_check", at(sunday, 8, 30)),
        ("instruments_refresh", at(sunday, 8, 45)), ("session_started", at(sunday, 17, 59)),
        ("session_ended", at(sunday, 19, 1)), ("day_report", at(sunday, 19, 10))]


def test_an_unconfirmed_special_session_is_not_traded() -> None:
    calendar = _calendar_with({"date": "2026-11-08", "name": "Muhurat trading (Diwali)",
                               "open": "18:00", "close": "19:00", "confirmed": False})
    day, runner, services, clock = build(calendar, at(date(2026, 11, 7), 0, 0))
    assert drive(day, clock, at(date(2026, 11, 7), 0, 0), at(date(2026, 11, 9), 0, 0)) == []
    assert runner.commands == [] and services.calls == []


def test_a_weekday_special_session_skips_the_regular_times_of_shifted_jobs(caplog) -> None:
    calendar = _calendar_with({"date": "2026-11-25", "name": "Late open",
                               "open": "11:00", "close": "14:00"})
    day, runner, services, clock = build(calendar, at(MON, 0, 0))
    with caplog.at_level(logging.INFO, logger="agent.scheduler"):
        drive(day, clock, at(WED, 0, 0), at(THU, 0, 0))
    moved = {"session_start": (10, 59), "entry_cutoff": (13, 30), "square_off": (13, 45),
             "session_end": (14, 1), "day_report": (14, 10)}
    assert runner.commands == [RunJob(Job(n), at(WED, *moved[n])) for n in
                               ("session_start", "entry_cutoff", "square_off", "session_end")]
    assert [(n, w) for n, _, w in services.calls] == [
        ("drop_token", at(WED, 6, 0)), ("login_check", at(WED, 8, 30)),
        ("instruments_refresh", at(WED, 8, 45)), ("session_started", at(WED, 10, 59)),
        ("session_ended", at(WED, 14, 1)), ("day_report", at(WED, 14, 10))]
    assert "session_start at 09:14 skipped: on 2026-11-25 (special session) it runs at 10:59" \
        in caplog.text


def test_a_job_runs_once_for_its_time_even_when_fired_twice() -> None:
    day, runner, _, clock = build()
    clock.advance_to(at(MON, 9, 14))
    assert day.fire(Job.SESSION_START, at(MON, 9, 14)) is True
    assert day.fire(Job.SESSION_START, at(MON, 9, 14)) is False
    assert runner.commands == [RunJob(Job.SESSION_START, at(MON, 9, 14))]

