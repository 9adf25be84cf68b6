"""schedules.yaml parsing, the 2026 holidays, special sessions, the day's timetable and
`bot.py schedule`."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import time_machine
import yaml

from agent.calendar import (
    JOB_DESCRIPTIONS,
    TradingCalendar,
    load_schedule,
    schedule_command,
    schedule_from_dict,
)
from agent.config import ConfigError
from agent.events import Job
from agent.settings import Holiday, ScheduleConfig, SpecialSession
from agent.timeutil import IST

ROOT = Path(__file__).resolve().parent.parent
SCHEDULES = ROOT / "schedules.yaml"
RAW = yaml.safe_load(SCHEDULES.read_text())  # plain safe_load is enough: the file quotes times
CAL = TradingCalendar(load_schedule(SCHEDULES))

HOLIDAYS_2026 = {
    date(2026, 1, 15): "Municipal Corporation elections in Maharashtra",
    date(2026, 1, 26): "Republic Day",
    date(2026, 3, 3): "Holi",
    date(2026, 3, 26): "Shri Ram Navami",
    date(2026, 3, 31): "Shri Mahavir Jayanti",
    date(2026, 4, 3): "Good Friday",
    date(2026, 4, 14): "Dr. Baba Saheb Ambedkar Jayanti",
    date(2026, 5, 1): "Maharashtra Day",
    date(2026, 5, 28): "Bakri Id",
    date(2026, 6, 26): "Muharram",
    date(2026, 9, 14): "Ganesh Chaturthi",
    date(2026, 10, 2): "Mahatma Gandhi Jayanti",
    date(2026, 10, 20): "Dussehra",
    date(2026, 11, 10): "Diwali Balipratipada",
    date(2026, 11, 24): "Prakash Gurpurb Sri Guru Nanak Dev",
    date(2026, 12, 25): "Christmas",
}


def at(d: date, hh: int, mm: int) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=IST)


def edited(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key].update(value)
        else:
            raw[key] = value
    return raw


def problems_of(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        schedule_from_dict(raw)
    return caught.value.problems


# ---------------------------------------------------------------- the repository's file


def test_schedules_file_has_the_sessions_jobs_and_grace() -> None:
    schedule = CAL.schedule
    assert schedule.timezone == "Asia/Kolkata" and schedule.misfire_grace_seconds == 300
    hours = {ex: (s.open, s.close) for ex, s in schedule.sessions.items()}
    for ex in ("NSE", "NFO", "BSE", "BFO"):
        assert hours[ex] == (time(9, 15), time(15, 30))
    assert hours["CDS"] == hours["BCD"] == (time(9, 0), time(17, 0))
    assert hours["MCX"] == (time(9, 0), time(23, 30))
    assert dict(schedule.jobs) == {
        "token_expiry": time(6, 0), "login_check": time(8, 30),
        "instruments_refresh": time(8, 45), "session_start": time(9, 14),
        "entry_cutoff": time(15, 0), "square_off": time(15, 15),
        "session_end": time(15, 31), "day_report": time(15, 40)}
    assert set(JOB_DESCRIPTIONS) == {job.value for job in Job}


def test_2026_holidays_are_weekdays_closed_with_their_names() -> None:
    assert {h.day: h.name for h in CAL.schedule.holidays} == HOLIDAYS_2026
    for day, name in HOLIDAYS_2026.items():
        assert day.weekday() < 5, day
        for exchange in ("NSE", "NFO", "MCX"):
            assert not CAL.is_trading_day(day, exchange)
            assert CAL.why_closed(day, exchange) == name
            assert CAL.session(day, exchange) is None


def test_open_days_weekends_and_next_trading_day() -> None:
    monday = date(2026, 11, 23)
    assert CAL.is_trading_day(monday) and CAL.why_closed(monday) is None
    assert CAL.why_closed(date(2026, 11, 24)) == "Prakash Gurpurb Sri Guru Nanak Dev"
    assert CAL.why_closed(date(2026, 11, 21)) == "weekend (Saturday)"
    assert CAL.why_closed(date(2026, 11, 22), "MCX") == "weekend (Sunday)"
    assert CAL.next_trading_day(date(2026, 11, 20)) == monday
    assert CAL.next_trading_day(monday) == date(2026, 11, 25)
    assert CAL.next_trading_day(date(2026, 12, 24)) == date(2026, 12, 28)
    assert CAL.next_trading_day(date(2026, 1, 23)) == date(2026, 1, 27)


def test_sessions_are_ist_aware_per_exchange() -> None:
    monday = date(2026, 11, 23)
    assert CAL.session(monday) == (at(monday, 9, 15), at(monday, 15, 30))
    assert CAL.session(monday, "CDS") == (at(monday, 9, 0), at(monday, 17, 0))
    opens, closes = CAL.session(monday, "MCX")
    assert opens == at(monday, 9, 0)
    assert closes == at(monday, 23, 30) and closes.utcoffset().total_seconds() == 5.5 * 3600


def test_timetable_lists_the_jobs_in_time_order() -> None:
    monday = date(2026, 11, 23)
    assert CAL.timetable(monday) == [
        ("token_expiry", at(monday, 6, 0)), ("login_check", at(monday, 8, 30)),
        ("instruments_refresh", at(monday, 8, 45)), ("session_start", at(monday, 9, 14)),
        ("entry_cutoff", at(monday, 15, 0)), ("square_off", at(monday, 15, 15)),
        ("session_end", at(monday, 15, 31)), ("day_report", at(monday, 15, 40))]
    assert CAL.timetable(date(2026, 11, 24)) == []
    assert CAL.timetable(date(2026, 11, 28)) == []


def test_unconfirmed_muhurat_example_is_listed_but_not_traded() -> None:
    sunday = date(2026, 11, 8)
    special = CAL.special_session(sunday)
    assert special is not None and not special.confirmed
    assert not CAL.is_trading_day(sunday)
    assert CAL.why_closed(sunday) == (
        "weekend (Sunday); special session 'Muhurat trading (Diwali)' not confirmed yet")
    assert CAL.why_closed(sunday, "MCX") == "weekend (Sunday)"


# ---------------------------------------------------------------- special sessions


def _calendar_with(*specials: SpecialSession, holidays: tuple[Holiday, ...] = ()
                   ) -> TradingCalendar:
    base = CAL.schedule
    return TradingCalendar(ScheduleConfig(sessions=base.sessions, jobs=base.jobs,
                                          holidays=holidays or base.holidays,
                                          special_sessions=specials))


def test_confirmed_special_session_opens_a_sunday_and_shifts_the_session_jobs() -> None:
    sunday = date(2026, 11, 8)
    cal = _calendar_with(SpecialSession(sunday, "Muhurat", time(18, 0), time(19, 0),
                                        ("NSE", "NFO")))
    assert cal.is_trading_day(sunday) and cal.is_trading_day(sunday, "NFO")
    assert cal.session(sunday) == (at(sunday, 18, 0), at(sunday, 19, 0))
    assert cal.why_closed(sunday, "BSE") == "weekend (Sunday)"
    assert dict(cal.timetable(sunday)) == {
        "token_expiry": at(sunday, 6, 0), "login_check": at(sunday, 8, 30),
        "instruments_refresh": at(sunday, 8, 45), "session_start": at(sunday, 17, 59),
        "entry_cutoff": at(sunday, 18, 30), "square_off": at(sunday, 18, 45),
        "session_end": at(sunday, 19, 1), "day_report": at(sunday, 19, 10)}
    assert cal.next_trading_day(date(2026, 11, 6)) == sunday


def test_special_session_overrides_a_holiday_and_short_sessions_clamp_to_the_open() -> None:
    diwali = date(2026, 11, 10)
    cal = _calendar_with(SpecialSession(diwali, "Muhurat", time(13, 45), time(14, 0)))
    assert cal.session(diwali, "MCX") == (at(diwali, 13, 45), at(diwali, 14, 0))
    jobs = dict(cal.timetable(diwali))
    assert jobs["entry_cutoff"] == jobs["square_off"] == at(diwali, 13, 45)
    assert jobs["session_end"] == at(diwali, 14, 1)
    unconfirmed = _calendar_with(SpecialSession(diwali, "Muhurat", time(13, 45), time(14, 0),
                                                confirmed=False))
    assert unconfirmed.why_closed(diwali) == (
        "Diwali Balipratipada; special session 'Muhurat' not confirmed yet")


def test_holidays_can_be_limited_to_some_exchanges() -> None:
    day = date(2026, 3, 3)
    cal = _calendar_with(holidays=(Holiday(day, "Holi", ("NSE", "NFO")),))
    assert cal.why_closed(day) == "Holi" and cal.why_closed(day, "NFO") == "Holi"
    assert cal.session(day, "MCX") == (at(day, 9, 0), at(day, 23, 30))


# ---------------------------------------------------------------- parse errors


@pytest.mark.parametrize(("raw", "expected"), [
    (edited(jobs={"square_off": "25:00"}),
     ["jobs.square_off: expected a time HH:MM, got '25:00'"]),
    (edited(jobs={"square_off": 915}), ["jobs.square_off: expected a time HH:MM, got 915"]),
    (edited(jobs={"squareoff": "15:15"}),
     ["jobs.squareoff: unknown key (did you mean 'square_off'?)"]),
    (edited(holiday=[]), ["holiday: unknown key (did you mean 'holidays'?)"]),
    (edited(jobs={"entry_cutoff": "15:20"}),
     ["jobs.square_off: expected at or after jobs.entry_cutoff 15:20, got 15:15"]),
    (edited(jobs={"square_off": "15:30"}),
     ["jobs.square_off: expected before the NSE close 15:30, got 15:30"]),
    (edited(jobs={"session_start": "09:20"}),
     ["jobs.session_start: expected at or before the NSE open 09:15, got 09:20"]),
    (edited(jobs={"login_check": "09:00"}),
     ["jobs.instruments_refresh: expected after jobs.login_check 09:00, got 08:45"]),
    (edited(timezone="Europe/London"),
     ["timezone: the agent runs on IST: expected 'Asia/Kolkata', got 'Europe/London'"]),
    (edited(misfire_grace_seconds=0),
     ["misfire_grace_seconds: expected a whole number 1..3600, got 0"]),
    (edited(sessions={"MCX": {"open": "23:30", "close": "09:00"}}),
     ["sessions.MCX.close: expected after open 23:30, got 09:00"]),
    (edited(sessions={"nse2": {"open": "09:00", "close": "10:00"}}),
     ["sessions.nse2: expected an exchange name in capitals such as NSE"]),
    (edited(sessions={"NSE": {"open": "09:15"}}), ["sessions.NSE.close: required (HH:MM)"]),
    (edited(holidays=[{"date": "2026-02-30", "name": "x"}]),
     ["holidays[0].date: expected a date YYYY-MM-DD, got '2026-02-30'"]),
    (edited(holidays=[{"date": "2026-01-26"}]), ["holidays[0].name: required"]),
    (edited(holidays=[{"date": "2026-01-26", "name": "a", "exchanges": ["NSX"]}]),
     ["holidays[0].exchanges[0]: 'NSX' has no session (did you mean 'NSE'?)"]),
    (edited(holidays=[{"date": "2026-01-26", "name": "a"},
                      {"date": "2026-01-26", "name": "b", "exchanges": ["MCX"]}]),
     ["holidays[1].date: 2026-01-26 is already in holidays[0] for MCX"]),
    (edited(special_sessions=[{"date": "2026-11-08", "name": "m", "open": "19:00",
                               "close": "18:00"}]),
     ["special_sessions[0].close: expected after open 19:00, got 18:00"]),
    (edited(special_sessions=[{"date": "2026-11-08", "name": "m", "open": "08:00",
                               "close": "09:00"}]),
     ["special_sessions[0].open: expected after jobs.instruments_refresh 08:45, got 08:00"]),
    (edited(special_sessions=[{"date": "2026-11-08", "name": "m", "open": "18:00",
                               "close": "19:00", "confirmed": "maybe"}]),
     ["special_sessions[0].confirmed: expected true or false, got 'maybe'"]),
])
def test_schedule_problems_name_their_key_path(raw: dict, expected: list[str]) -> None:
    assert problems_of(raw) == expected


def test_missing_jobs_and_sessions_are_reported_together() -> None:
    raw = {k: v for k, v in RAW.items() if k not in ("jobs", "sessions")}
    problems = problems_of(raw)
    assert problems[0] == "sessions: expected a mapping of exchange -> {open, close}, got nothing"
    assert f"jobs.square_off: required ({JOB_DESCRIPTIONS['square_off']})" in problems
    assert sum(p.startswith("jobs.") for p in problems) == len(JOB_DESCRIPTIONS)
    assert len(problems) == 1 + len(JOB_DESCRIPTIONS)  # no knock-on errors about exchanges
    without_nse = edited()
    del without_nse["sessions"]["NSE"]
    assert problems_of(without_nse) == [
        "sessions.NSE: required (the day's jobs are timed against it)",
        "special_sessions[0].exchanges[0]: 'NSE' has no session (did you mean 'BSE'?)"]


def test_unquoted_times_in_the_file_are_times_not_base_60_numbers(tmp_path: Path) -> None:
    text = SCHEDULES.read_text().replace('"15:15"', "15:15").replace('"09:15"', "09:15")
    assert "square_off: 15:15" in text
    path = tmp_path / "s.yaml"
    path.write_text(text)
    schedule = load_schedule(path)
    assert schedule.square_off == time(15, 15) and schedule.sessions["NSE"].open == time(9, 15)


def test_schedule_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_schedule(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs:\n  square_off: '15:15'\n  square_off: '15:16'\n")
    with pytest.raises(ConfigError) as caught:
        load_schedule(bad)
    assert caught.value.problems == [
        f"{bad}: YAML error at line 3, column 3: duplicate key 'square_off'"]


# ---------------------------------------------------------------- bot.py schedule


def test_schedule_command_prints_the_timetable(capsys: pytest.CaptureFixture[str]) -> None:
    assert schedule_command(SCHEDULES, "2026-11-23") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Monday 2026-11-23 (times IST)"
    assert "  NSE  09:15-15:30" in out and "  MCX  09:00-23:30" in out
    assert f"  15:15  square_off           {JOB_DESCRIPTIONS['square_off']}" in out
    jobs = [line.split()[1] for line in out[out.index("Jobs (timed for NSE):") + 1:]]
    assert jobs == [name for name, _ in CAL.timetable(date(2026, 11, 23))]


def test_schedule_command_says_why_a_day_is_closed(capsys: pytest.CaptureFixture[str]) -> None:
    assert schedule_command(SCHEDULES, "2026-11-21") == 0
    out = capsys.readouterr().out
    assert "Not a trading day on NSE: weekend (Saturday). No jobs run." in out
    assert "Next trading day: Monday 2026-11-23" in out and "Jobs" not in out


def test_schedule_command_defaults_to_today_in_ist(capsys: pytest.CaptureFixture[str]) -> None:
    # 20:00 UTC on the 23rd is already 01:30 IST on the 24th (a holiday).
    with time_machine.travel(datetime(2026, 11, 23, 20, 0, tzinfo=IST.utc), tick=False):
        assert schedule_command(SCHEDULES, None) == 0
    out = capsys.readouterr().out
    assert out.startswith("Tuesday 2026-11-24")
    assert "Prakash Gurpurb Sri Guru Nanak Dev" in out


def test_schedule_command_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("2026-13-01", "23-11-2026", "20261123", "tomorrow"):
        assert schedule_command(SCHEDULES, bad) == 2
        assert f"bad --date {bad!r}: expected YYYY-MM-DD" in capsys.readouterr().err
    broken = tmp_path / "s.yaml"
    broken.write_text(SCHEDULES.read_text().replace('"15:15"', '"25:00"'))
    assert schedule_command(broken, "2026-11-23") == 1
    assert capsys.readouterr().err == (
        f"{broken}: jobs.square_off: expected a time HH:MM, got '25:00'\n")


def test_schedule_cli_in_a_subprocess() -> None:
    done = subprocess.run([sys.executable, "bot.py", "schedule", "--date", "2026-11-24"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "NSE  closed: Prakash Gurpurb Sri Guru Nanak Dev" in done.stdout
    assert "Next trading day: Wednesday 2026-11-25" in done.stdout
    bad = subprocess.run([sys.executable, "bot.py", "schedule", "--date", "2026-02-30"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected YYYY-MM-DD" in bad.stderr


def test_a_grace_over_an_hour_and_times_in_other_digits_are_refused() -> None:
    """Issue 13: every number a person gives is within a sane range, in digits 0-9."""
    from agent.timeutil import parse_hhmm

    with pytest.raises(ValueError, match="expected a time HH:MM"):
        parse_hhmm("٠٩:١٥")  # Arabic-Indic digits
    assert parse_hhmm("09:15").hour == 9
    problems = problems_of(edited(misfire_grace_seconds=100_000))
    assert problems == ["misfire_grace_seconds: expected a whole number 1..3600, got 100000"]
