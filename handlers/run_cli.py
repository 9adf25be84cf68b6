"""``python bot.py run`` and ``python bot.py demo``: start the agent, run until told to stop.

``run`` with ``clock: exchange`` follows a standalone ``bot.py exchange``: its clock, read
at start, drives the day's jobs as the in-process simulator's does.

``demo`` is the embedded default: the simulated Kite exchange in this process on
127.0.0.1, the agent in live mode against it through the real kiteconnect clients (paper
money: the exchange is simulated), every alert on the console, a whole session
09:15-15:30 in about three minutes, then the day report. Main thread only.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import sys
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.calendar import TradingCalendar, load_schedule
from agent.clock import ExchangeClockError
from agent.config import ConfigError, settings_or_report
from agent.fields import FieldError
from agent.instruments import BUNDLED_DUMP, InstrumentsError, load_dump
from agent.logsetup import log_path, setup_logging
from agent.settings import (
    Defaults,
    FeedKind,
    InstrumentConfig,
    Mode,
    RiskConfig,
    ScheduleConfig,
    Settings,
    StrategyParams,
)
from agent.timeutil import IST, parse_hhmm
from handlers.runtime import AgentProcess, RuntimeOptions
from storage.datadir import prepare_data_dir
from storage.errors import DataFileError, unusable
from storage.lock import DataDirLocked
from storage.redis_presence import AccountLocked

log = logging.getLogger(__name__)

SESSION_WALL_SECONDS = 180  # the demo's whole session takes about three minutes
DEMO_COUNT = 6


def sim_day(schedule: ScheduleConfig, today: date) -> date:
    """The simulated market's date: today if it trades, else the next trading day."""
    calendar = TradingCalendar(schedule)
    return today if calendar.is_trading_day(today) else calendar.next_trading_day(today)


def _start_sim(settings: Settings, day: date, speed: float) -> Any:
    from agent.sim import SimExchange

    source = settings.sim.instruments_file or None
    return SimExchange(source, start=day, speed=speed, seed=settings.sim.seed).start()


def _serve(proc: AgentProcess, extra: Any = None) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, proc.request_stop)
        tasks = [asyncio.ensure_future(extra(proc))] if extra is not None else []
        try:
            await proc.run()
        finally:
            for task in tasks:
                task.cancel()

    asyncio.run(main())


# Errors whose message already says what is wrong and where (a file, a key, a URL).
KNOWN_START_ERRORS = (DataDirLocked, DataFileError, FieldError, InstrumentsError,
                      ExchangeClockError, ConfigError, AccountLocked)


def _open(proc: AgentProcess) -> str | None:
    """Open the agent; the problem as one line when it cannot start (``open`` has given
    back whatever it took: the lock, the writer thread, the broker)."""
    try:
        proc.open()
    except KNOWN_START_ERRORS as exc:
        _to_log_file(f"cannot start: {exc}")
        return str(exc)
    except Exception as exc:  # a bug: one line here, the traceback in the log file
        _to_log_file("start-up failed", exc)
        where = log_path(proc.settings.data_dir)
        return f"the agent could not start: {type(exc).__name__}: {exc} (details in {where})"
    return None


def _to_log_file(message: str, exc: BaseException | None = None) -> None:
    """Why the start failed (with the traceback of an unforeseen failure), to the log file
    only: the console gets the one line ``error: ...``."""
    info = None if exc is None else (type(exc), exc, exc.__traceback__)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, (), info)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _prepare(settings: Settings) -> str | None:
    """The data directory and the log file, before anything else; the problem or None."""
    try:
        prepare_data_dir(settings.data_dir)
        setup_logging(settings.data_dir, settings.log_level, settings.secrets.values())
    except DataFileError as exc:
        return str(exc)
    except OSError as exc:  # e.g. data/logs is a file
        where = Path(exc.filename) if exc.filename else log_path(settings.data_dir)
        return str(unusable(where, exc, "the log file cannot be opened"))
    return None


