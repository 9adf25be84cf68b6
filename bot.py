#!/usr/bin/env python3
"""Command line and composition root of the trading agent.

    python bot.py run [--config F]
    python bot.py demo [--speed N] [--until HH:MM]
    python bot.py backtest --ticks F --config C [--json] [--chart DIR] [--verbose] [--no-cache]
    python bot.py optimize --ticks F --config C --grid KEY=a:b:step [--grid KEY=v1,v2 ...]
                           [--by METRIC] [--jobs N] [--split DATE|FRACTION] [--out DIR]
                           [--json] [--top N] [--search grid|optuna] [--trials N] [--seed S]
    python bot.py report [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json] [--chart DIR]
                         [--config F]
    python bot.py status --redis URL [--json]
    python bot.py login [--config F]
    python bot.py check-config [--config F] [--offline]
    python bot.py schedule [--date YYYY-MM-DD]
    python bot.py exchange [--port P] [--speed N] [--date YYYY-MM-DD[THH:MM]] [--seed S]
                           [--instruments FILE] [--info FILE] [--faults JSON] ...

Each command lives in its own module; this file only parses arguments and dispatches.
Numbers on the command line follow the config's rules (digits 0-9, within range).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_SCHEDULES = ROOT / "schedules.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def config_arg(p: argparse.ArgumentParser, required: bool = False) -> None:
        p.add_argument("--config", default=None if required else "config.yaml",
                       required=required, help="config file (YAML)")
        p.add_argument("--schedules", default=str(DEFAULT_SCHEDULES),
                       help="schedules file (default: schedules.yaml beside bot.py)")

    run = sub.add_parser("run", help="run the agent (paper or live per config)")
    config_arg(run)

    demo = sub.add_parser("demo", help="the embedded default: local exchange, paper money")
    demo.add_argument("--speed", type=_speed, default=None,
                      help="market clock speed factor, above 0 and up to 10000 (default: the "
                      "session in about three minutes)")
    demo.add_argument("--until", type=_hhmm, default=None, metavar="HH:MM",
                      help="stop at this IST time")
    demo.add_argument("--schedules", default=str(DEFAULT_SCHEDULES))

    bt = sub.add_parser("backtest", help="replay a tick file through the engine")
    bt.add_argument("--ticks", required=True, help="tick CSV (see README)")
    config_arg(bt, required=True)
    bt.add_argument("--json", action="store_true", help="print one JSON object")
    bt.add_argument("--chart", default=None, metavar="DIR", help="write PNG charts here")
    bt.add_argument("--verbose", action="store_true",
                    help="list the rows dropped as stale or outside the session (stderr)")
    bt.add_argument("--no-cache", action="store_true",
                    help="parse the tick file without reading or writing its cache "
                    "(.NAME.cache beside it)")

    from agent.optimize.cli import add_parser as add_optimize

    add_optimize(sub, config_arg)

    status = sub.add_parser("status", help="the agents on a shared Redis (storage.backend: "
                            "redis): account, mode, alive, positions, day P&L")
    status.add_argument("--redis", required=True, metavar="URL",
                        help="redis://host:6379/0, rediss://... or unix:///path/redis.sock "
                        "(the password from REDIS_PASSWORD)")
    status.add_argument("--json", action="store_true", help="print one JSON object")

    report = sub.add_parser("report", help="the trade journal across days, net of charges")
    config_arg(report)
    report.add_argument("--from", dest="start", type=_day, default=None, metavar="YYYY-MM-DD",
                        help="first day (default: the 30 days that end --to)")
    report.add_argument("--to", dest="end", type=_day, default=None, metavar="YYYY-MM-DD",
                        help="last day (default: today, IST)")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument("--chart", default=None, metavar="DIR",
                        help="write the journal chart (PNG) here")

    login = sub.add_parser("login", help="the daily Kite login in a terminal")
    config_arg(login)

    check = sub.add_parser("check-config", help="validate config and schedules, then ask "
                           "Kite about access (login, market data, static IP)")
    config_arg(check)
    check.add_argument("--offline", action="store_true",
                       help="only the config and schedules; do not ask Kite")

    sched = sub.add_parser("schedule", help="a day's timetable")
    sched.add_argument("--date", default=None, metavar="YYYY-MM-DD")
    sched.add_argument("--schedules", default=str(DEFAULT_SCHEDULES))

    from handlers.exchange_cli import add_parser

    add_parser(sub)
    return parser


def _speed(text: str) -> float:
    """``--speed``: the rule of ``sim.speed`` (``agent.config.SIM_SPEED``)."""
    from agent.config import SIM_SPEED

    try:
        return float(SIM_SPEED(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hhmm(text: str) -> str:
    """``--until``: HH:MM (or HH:MM:SS) in digits 0-9; the command checks the clock values."""
    if not re.fullmatch(r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?", text.strip()):
        raise argparse.ArgumentTypeError(f"expected a time HH:MM, got {text[:40]!r}")
    return text


def _day(text: str) -> date:
    """``--from``/``--to``: YYYY-MM-DD in digits 0-9."""
    from handlers.journal_cli import parse_day

    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command
    if command == "check-config":
        from handlers.check_cli import check_command

        return check_command(Path(args.config), Path(args.schedules), offline=args.offline)
    if command == "backtest":
        from agent.backtest import backtest_command

        return backtest_command(Path(args.ticks), Path(args.config), Path(args.schedules),
                                as_json=args.json, chart_dir=args.chart,
                                verbose=args.verbose, use_cache=not args.no_cache)
    if command == "optimize":
        from agent.optimize.cli import command_from_args

        return command_from_args(args)
    if command == "report":
        from handlers.journal_cli import report_command

        return report_command(Path(args.config), Path(args.schedules), start=args.start,
                              end=args.end, as_json=args.json, chart_dir=args.chart)
    if command == "status":
        from handlers.status_cli import status_command

        return status_command(args.redis, as_json=args.json)
    if command == "demo":
        from handlers.run_cli import demo_command

        return demo_command(speed=args.speed, until=args.until,
                            schedules=Path(args.schedules))
    if command == "run":
        from handlers.run_cli import run_command

        return run_command(Path(args.config), Path(args.schedules))
    if command == "login":
        from handlers.login_cli import login_command

        return login_command(Path(args.config), Path(args.schedules))
    if command == "exchange":
        from handlers.exchange_cli import exchange_command

        return exchange_command(args, DEFAULT_SCHEDULES)
    if command == "schedule":
        from agent.calendar import schedule_command

        return schedule_command(Path(args.schedules), args.date)
    raise AssertionError(command)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `bot.py schedule | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
