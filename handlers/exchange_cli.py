"""``python bot.py exchange``: the simulated Kite exchange alone, until SIGINT or SIGTERM.

It prints one JSON line (and writes it to ``--info``): ``rest_root``, ``ws_root``,
``api_key``, ``api_secret``, ``login_url``, ``clock_start``, ``speed``. Agents follow it
with ``feed: kite``, ``kite.root`` / ``kite.ws_root`` / ``kite.login_url`` on it and
``clock: exchange``; several agents, or one agent restarted many times, can use it, and it
keeps its orders and positions meanwhile. Its clock starts at the pre-open (09:00) of
``--date`` (default: today if it trades, else the next trading day) or at the time given.
Faults and realism rules switch at runtime through ``/sim/faults`` and ``/sim/realism``
(``agent/sim/control.py``). ``--port``, ``--speed`` and ``--seed`` follow the config's rules
(``agent.config.PORT``, ``SIM_SPEED``, ``SEED``: digits 0-9, no exponent, within range); a bad
option exits 1 naming it. Main thread only.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from agent.calendar import load_schedule
from agent.clock import LiveClock
from agent.config import PORT, SEED, SIM_SPEED, ConfigError
from agent.config_values import Convert
from agent.instruments import InstrumentsError
from agent.sim.realism import RULES, Realism
from agent.timeutil import IST
from storage.atomic import atomic_write_bytes

PRE_OPEN = time(9, 0)


def parse_start(text: str | None, schedules: Path) -> datetime:
    """``YYYY-MM-DD`` (its pre-open) or ``YYYY-MM-DDTHH:MM`` (IST); None: the pre-open of
    today or the next trading day. Raises ValueError with what was expected."""
    if text is None:
        from handlers.run_cli import sim_day  # the agent's wiring: only for this

        today = LiveClock().now().date()
        return datetime.combine(sim_day(load_schedule(schedules), today), PRE_OPEN, IST)
    try:
        if not text.isascii():  # strptime's %Y would read other scripts' digits
            raise ValueError(text)
        if "T" in text:
            when = datetime.strptime(text, "%Y-%m-%dT%H:%M")
            return when.replace(tzinfo=IST)
        return datetime.combine(date.fromisoformat(text), PRE_OPEN, IST)
    except ValueError:
        raise ValueError(f"--date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM, got {text!r}") \
            from None


def exchange_command(args: Any, schedules: Path) -> int:
    from agent.sim.control import apply_faults  # aiohttp: only for this command
    from agent.sim.server import SimExchange

    try:
        speed = float(_option("--speed", SIM_SPEED, args.speed))
        port = _option("--port", PORT, args.port)
        seed = _option("--seed", SEED, args.seed)
        start = parse_start(args.date, schedules)
        realism = Realism.all_but(*_names(args.realism_off))
        faults = json.loads(args.faults) if args.faults else None
        ips = [ip.strip() for ip in args.allowed_ips.split(",")] if args.allowed_ips else None
        sim = SimExchange(args.instruments, start=start, speed=speed, seed=seed,
                          port=port, realism=realism, static_ips=ips,
                          market_data=not args.personal_plan, rate_clock=args.rate_clock)
        if faults is not None:
            apply_faults(sim.faults, faults)
    except (ValueError, ConfigError, InstrumentsError) as exc:
        print(f"exchange: {exc}", file=sys.stderr)
        return 1
    sim.start()
    sim.redirect_url = f"{sim.rest_root}/connect/redirect"
    info = {"rest_root": sim.rest_root, "ws_root": sim.ws_root, "api_key": sim.api_key,
            "api_secret": sim.api_secret, "login_url": sim.login_url,
            "clock_start": start.isoformat(), "speed": speed, "rate_clock": args.rate_clock,
            "realism": list(realism.names())}
    line = json.dumps(info)
    if args.info:
        atomic_write_bytes(Path(args.info), (line + "\n").encode("utf-8"))
    print(line, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    sim.stop()
    return 0


def _option(name: str, convert: Convert, value: Any) -> Any:
    """An option's value by its rule; ValueError ``--speed: expected ..., got '1e5'``."""
    try:
        return convert(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _names(text: str | None) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise ValueError(f"--realism-off: unknown rule(s) {', '.join(unknown)}; known: "
                         f"{', '.join(RULES)}")
    return names


def add_parser(sub: Any) -> None:
    ex = sub.add_parser("exchange", help="the simulated Kite exchange alone (for agents and "
                        "tests)")
    ex.add_argument("--port", default="0", help="TCP port on 127.0.0.1, 0..65535 (0: a free "
                    "one)")
    ex.add_argument("--speed", default="1", help="clock speed factor, above 0 and up to 10000 "
                    "(default 1)")
    ex.add_argument("--date", default=None, metavar="YYYY-MM-DD[THH:MM]",
                    help="the trading day (its 09:00 pre-open), or the IST time to start at")
    ex.add_argument("--seed", default="7", help="seed of the market's price paths, "
                    "0..4294967295 (default 7)")
    ex.add_argument("--instruments", default=None, metavar="FILE",
                    help="a Kite instruments CSV (default: the bundled sample)")
    ex.add_argument("--rate-clock", choices=("wall", "exchange"), default="wall",
                    help="whose seconds Kite's rate windows count: real ones (wall, the "
                    "default, as Kite's servers) or the exchange's (a day at --speed N sees "
                    "the request rates of the day itself; the crash test)")
    ex.add_argument("--info", default=None, metavar="FILE", help="also write the JSON line here")
    ex.add_argument("--faults", default=None, metavar="JSON",
                    help='faults to switch at start, e.g. \'{"server_errors": {"n": 2}}\'')
    ex.add_argument("--allowed-ips", default=None, metavar="IP,IP",
                    help="the static IPs order calls must come from (default: any)")
    ex.add_argument("--personal-plan", action="store_true",
                    help="no market data (quotes, historical, ticker), as Kite's free plan")
    ex.add_argument("--realism-off", default=None, metavar="RULE,RULE",
                    help=f"realism rules to switch off ({', '.join(RULES)})")
