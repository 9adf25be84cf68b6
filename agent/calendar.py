"""schedules.yaml -> ``ScheduleConfig``, and the trading calendar built on it: which days an
exchange trades, its session hours, and the day's jobs in time order.

``TradingCalendar`` is immutable once built: any thread may call it. Only
``schedule_command`` (the CLI) reads the wall clock.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config_values import (
    ConfigError,
    as_is,
    boolean,
    describe,
    hint,
    nonempty_text,
    read_yaml,
    section,
    whole,
)
from agent.events import Job
from agent.settings import Holiday, ScheduleConfig, SessionHours, SpecialSession
from agent.timeutil import IST, ist, parse_hhmm

JOB_DESCRIPTIONS: Mapping[str, str] = MappingProxyType({
    Job.TOKEN_EXPIRY.value: "drop the day's Kite access token (Kite kills it at 06:00)",
    Job.LOGIN_CHECK.value: "is the access token valid? if not, send the /login link",
    Job.INSTRUMENTS_REFRESH.value: "download the instruments dump, resolve the symbols",
    Job.SESSION_START.value: "connect the feed, subscribe the instruments, arm the strategy",
    Job.ENTRY_CUTOFF.value: "no new entries from here on",
    Job.SQUARE_OFF.value: "close every open position at market",
    Job.SESSION_END.value: "complete the last candles, disconnect the feed",
    Job.DAY_REPORT.value: "send the day report (trades, P&L, charts)",
})
_SCHEDULE_SPEC = dict.fromkeys(
    ("timezone", "sessions", "special_sessions", "jobs", "misfire_grace_seconds", "holidays"),
    as_is)


def _time(value: Any) -> time:
    if not isinstance(value, str):
        raise ValueError(f"expected a time HH:MM, got {describe(value)}")
    return parse_hhmm(value)


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date YYYY-MM-DD, got {describe(value)}")


def _timezone(value: Any) -> str:
    try:
        zone = ZoneInfo(value) if isinstance(value, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None or zone.utcoffset(datetime(2026, 1, 1)) != timedelta(hours=5, minutes=30):
        raise ValueError(f"the agent runs on IST: expected 'Asia/Kolkata', got {describe(value)}")
    return value


_SESSION_SPEC = {"open": _time, "close": _time}
_HOLIDAY_SPEC = {"date": _date, "name": nonempty_text, "exchanges": as_is}
_SPECIAL_SPEC = {**_HOLIDAY_SPEC, "open": _time, "close": _time, "confirmed": boolean}


def load_schedule(path: Path) -> ScheduleConfig:
    """schedules.yaml parsed and checked; ConfigError listing every problem by key path."""
    return schedule_from_dict(read_yaml(path))


def schedule_from_dict(raw: Any) -> ScheduleConfig:
    """A parsed schedules document checked into a ScheduleConfig (ConfigError if not)."""
    problems: list[str] = []
    top = section(raw, "", _SCHEDULE_SPEC, problems)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(problems)
    timezone = "Asia/Kolkata"
    try:
        timezone = _timezone(top.get("timezone", timezone))
    except ValueError as exc:
        problems.append(f"timezone: {exc}")
    sessions = _sessions(top.get("sessions"), problems)
    # the exchanges named in sessions, even with bad hours; None: no usable sessions at all
    # (either way no knock-on errors about holidays or special sessions naming them)
    named = [e for e in top["sessions"] if isinstance(e, str)] if isinstance(
        top.get("sessions"), Mapping) else None
    jobs = _jobs(top.get("jobs"), problems)
    holidays = _days(top.get("holidays"), "holidays", _HOLIDAY_SPEC, named, problems)
    specials = _days(top.get("special_sessions"), "special_sessions", _SPECIAL_SPEC, named,
                     problems)
    grace = 300
    try:
        grace = whole(1, 3600)(top.get("misfire_grace_seconds", grace))
    except ValueError as exc:
        problems.append(f"misfire_grace_seconds: {exc}")
    _check_order(jobs, sessions.get("NSE"), problems)
    for i, special in enumerate(specials):
        refresh = jobs.get(Job.INSTRUMENTS_REFRESH.value)
        if special["close"] <= special["open"]:
            problems.append(f"special_sessions[{i}].close: expected after open "
                            f"{special['open']:%H:%M}, got {special['close']:%H:%M}")
        if refresh is not None and special["open"] <= refresh:
            problems.append(f"special_sessions[{i}].open: expected after jobs."
                            f"instruments_refresh {refresh:%H:%M}, got {special['open']:%H:%M}")
    if problems:
        raise ConfigError(problems)
    return ScheduleConfig(
        timezone=timezone,
        sessions=MappingProxyType(sessions),
        jobs=MappingProxyType(jobs),
        holidays=tuple(Holiday(h["date"], h["name"], h["exchanges"]) for h in holidays),
        misfire_grace_seconds=grace,
        special_sessions=tuple(SpecialSession(
            s["date"], s["name"], s["open"], s["close"], s["exchanges"], s.get("confirmed", True))
            for s in specials),
    )


def _sessions(raw: Any, problems: list[str]) -> dict[str, SessionHours]:
    out: dict[str, SessionHours] = {}
    if not isinstance(raw, Mapping) or not raw:
        problems.append(f"sessions: expected a mapping of exchange -> {{open, close}}, "
                        f"got {describe(raw)}")
        return out
    for exchange, body in raw.items():
        where = f"sessions.{exchange}"
        if not isinstance(exchange, str) or not re.fullmatch(r"[A-Z]+", exchange):
            problems.append(f"{where}: expected an exchange name in capitals such as NSE")
            continue
        before = len(problems)
        hours = section(body, where, _SESSION_SPEC, problems)
        for key in ("open", "close"):
            if isinstance(body, Mapping) and key not in body:
                problems.append(f"{where}.{key}: required (HH:MM)")
        if len(problems) == before and body is not None and len(hours) == 2:
            if hours["close"] <= hours["open"]:
                problems.append(f"{where}.close: expected after open {hours['open']:%H:%M}, "
                                f"got {hours['close']:%H:%M}")
            else:
                out[exchange] = SessionHours(hours["open"], hours["close"])
    if "NSE" not in raw:
        problems.append("sessions.NSE: required (the day's jobs are timed against it)")
    return out


def _jobs(raw: Any, problems: list[str]) -> dict[str, time]:
    times = section(raw, "jobs", dict.fromkeys(JOB_DESCRIPTIONS, _time), problems)
    if raw is None or isinstance(raw, Mapping):
        for name in JOB_DESCRIPTIONS:
            if raw is None or name not in raw:
                problems.append(f"jobs.{name}: required ({JOB_DESCRIPTIONS[name]})")
    return times


def _days(raw: Any, path: str, spec: Mapping, sessions: list[str] | None,
          problems: list[str]) -> list[dict[str, Any]]:
    """The entries of ``holidays`` or ``special_sessions`` (``exchanges`` as a tuple, empty
    for all); ``sessions`` are the exchanges schedules.yaml names."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{path}: expected a list, got {describe(raw)}")
        return []
    out: list[dict[str, Any]] = []
    taken: dict[tuple[date, str], int] = {}
    for i, entry in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected a mapping, got {describe(entry)}")
            continue
        before = len(problems)
        values = section(entry, where, spec, problems)
        for key in spec:
            if key not in entry and key not in ("exchanges", "confirmed"):
                problems.append(f"{where}.{key}: required")
        exchanges = values.get("exchanges") or []
        if not isinstance(exchanges, list) or not all(isinstance(e, str) for e in exchanges):
            problems.append(f"{where}.exchanges: expected a list of exchanges, "
                            f"got {describe(exchanges)}")
            exchanges = []
        for j, exchange in enumerate(exchanges):
            if sessions is not None and exchange not in sessions:
                problems.append(f"{where}.exchanges[{j}]: {exchange!r} has no session"
                                f"{hint(exchange, sessions)}")
        if len(problems) > before:
            continue
        values["exchanges"] = tuple(exchanges)
        for exchange in exchanges or sessions or ():
            if (values["date"], exchange) in taken:
                problems.append(f"{where}.date: {values['date']} is already in "
                                f"{path}[{taken[values['date'], exchange]}] for {exchange}")
                break
            taken[values["date"], exchange] = i
        out.append(values)
    return out


