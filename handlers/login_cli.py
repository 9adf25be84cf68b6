"""``python bot.py login``: the daily Kite login in a terminal (Telegram has /login).

With ``clock: exchange`` the login is stamped with the simulated exchange's time (read from
``GET {kite.root}/sim/clock``), as the agent that follows it will judge the token by that
time. Main thread only.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from agent.adapters.kite_client import kite_client
from agent.clock import Clock, ExchangeClockError, LiveClock, exchange_clock
from agent.config import settings_or_report
from agent.session import KiteSession, login_text
from agent.settings import ClockKind
from storage.session_file import SessionFile


def login_command(config: Path, schedules: Path) -> int:
    """``python bot.py login``: print the link, read the redirect URL or token, store it."""
    settings = settings_or_report(config, schedules)
    if settings is None:
        return 1
    if settings.feed.value == "sim":
        print("feed: sim needs no Kite login (the simulated exchange logs in by itself)")
        return 0
    api_key = settings.secrets.kite_api_key or settings.kite.api_key
    if not api_key:
        print("KITE_API_KEY is not set (environment, .env or kite.api_key)", file=sys.stderr)
        return 1
    clock: Clock = LiveClock()
    if settings.clock is ClockKind.EXCHANGE:
        try:
            clock = exchange_clock(settings.kite.root)
        except ExchangeClockError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    session = KiteSession(api_key, settings.secrets.kite_api_secret,
                          SessionFile.in_dir(settings.data_dir), root=settings.kite.root,
                          login_base=settings.kite.login_url, clock=clock,
                          kite_factory=partial(kite_client, proxy=settings.kite_proxy))
    print("Open this link, log in to Kite, then paste the address you land on")
    print("(or just its request_token):\n")
    print(f"  {session.login_url()}\n")
    try:
        text = input("redirect URL or request_token: ")
    except EOFError:
        print("no input: nothing done", file=sys.stderr)
        return 1
    try:
        user = session.complete(text)
    except ValueError as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return 1
    print(f"{login_text(user, session.valid_until())} IST. The token is stored in "
          f"{SessionFile.in_dir(settings.data_dir).path}.")
    return 0
