"""One crash-test run, planned from its seed: the day, the instruments, when the agent is
killed (at a moment, or right after an event of its log) and which faults the exchange
plays when. Everything random comes from ``random.Random(seed)``: a seed replays the same
plan (the agent's and the exchange's threads still race, so the outcome may differ).
Pure, any thread.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from tests.chaos.logwatch import KILL_EVENTS

ROOT = Path(__file__).resolve().parents[2]

# Plain NSE equities of the bundled sample dump (agent/sim/data/instruments_nse.csv) whose
# simulated prices make a 0.05 % band worth more than a tick.
CANDIDATES: tuple[str, ...] = (
    "ADANIPORTS", "CDSL", "BANKBEES", "ABCAPITAL", "DEEPAKNITR", "ICICIPRULI", "IGL",
    "HESTERBIO", "ENDURANCE", "DEEPAKFERT", "ENGINERSIN", "BIRLAMONEY")
LOTS: tuple[int, ...] = (1, 1, 1, 5, 20)  # a few larger orders: partial fills, slices of depth
DAYS_FROM, DAYS_TO = date(2026, 11, 2), date(2026, 12, 18)  # seeded trading days among these

SQUARE_OFF = time(15, 15)  # the agent's square-off job (schedules.yaml)
LAST_KILL = time(15, 24)  # restarts (after at most MAX_DOWN) come before session_end 15:31
LAST_ENTRY = time(14, 58)  # entries stop at the 15:00 entry cutoff (schedules.yaml)
ENTRY_EVENTS = ("entry_decided", "entry_placed")
EVENT_WAIT = timedelta(minutes=20)  # an event kill not triggered by then kills anyway
MARKET_CLOSE = time(15, 30)


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    seed: int
    speed: float = 100.0
    start: time = time(9, 10)
    end: time = time(15, 35)
    kills: int = 8
    faults: int | None = None  # None: as many as kills
    instruments: int = 8
    interval: int = 1
    percentage: str = "0.05"
    max_down: float = 60.0  # exchange seconds a killed agent stays down, at most
    kill_until: time = LAST_KILL  # the last moment a kill is planned at (or armed from)
    fault_kinds: tuple[str, ...] = ()  # FAULT_KINDS names, one per fault (then ``faults``
    # is their number); () = seeded
    kill_kinds: tuple[str, ...] = ()  # "time" or an event name per kill (then ``kills`` is
    # their number); () = seeded
    day: date | None = None  # None: seeded
    redis_url: str = ""  # the agent's storage on this Redis (account "chaos"); "": files


@dataclass(frozen=True, slots=True)
class Kill:
    at: datetime  # a timed kill's moment; an event kill is armed from then on
    event: str | None  # None: a timed kill
    deadline: datetime  # an event kill not triggered by then kills anyway
    down: float  # exchange seconds the agent stays down


@dataclass(frozen=True, slots=True)
class Fault:
    at: datetime
    spec: dict[str, Any]  # the body of POST /sim/faults


@dataclass(frozen=True, slots=True)
class Schedule:
    day: date
    start: datetime
    end: datetime
    close: datetime
    instruments: tuple[tuple[str, int], ...]  # (symbol, lots)
    kills: tuple[Kill, ...]
    faults: tuple[Fault, ...]
    notes: list[str] = field(default_factory=list)


def trading_days() -> list[date]:
    from agent.calendar import TradingCalendar, load_schedule

    calendar = TradingCalendar(load_schedule(ROOT / "schedules.yaml"))
    days = []
    day = DAYS_FROM
    while day <= DAYS_TO:
        if calendar.is_trading_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def _uniform(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    seconds = max(0.0, (hi - lo).total_seconds())
    return lo + timedelta(seconds=round(rng.uniform(0, seconds)))


FAULT_KINDS = ("rate_limit_burst", "timeout_after_send", "drop_sockets")


def _fault(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "rate_limit_burst":
        return {kind: {"n": rng.randint(3, 8)}}
    if kind == "timeout_after_send":
        # carried out, the answer lost: the connection drops at once (a delayed answer would
        # hold the agent's worker for the client's 7 s of wall time, minutes of the
        # exchange's clock at these speeds)
        return {kind: {"n": rng.randint(1, 2), "drop": True}}
    return {kind: True}


def make_schedule(plan: ChaosPlan) -> Schedule:
    rng = random.Random(plan.seed)
    day = plan.day or rng.choice(trading_days())
    start = datetime.combine(day, plan.start)
    end = datetime.combine(day, plan.end)
    close = datetime.combine(day, MARKET_CLOSE)
    names = rng.sample(CANDIDATES, min(plan.instruments, len(CANDIDATES)))
    instruments = tuple((f"NSE:{n}", rng.choice(LOTS)) for n in names)
    first = start + timedelta(minutes=2)  # the agent is up and trading by then
    last = datetime.combine(day, min(plan.kill_until, LAST_KILL))
    last_entry = datetime.combine(day, LAST_ENTRY)
    kinds = list(plan.kill_kinds) or [
        rng.choice(KILL_EVENTS) if rng.random() < 0.6 else "time" for _ in range(plan.kills)]
    if kinds.count("square_off") > 1:  # the square-off comes once a day
        seen = False
        for i, k in enumerate(kinds):
            if k == "square_off":
                kinds[i] = k if not seen else "time"
                seen = True
    kills = []
    for kind in kinds:
        down = round(rng.uniform(0, plan.max_down), 1)
        until = min(last, last_entry) if kind in ENTRY_EVENTS else last
        if kind == "square_off":
            at = max(first, datetime.combine(day, SQUARE_OFF) - timedelta(minutes=5))
            until = datetime.combine(day, LAST_KILL)
        else:
            at = _uniform(rng, first, until)
        event = None if kind == "time" else kind
        deadline = min(at + EVENT_WAIT, until + timedelta(minutes=2)) if event else at
        kills.append(Kill(at, event, deadline, down))
    kills.sort(key=lambda k: k.at)
    count = plan.kills if plan.faults is None else plan.faults
    fault_kinds = plan.fault_kinds or tuple(rng.choice(FAULT_KINDS) for _ in range(count))
    faults = sorted((Fault(_uniform(rng, start + timedelta(minutes=3), last), _fault(rng, kind))
                     for kind in fault_kinds), key=lambda f: f.at)
    return Schedule(day, start, end, close, instruments, tuple(kills), tuple(faults))