def _check_order(jobs: Mapping[str, time], nse: SessionHours | None, problems: list[str]) -> None:
    """token_expiry < login_check < instruments_refresh < session_start <= open <
    entry_cutoff <= square_off < close <= session_end <= day_report (NSE hours)."""
    if nse is None:
        return
    chain: list[tuple[str, time]] = [(f"jobs.{name}", at) for name, at in jobs.items()]
    chain += [("the NSE open", nse.open), ("the NSE close", nse.close)]
    order = ["jobs.token_expiry", "jobs.login_check", "jobs.instruments_refresh",
             "jobs.session_start", "the NSE open", "jobs.entry_cutoff", "jobs.square_off",
             "the NSE close", "jobs.session_end", "jobs.day_report"]
    may_equal = {("jobs.session_start", "the NSE open"), ("jobs.entry_cutoff", "jobs.square_off"),
                 ("the NSE close", "jobs.session_end"), ("jobs.session_end", "jobs.day_report")}
    known = dict(chain)
    present = [name for name in order if name in known]
    for earlier, later in pairwise(present):
        a, b = known[earlier], known[later]
        if b < a or (b == a and (earlier, later) not in may_equal):
            subject, other = (later, earlier) if later.startswith("jobs.") else (earlier, later)
            relation = ("at or " if (earlier, later) in may_equal else "") + (
                "after" if subject == later else "before")
            problems.append(f"{subject}: expected {relation} {other} "
                            f"{known[other]:%H:%M}, got {known[subject]:%H:%M}")


