"""The live agent's morning: a start without a valid Kite token, a login, the 08:45 refresh.

- At start without a valid token (Kite, not the simulator) on a trading day before its
  session ends, the engine hears ``LoginNeeded`` at once (its alert carries the /login
  hint and names the symbols that wait for the login); the chat runs as ever.
- After a login (``logged_in``, on the thread that completed it: /login's worker thread),
  the day's instrument list is downloaded unless today's is loaded already, the pending
  symbols are resolved and traded (``AddInstrument(configured=True)``) and subscribed, the
  feed reconnects (or starts, in the session, if it is not running), and one LOGIN alert
  says who is logged in until when and what the list resolved or still cannot.
- The 08:45 job (``refresh``, a scheduler thread) downloads the list when a token is held,
  resolves what it can, and names by ERROR alert what today's list still lacks.

Threads as said per method; nothing here runs on the loop or the engine thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
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
    """The composition root's side: ``call`` a command on the engine and wait for its
    reply; ``put`` an event on its inbox; ``notify`` an alert; ``added`` a newly traded
    instrument (broker lookup, feed subscription); ``feed_up`` reconnect the feed, or start
    it when the session is on and it is not running."""

    call: Callable[[Command], Any]
    put: Callable[[object], None]
    notify: Callable[[Notification], None]
    added: Callable[[Instrument], None]
    feed_up: Callable[[], None]


class Morning:
    def __init__(self, instruments: DayInstruments, session: KiteSession, *, clock: Clock,
                 calendar: TradingCalendar, needs_login: bool, hooks: MorningHooks) -> None:
        """``needs_login``: the agent talks to Kite (False with the in-process simulator,
        which logs itself in)."""
        self.instruments, self.session, self.clock = instruments, session, clock
        self.calendar, self.needs_login, self.hooks = calendar, needs_login, hooks

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
        added, waiting = self._trade_resolved()
        try:
            self.hooks.feed_up()
        except Exception:
            log.exception("after the login: the feed could not be reconnected")
        lines = [login_text(self.session.user_id, self.session.valid_until())]
        if loaded:
            lines.append(f"instruments: {self.instruments.origin()}")
        if added:
            lines.append(f"now trading {', '.join(added)}")
        lines += [f"not traded: {symbol}: {why}" for symbol, why in waiting]
        self.hooks.notify(Notification(AlertKind.LOGIN, "\n".join(lines), self.clock.now()))

    def refresh(self) -> None:
        """The 08:45 job (a scheduler thread): the day's list when a token is held."""
        if not self.instruments.download():
            log.info("instruments_refresh: %s; the list in use stays %s", "no login yet, "
                     "the day's list loads at /login" if self.session.access_token() is None
                     else "the download failed", self.instruments.origin())
            return
        added, waiting = self._trade_resolved()
        if added:
            log.info("instruments_refresh: now trading %s", ", ".join(added))
        if waiting:
            self.hooks.notify(Notification(AlertKind.ERROR, "\n".join(
                f"not traded: {symbol}: {why}" for symbol, why in waiting), self.clock.now()))

    def _trade_resolved(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Resolve the pending symbols; trade and stream each the engine takes."""
        resolved, waiting = self.instruments.resolve_pending()
        added: list[str] = []
        for ins in resolved:
            try:
                reply = self.hooks.call(AddInstrument(ins, configured=True))
            except Exception as exc:  # the engine did not answer: say so, try no further
                log.error("%s could not be added: %s", ins.symbol, exc)
                waiting.append((ins.symbol, f"not added ({type(exc).__name__})"))
                continue
            if reply.ok:
                self.hooks.added(ins)
                added.append(ins.symbol)
            else:
                log.info("%s: %s", ins.symbol, reply.text)
        return added, waiting
