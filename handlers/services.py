"""The data shapes of the command layer and the services it is given.

``Caller`` is who sent something, ``Response`` what goes back (HTML text, optional
confirmation buttons, optional reply keyboard, optional photos), ``ButtonOutcome`` what a
button press does. ``Services`` bundles what the commands need; the composition root builds it.
Frozen values, any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.clock import Clock
from agent.events import Command
from agent.instruments import InstrumentIndex
from agent.margins import Funds
from agent.models import Instrument
from agent.session import LoginState
from agent.settings import Settings
from handlers.readiness import Readiness

if TYPE_CHECKING:
    from storage.journal import JournalReader


@dataclass(frozen=True, slots=True)
class Caller:
    """Where a command came from: the chat to answer and the user who sent it."""

    chat_id: int
    user_id: int | None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str  # opaque to the transport; handed back to CommandCenter.handle_button


@dataclass(frozen=True, slots=True)
class Photo:
    """A PNG sent after a reply's text; ``caption`` is HTML (never a server path)."""

    caption: str
    png: bytes


@dataclass(frozen=True, slots=True)
class Response:
    """One reply. ``text`` is Telegram HTML (escaped); transports split it when long."""

    text: str
    buttons: tuple[Button, ...] = ()
    keyboard: bool = False  # attach the reply keyboard (``telegram.keyboard``)
    photos: tuple[Photo, ...] = ()  # sent after the text, in order


@dataclass(frozen=True, slots=True)
class ButtonOutcome:
    """``answer``: a short toast for the press; ``text``: replaces the prompt's text
    when not None, with ``buttons`` under it (a follow-up prompt's; none: the buttons go; a
    Refresh keeps its own)."""

    answer: str
    text: str | None = None
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What ``feed_status()`` reports for /status: connected or not, and the lag between
    the exchange time of the last tick and its arrival."""

    connected: bool
    lag_seconds: float | None = None
    detail: str = ""


class LoginService(Protocol):
    """The daily Kite login (agent/session.py implements it). Called off the loop thread
    (``asyncio.to_thread``): it may do HTTP."""

    def login_url(self) -> str:
        """The Kite login link to open in a browser."""
        ...

    def complete(self, text: str) -> str:
        """Finish the login from the pasted redirect URL or request_token; store the
        session; return the Kite user id. Raises ValueError with a clear message."""
        ...


class CandleReader(Protocol):
    """The day's completed candles as stored (``storage.candles.CandleLog``). Called in a
    worker thread (``asyncio.to_thread``): it reads files."""

    def read(self, day: date, token: int, interval: int) -> Any:
        """A ``storage.candles.CandleFileRead`` (``agent.reports.usable_candles`` takes it)."""
        ...


class CommandSubmitter(Protocol):
    """What the command layer needs of ``agent.runner.EngineRunner``."""

    def submit(self, command: Command) -> Future[Any]: ...


@dataclass(frozen=True)
class Services:
    """Everything the command layer talks to. Only ``runner``, ``settings`` and ``clock``
    are required; a missing optional service makes its command say it is unavailable."""

    runner: CommandSubmitter
    settings: Settings
    clock: Clock  # the agent's (trading) time, shown in replies
    human_clock: Clock | None = None  # people's time for waits and expiries (None: clock)
    login: LoginService | None = None
    feed_status: Callable[[], FeedInfo] | None = None
    login_state: Callable[[], LoginState] | None = None  # /status: the Kite login (no HTTP)
    instruments: InstrumentIndex | None = None  # resolves /add SYMBOL
    log_file: Path | None = None  # /logs reads its tail
    on_added: Callable[[Instrument], None] | None = None  # e.g. subscribe the feed
    on_removed: Callable[[Instrument], None] | None = None  # e.g. unsubscribe the feed
    candles: CandleReader | None = None  # /report and /chart read the day's candles
    # /funds live: a fresh read of Kite's money (the broker's reader pool; never blocks)
    funds: Callable[[], Future[Funds]] | None = None
    # /pnl live (issue 15): price the day's orders by Kite's contract note; it waits, so it
    # is called in a worker thread (``asyncio.to_thread``); a line saying what happened
    charges: Callable[[], str] | None = None
    readiness: Callable[[], Readiness] | None = None  # None: logged in, nothing pending
    journal: JournalReader | None = None  # /profit, /daily, ...: the trade journal (files)