class TradingCalendar:
    """Trading days, session hours and job times from a ``ScheduleConfig`` (immutable)."""

    def __init__(self, schedule: ScheduleConfig) -> None:
        self.schedule = schedule
        self._holidays: dict[date, list[Holiday]] = defaultdict(list)
        self._specials: dict[date, list[SpecialSession]] = defaultdict(list)
        for holiday in schedule.holidays:
            self._holidays[holiday.day].append(holiday)
        for special in schedule.special_sessions:
            self._specials[special.day].append(special)

    def special_session(self, d: date, exchange: str = "NSE") -> SpecialSession | None:
        """The special session of ``exchange`` on ``d``, confirmed or not."""
        return next((s for s in self._specials.get(d, ()) if _covers(s.exchanges, exchange)),
                    None)

    def holiday(self, d: date, exchange: str = "NSE") -> Holiday | None:
        return next((h for h in self._holidays.get(d, ()) if _covers(h.exchanges, exchange)),
                    None)

    def why_closed(self, d: date, exchange: str = "NSE") -> str | None:
        """None on a trading day; else why not: 'weekend (Saturday)' or the holiday's name."""
        special = self.special_session(d, exchange)
        if special is not None and special.confirmed:
            return None
        reason = None
        if d.weekday() >= 5:  # date.weekday(): Monday is 0, so 5 and 6 are the weekend
            reason = f"weekend ({d.strftime('%A')})"
        elif (holiday := self.holiday(d, exchange)) is not None:
            reason = holiday.name
        if reason is not None and special is not None:
            reason += f"; special session {special.name!r} not confirmed yet"
        return reason

    def is_trading_day(self, d: date, exchange: str = "NSE") -> bool:
        return self.why_closed(d, exchange) is None

    def session(self, d: date, exchange: str = "NSE") -> tuple[datetime, datetime] | None:
        """The IST open and close of ``exchange`` on ``d`` (a special session's if it has a
        confirmed one), or None when it does not trade that day."""
        if self.why_closed(d, exchange) is not None:
            return None
        special = self.special_session(d, exchange)
        if special is not None and special.confirmed:
            return ist(d, special.open), ist(d, special.close)
        hours = self.schedule.session_for(exchange)
        return ist(d, hours.open), ist(d, hours.close)

    def next_trading_day(self, d: date, exchange: str = "NSE") -> date:
        """The first trading day strictly after ``d``."""
        for ahead in range(1, 367):
            candidate = d + timedelta(days=ahead)
            if self.is_trading_day(candidate, exchange):
                return candidate
        raise ValueError(f"no {exchange} trading day within a year after {d}")

    def timetable(self, d: date, exchange: str = "NSE") -> list[tuple[str, datetime]]:
        """The day's jobs in time order ([] when ``exchange`` is closed). On a special
        session with other hours, session_start keeps its lead before the open, the jobs
        after the regular open keep their offset from the close (never before the open),
        and the morning jobs keep their clock times."""
        hours = self.session(d, exchange)
        if hours is None:
            return []
        opens, closes = hours
        regular = self.schedule.session_for(exchange)
        regular_open, regular_close = ist(d, regular.open), ist(d, regular.close)
        special_hours = (opens, closes) != (regular_open, regular_close)
        out: list[tuple[str, datetime]] = []
        for name, at_time in self.schedule.jobs.items():
            at = ist(d, at_time)
            if special_hours and name == Job.SESSION_START.value:
                at = opens - (regular_open - at)
            elif special_hours and at > regular_open:
                at = max(opens, closes - (regular_close - at))
            out.append((name, at))
        rank = {name: i for i, name in enumerate(JOB_DESCRIPTIONS)}
        return sorted(out, key=lambda job: (job[1], rank.get(job[0], len(rank))))


