"""Builders the composition root calls: ``build_telegram`` and ``build_console``.

Both build the same command layer (``CommandCenter``) and alert pipeline
(``AlertDispatcher`` with the persisted alert modes); only the transport differs. Call
them on the main thread before the loop runs or on the loop itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from agent.clock import Clock
from agent.instruments import InstrumentIndex
from agent.logsetup import log_path
from agent.margins import Funds
from agent.models import Instrument
from agent.session import LoginState
from agent.settings import Settings
from handlers.alerts import AlertDispatcher, AlertPrefs
from handlers.auth import Authorizer
from handlers.commands import CommandCenter
from handlers.console import CONSOLE_CHAT_ID, ConsoleChat
from handlers.inbox import AlertInbox
from handlers.readiness import Readiness
from handlers.services import CandleReader, CommandSubmitter, FeedInfo, LoginService, Services
from handlers.telegram_bot import TelegramBot
from storage.candles import CandleLog
from storage.hookup import CANDLES_DIR
from storage.journal import JOURNAL_DIR, Journal, JournalReader
from storage.prefs import Prefs


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """Tuning; the defaults suit the real Telegram (tests shorten them)."""

    engine_timeout: float = 5.0  # seconds a command waits for the engine
    confirm_ttl: timedelta = timedelta(seconds=60)  # confirmation buttons expire
    login_ttl: timedelta = timedelta(minutes=10)  # /login waits this long for the paste
    stop_bucket: timedelta = timedelta(minutes=1)  # STOP_MOVED: one message per bucket
    pace: float = 1.0  # seconds between two messages to one chat
    backoff: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)  # network error retries
    poll_timeout: float = 10.0  # long polling
    inbox_size: int = 1000  # notifications waiting for the loop
    refusal_interval: timedelta = timedelta(minutes=1)  # one refusal per stranger (user)
    # People's time (button lifetimes, the /login wait, refusal pacing): wall time even when
    # the agent's clock runs scaled (the demo, ``clock: exchange``). None: the agent's clock.
    human_clock: Clock | None = None


@dataclass(frozen=True)
class ChatServices:
    """The optional services of the chat (see ``handlers.services.Services``)."""

    login: LoginService | None = None
    feed_status: Callable[[], FeedInfo] | None = None
    login_state: Callable[[], LoginState] | None = None
    instruments: InstrumentIndex | None = None
    on_added: Callable[[Instrument], None] | None = None
    on_removed: Callable[[Instrument], None] | None = None
    prefs: Prefs | None = None  # default: prefs.json in settings.data_dir
    log_file: Path | None = None  # default: the data dir's log file
    candles: CandleReader | None = None  # default: the data dir's candle files
    funds: Callable[[], Future[Funds]] | None = None  # live /funds: Kite's margins now
    charges: Callable[[], str] | None = None  # live /pnl: Kite's contract note (it waits)
    readiness: Callable[[], Readiness] | None = None  # login state and pending symbols
    journal: JournalReader | None = None  # default: the data dir's journal, read only


def _center(settings: Settings, runner: CommandSubmitter, clock: Clock, extra: ChatServices,
            options: ChatOptions, auth: Authorizer) -> tuple[CommandCenter, AlertDispatcher]:
    services = Services(runner=runner, settings=settings, clock=clock,
                        human_clock=options.human_clock or clock, login=extra.login,
                        feed_status=extra.feed_status, login_state=extra.login_state,
                        instruments=extra.instruments,
                        log_file=extra.log_file or log_path(settings.data_dir),
                        on_added=extra.on_added, on_removed=extra.on_removed,
                        candles=extra.candles or CandleLog(settings.data_dir / CANDLES_DIR),
                        funds=extra.funds, readiness=extra.readiness, charges=extra.charges,
                        journal=extra.journal or Journal(settings.data_dir / JOURNAL_DIR))
    prefs = AlertPrefs(extra.prefs or Prefs.in_dir(settings.data_dir))
    center = CommandCenter(services, auth, prefs, confirm_ttl=options.confirm_ttl,
                           login_ttl=options.login_ttl, engine_timeout=options.engine_timeout)
    return center, AlertDispatcher(prefs, stop_bucket=options.stop_bucket)


def build_telegram(settings: Settings, runner: CommandSubmitter, *, clock: Clock,
                   services: ChatServices | None = None, options: ChatOptions | None = None,
                   on_conflict: Callable[[], None] | None = None) -> TelegramBot:
    """The Telegram bot for ``settings.secrets.telegram_bot_token`` at
    ``settings.telegram.base_url``; raises ValueError without a token."""
    token = settings.secrets.telegram_bot_token
    if not token:
        raise ValueError("no TELEGRAM_BOT_TOKEN: use the console chat (build_console)")
    options = options or ChatOptions()
    tg = settings.telegram
    auth = Authorizer(tg.allowed_chat_ids, tg.allowed_user_ids, options.human_clock or clock,
                      refusal_interval=options.refusal_interval)
    center, dispatcher = _center(settings, runner, clock, services or ChatServices(), options,
                                 auth)
    return TelegramBot(center, dispatcher, token=token, base_url=tg.base_url,
                       alert_chat_ids=tg.allowed_chat_ids, pace=options.pace,
                       backoff=options.backoff, poll_timeout=options.poll_timeout,
                       inbox=AlertInbox(options.inbox_size), on_conflict=on_conflict)


def build_console(settings: Settings, runner: CommandSubmitter, *, clock: Clock,
                  services: ChatServices | None = None, options: ChatOptions | None = None,
                  stdin: TextIO | None = None, stdout: TextIO | None = None) -> ConsoleChat:
    """The console chat on stdin/stdout (or the given streams)."""
    options = options or ChatOptions()
    auth = Authorizer((CONSOLE_CHAT_ID,), (), options.human_clock or clock)
    center, dispatcher = _center(settings, runner, clock, services or ChatServices(), options,
                                 auth)
    return ConsoleChat(center, dispatcher, stdin=stdin or sys.stdin,
                       stdout=stdout or sys.stdout, inbox=AlertInbox(options.inbox_size))
