"""The live agent's morning: a start without a valid Kite token, a login, the 08:45 refresh.

- At start without a valid token (Kite, not the simulator) on a trading day before its
  session ends, the engine hears ``LoginNeeded`` at once (its alert carries the /login
  hint and names the symbols that wait for the login); the chat runs as ever.
- After a login (``logged_in``, on the thread that completed it: /login's worker thread,
  or the session watch's for a ``bot.py login`` made elsewhere), the day's instrument list
  is downloaded unless today's is loaded already, the pending symbols are resolved and
  traded (``AddInstrument(configured=True)``), the candles missed since the open are
  queued for rebuilding (``recover``), then the new symbols are subscribed and the feed
  reconnects (or starts, in the session, if it is not running), and one LOGIN alert says
  who is logged in until when and what the list resolved or still cannot. An add the
  engine has not answered within ``add_timeout`` stays queued: the symbol is subscribed
  when the engine confirms it.
- The 08:45 job (``refresh``, a scheduler thread) downloads the list when a token is held,
  resolves what it can, and names by ERROR alert what today's list still lacks.

Threads as said per method; nothing here runs on the loop or the engine thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Any

from agent.calendar import TradingCalendar
from agent.clock import Clock
from agent.events import AddInstrument, AlertKind, Command, Job, LoginNeeded, Notification
from agent.models import Instrument
from agent.session import KiteSession, login_text
from handlers.instruments import DayInstruments
from handlers.readiness import Readiness

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MorningHooks:
    """The composition root's side: ``submit`` a command to the engine (a future of its
    reply); ``put`` an event on its inbox; ``notify`` an alert; ``added`` a newly traded
    instrument (broker lookup, feed subscription); ``feed_up`` reconnect the feed, or start
    it when the session is on and it is not running; ``recover`` rebuild today's missed
    candles (queued on the engine before the feed's next tick)."""

    submit: Callable[[Command], Future[Any]]
    put: Callable[[object], None]
    notify: Callable[[Notification], None]
    added: Callable[[Instrument], None]
    feed_up: Callable[[], None]
    recover: Callable[[], None] = lambda: None


class Morning:
    def __init__(self, instruments: DayInstruments, session: KiteSession, *, clock: Clock,
                 calendar: TradingCalendar, needs_login: bool, hooks: MorningHooks,
                 add_timeout: float = 10.0) -> None:
        """``needs_login``: the agent talks to Kite (False with the in-process simulator,
        which logs itself in). ``add_timeout``: how long (wall seconds) a login waits for
        the engine to take a symbol before it goes on (the symbol is streamed whenever
        the engine confirms it)."""
        self.instruments, self.session, self.clock = instruments, session, clock
        self.calendar, self.needs_login, self.hooks = calendar, needs_login, hooks
        self.add_timeout = add_timeout

    def logged_in_now(self) -> bool:
        return not self.needs_login or self.session.access_token() is not None

    def readiness(self) -> Readiness:
        """For the chat (the loop thread): login state, pending symbols, the list in use."""
        now = self.clock.now()
        return Readiness(logged_in=self.logged_in_now(),
                         pending=tuple(self.instruments.pending()),
                         instrument_list=self.instruments.origin(now),
                         reload_hint=self.instruments.reload_hint(now))

    def at_start(self) -> None:
        """Main thread, before the runner starts: without a token on a trading day that is
        not over, the login is asked for at once (not only at the 08:30 check)."""
        if self.logged_in_now():
            return
        now = self.clock.now()
        times = dict(self.calendar.timetable(now.date()))
        end = times.get(Job.SESSION_END.value)
        waiting = [symbol for symbol, _ in self.instruments.pending()]
        if end is None or now >= end:
            log.warning("no valid Kite access token; not a trading day or the session is "
                        "over: the login can wait (%s wait for it)", ", ".join(waiting) or
                        "no instrument")
            return
        detail = "no valid access token"
        if waiting:
            detail += f"; {', '.join(waiting)} wait{'s' if len(waiting) == 1 else ''} for it"
        self.hooks.put(LoginNeeded(detail))

    def logged_in(self) -> None:
        """A login completed (its thread: /login's worker, never the loop): today's list,
        the pending symbols, the feed, and one LOGIN alert."""
        loaded = not self.instruments.current() and self.instruments.download()
        added, late, waiting = self._trade_resolved()
        try:
            self.hooks.feed_up()
        except Exception:
            log.exception("after the login: the feed could not be reconnected")
        lines = [login_text(self.session.user_id, self.session.valid_until())]
        if loaded:
            lines.append(f"instruments: {self.instruments.origin()}")
        if added:
            lines.append(f"now trading {', '.join(added)}")
        if late:
            lines.append(f"adding {', '.join(late)}: the engine is busy, it trades once "
                         "the engine takes it")
        lines += [f"not traded: {symbol}: {why}" for symbol, why in waiting]
        self.hooks.notify(Notification(AlertKind.LOGIN, "\n".join(lines), self.clock.now()))

    def refresh(self) -> None:
        """The 08:45 job (a scheduler thread): the day's list when a token is held."""
        if not self.instruments.download():
            log.info("instruments_refresh: %s; the list in use stays %s", "no login yet, "
                     "the day's list loads at /login" if self.session.access_token() is None
                     else "the download failed", self.instruments.origin())
            return
        added, late, waiting = self._trade_resolved()
        if added or late:
            log.info("instruments_refresh: now trading %s", ", ".join(added + late))
        if waiting:
            self.hooks.notify(Notification(AlertKind.ERROR, "\n".join(
                f"not traded: {symbol}: {why}" for symbol, why in waiting), self.clock.now()))

    def _trade_resolved(self) -> tuple[list[str], list[str], list[tuple[str, str]]]:
        """Resolve the pending symbols and trade each the engine takes; then today's missed
        candles are queued for rebuilding, and only then are the new symbols streamed.
        Returns the symbols traded, those the engine has not confirmed in time (each is
        streamed on the engine's own confirmation), and those still pending with why."""
        resolved, waiting = self.instruments.resolve_pending()
        taken: list[Instrument] = []
        late: list[str] = []
        for ins in resolved:
            future = self.hooks.submit(AddInstrument(ins, configured=True))
            try:
                reply = future.result(self.add_timeout)
            except TimeoutError:  # queued: the engine takes it when it gets to it
                log.warning("%s: the engine is busy; streamed once it takes it", ins.symbol)
                late.append(ins.symbol)
                future.add_done_callback(partial(self._added_late, ins))
                continue
            except Exception as exc:  # the engine failed on it
                log.error("%s could not be added: %s", ins.symbol, exc)
                waiting.append((ins.symbol, f"not added ({type(exc).__name__})"))
                continue
            if reply.ok:
                taken.append(ins)
            else:
                log.info("%s: %s", ins.symbol, reply.text)
        try:
            self.hooks.recover()
        except Exception:
            log.exception("today's missed candles could not be rebuilt")
        for ins in taken:
            self.hooks.added(ins)
        return [ins.symbol for ins in taken], late, waiting

    def _added_late(self, ins: Instrument, future: Future[Any]) -> None:
        """The engine answered an add the login stopped waiting for (the engine thread, or
        the login's if it answered meanwhile): stream it if it was taken."""
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or exc is not None:
            log.error("%s could not be added: %s", ins.symbol, exc or "cancelled")
            self.hooks.notify(Notification(AlertKind.ERROR, f"not traded: {ins.symbol}: not "
                                           f"added ({type(exc).__name__ if exc else 'cancelled'})",
                                           self.clock.now(), ins.symbol))
            return
        reply = future.result()
        if reply.ok:
            log.info("%s: taken by the engine after the login's wait: streamed now",
                     ins.symbol)
            self.hooks.added(ins)
        else:
            log.info("%s: %s", ins.symbol, reply.text)