def _serve_until_stopped(proc: AgentProcess) -> str | None:
    """Run an opened agent until told to stop, then close it; the problem, if any (the
    chat could not start, the last state was not saved), as one line."""
    problem = None
    try:
        _serve(proc)
    except Exception as exc:  # e.g. Telegram refused the bot token: one line, no hang
        _to_log_file("the agent stopped", exc)
        problem = (f"the agent stopped: {type(exc).__name__}: {exc} (details in "
                   f"{log_path(proc.settings.data_dir)})")
    finally:
        proc.close()
    return problem or proc.close_problem or None


def run_command(config: Path, schedules: Path) -> int:
    """Exit status 0 after a clean stop; 1 (one line on stderr naming the file or key)
    when the agent cannot start or its last state could not be saved."""
    settings = settings_or_report(config, schedules)
    if settings is None:
        return 1
    problem = _prepare(settings)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    sim = None
    try:
        if settings.feed is FeedKind.SIM:
            day = sim_day(settings.schedule, datetime.now(IST).date())
            try:
                sim = _start_sim(settings, day, settings.sim.speed)
            except Exception as exc:  # e.g. sim.instruments_file unreadable
                _to_log_file("the simulated exchange could not start", exc)
                print(f"error: the simulated exchange could not start: {exc}", file=sys.stderr)
                return 1
            log.info("feed: sim: the simulated exchange trades %s at %sx from 09:15", day,
                     settings.sim.speed)
        proc = AgentProcess(settings, sim=sim)
        problem = _open(proc)
        if problem is None:
            problem = _serve_until_stopped(proc)
    finally:
        if sim is not None:
            sim.stop()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


def demo_settings(schedule: ScheduleConfig, data_dir: Path) -> Settings:
    """A handful of NSE equities from Zerodha's sample dump, the default strategy with a
    2x target, a daily loss limit; live mode against the simulated exchange."""
    picked = [i for i in load_dump(BUNDLED_DUMP)
              if i.exchange == "NSE" and i.instrument_type == "EQ"][:DEMO_COUNT]
    return Settings(
        mode=Mode.LIVE, feed=FeedKind.SIM, data_dir=data_dir, log_level="INFO",
        defaults=Defaults(params=StrategyParams(target_multiple=Decimal(2))),
        instruments=tuple(InstrumentConfig(i.symbol, i.token, i.tick_size, i.lot_size)
                          for i in picked),
        risk=RiskConfig(daily_loss_limit=Decimal(20000)),
        schedule=schedule,
    )


def demo_command(speed: float | None, until: str | None, schedules: Path) -> int:
    try:
        schedule = load_schedule(schedules)
        stop_at = parse_hhmm(until) if until else None
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="kite-agent-demo-"))
    settings = demo_settings(schedule, data_dir)
    setup_logging(data_dir, "INFO", console_level="WARNING")
    day = sim_day(schedule, datetime.now(IST).date())
    session_seconds = 6 * 3600 + 15 * 60
    speed = speed or session_seconds / SESSION_WALL_SECONDS
    sim = _start_sim(settings, day, speed)
    interactive = sys.stdin is not None and sys.stdin.isatty()
    holder: dict[str, AgentProcess] = {}
    options = RuntimeOptions(stdin=sys.stdin if interactive else io.StringIO(),
                             on_day_over=lambda: holder["proc"].request_stop())
    proc = holder["proc"] = AgentProcess(settings, sim=sim, options=options)
    problem = _open(proc)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sim.stop()
        return 1
    print(f"demo: simulated Kite exchange on {sim.rest_root}, {len(settings.instruments)} NSE "
          f"instruments, session of {day} at {speed:g}x (about "
          f"{session_seconds / speed / 60:.1f} minutes); data and logs in {data_dir}")
    if interactive:
        print("type /help for the commands; Ctrl-C stops")

    async def stop_early(process: AgentProcess) -> None:
        if stop_at is None:
            return
        when = datetime.combine(day, stop_at, tzinfo=IST)
        await asyncio.sleep(sim.clock.wall_seconds_until(when))
        await asyncio.to_thread(process.report, day)
        process.request_stop()

    try:
        _serve(proc, stop_early)
    finally:
        proc.close()
        sim.stop()
    reports = data_dir / "reports" / day.isoformat()
    print(f"demo finished; the day report's charts are in {reports}")
    return 0