def _covers(exchanges: tuple[str, ...], exchange: str) -> bool:
    return not exchanges or exchange in exchanges


def schedule_command(schedules_path: Path, date_text: str | None) -> int:
    """``python bot.py schedule [--date D]``: the day's sessions and jobs, or why closed.
    Exit 0, 1 for a bad schedules file, 2 for a bad date."""
    if date_text is None:
        day = datetime.now(IST).date()
    else:
        try:
            day = _date(date_text)
        except ValueError:
            print(f"schedule: bad --date {date_text!r}: expected YYYY-MM-DD, e.g. 2026-11-23",
                  file=sys.stderr)
            return 2
    try:
        calendar = TradingCalendar(load_schedule(schedules_path))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{schedules_path}: {problem}", file=sys.stderr)
        return 1
    print(f"{day:%A} {day.isoformat()} (times IST)")
    for exchange in calendar.schedule.sessions:
        hours = calendar.session(day, exchange)
        if hours is None:
            print(f"  {exchange:<4} closed: {calendar.why_closed(day, exchange)}")
        else:
            special = calendar.special_session(day, exchange)
            note = f"  ({special.name})" if special is not None else ""
            print(f"  {exchange:<4} {hours[0]:%H:%M}-{hours[1]:%H:%M}{note}")
    if any(not s.confirmed for s in calendar.schedule.special_sessions if s.day == day):
        print("  (a special session is not traded until schedules.yaml says confirmed: true)")
    jobs = calendar.timetable(day)
    if not jobs:
        following = calendar.next_trading_day(day)
        print(f"Not a trading day on NSE: {calendar.why_closed(day)}. No jobs run.")
        print(f"Next trading day: {following:%A} {following.isoformat()}")
        return 0
    print("Jobs (timed for NSE):")
    for name, at in jobs:
        print(f"  {at:%H:%M}  {name:<20} {JOB_DESCRIPTIONS.get(name, '')}")
    return 0
