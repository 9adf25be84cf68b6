"""``python bot.py check-config [--offline]``: the configuration, then Kite access.

After the offline checks (every config and schedule problem by key path), the command asks
Kite, when there is a token for today (``python bot.py login`` or KITE_ACCESS_TOKEN), the
three questions whose answers look alike at the wire (``agent.adapters.kite_access``):
is the login valid, does the API key get market data (the paid Connect plan), and (live
mode) does Kite take order calls from this machine's IP (the static IP rule). It exits 1
when Kite refuses any of them. Nothing is written: a refused token is reported, not
dropped. Main thread only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.adapters.kite_access import AccessReport, probe_access
from agent.adapters.kite_client import kite_client
from agent.clock import Clock, ExchangeClockError, LiveClock, exchange_clock
from agent.config import config_summary, settings_or_report
from agent.session import KiteSession
from agent.settings import ClockKind, FeedKind, Mode, Settings
from storage.session_file import SessionFile

PROBE_TIMEOUT = 10.0  # seconds per REST call


def check_command(config: Path, schedules: Path, *, offline: bool = False) -> int:
    settings = settings_or_report(config, schedules)
    if settings is None:
        return 1
    print(config_summary(settings))
    if offline:
        return 0
    report = kite_access(settings)
    if report is None:
        return 0
    for check in report.checks:
        print(f"Kite {check.line()}", file=sys.stderr if check.refusal else sys.stdout)
    return 1 if report.refusals else 0


def kite_access(settings: Settings) -> AccessReport | None:
    """Ask Kite, or print why not and return None."""
    if settings.feed is FeedKind.SIM:
        print("Kite access: not checked (feed: sim trades on the simulated exchange)")
        return None
    api_key = settings.secrets.kite_api_key or settings.kite.api_key
    if not api_key:
        print("Kite access: not checked (no API key: set KITE_API_KEY)")
        return None
    clock: Clock = LiveClock()
    if settings.clock is ClockKind.EXCHANGE:  # "today" is the exchange's day
        try:
            clock = exchange_clock(settings.kite.root)
        except ExchangeClockError as exc:
            print(f"Kite access: not checked ({exc})")
            return None
    session = KiteSession(api_key, settings.secrets.kite_api_secret,
                          SessionFile.in_dir(settings.data_dir), root=settings.kite.root,
                          login_base=settings.kite.login_url, clock=clock,
                          env_token=settings.secrets.kite_access_token)
    token = session.access_token()
    if token is None:
        print("Kite access: not checked (no access token for today: run "
              "`python bot.py login` or send /login, then check again)")
        return None
    kite = kite_client(api_key, settings.kite.root, proxy=settings.kite_proxy,
                       access_token=token, timeout=PROBE_TIMEOUT)
    quote_key = settings.instruments[0].symbol if settings.instruments else "NSE:NIFTY 50"
    via = " through kite.proxy" if settings.kite_proxy else ""
    print(f"Kite access: asking {settings.kite.root}{via}")
    return probe_access(kite, quote_key, orders=settings.mode is Mode.LIVE)
