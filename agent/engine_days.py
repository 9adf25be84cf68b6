"""The engine's day cycle, limits and status events: a part of ``Engine`` kept apart to
keep each file readable. Engine thread only (like everything the engine does).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from agent.events import AlertKind, FeedStatus, Job, LoggedIn, LoginNeeded, Notification
from agent.models import ExitReason
from agent.money import money
from agent.risk import most_specific
from agent.runtime_state import InstrumentRuntime
from agent.strategy.base import Session
from agent.timeutil import IST

log = logging.getLogger("agent.engine")


class EngineDays:
    """Mixed into ``Engine``: limits (docs/strategy.md 5.1), square-off (5.5), days (8)."""

    def _check_limits(self, now: datetime) -> None:
        trips = self.risk.check(self.runtimes)
        if not trips:
            return
        for trip in trips:
            log.warning("%s %s %s reached: P&L %s vs %s; closing and halting %d instrument(s)",
                        trip.scope, trip.name, trip.which, trip.pnl, trip.limit,
                        len(trip.tokens))
            self._notify(Notification(
                AlertKind.LIMIT_HIT, f"{trip.scope} {trip.name}: {trip.which} reached "
                f"(P&L {money(trip.pnl)}, limit {money(trip.limit, sign=False)}); halted for "
                "the day", now,
                trip.name if trip.scope.value == "instrument" else "",
                data={"scope": trip.scope.value, "which": trip.which, "pnl": str(trip.pnl),
                      "limit": str(trip.limit), "name": trip.name,
                      "positions": sum(1 for t in trip.tokens if t in self.runtimes
                                       and self._has_position(self.runtimes[t]))}))
            for token in trip.tokens:
                rt = self.runtimes.get(token)
                if rt is not None and not rt.halted:
                    rt.halted = f"{trip.scope} {trip.name} {trip.which}"
        for token, trip in most_specific(trips).items():
            rt = self.runtimes.get(token)
            if rt is not None and self._has_position(rt):
                self.exec.close(rt, trip.reason, now)
        self.dirty = True

    def _has_position(self, rt: InstrumentRuntime) -> bool:
        return self.exec.has_position(rt)

    def _square_off(self, rt: InstrumentRuntime, now: datetime) -> None:
        rt.squared_off = True
        if self._has_position(rt):
            self.exec.close(rt, ExitReason.SQUARE_OFF, now)
            self.dirty = True

    def square_off_all(self, reason: ExitReason, now: datetime) -> int:
        """Close every open position (the 15:15 job, /squareoff all, stop and square off)."""
        count = 0
        for rt in list(self.runtimes.values()):
            if reason is ExitReason.SQUARE_OFF:
                rt.squared_off = True
            if self._has_position(rt):
                if reason is ExitReason.MANUAL:
                    rt.orders.hold = "closed by /squareoff"
                self.exec.close(rt, reason, now)
                count += 1
        self.dirty = True
        return count

    # ------------------------------------------------------------ days

    def session_hours(self, day: date, exchange: str) -> tuple[datetime, datetime]:
        """The exchange's session on ``day``: a confirmed special session's hours, else the
        regular ones (also on days the calendar calls closed: a backtest's data says the
        market was open)."""
        hours = self.calendar.session(day, exchange)
        if hours is not None:
            return hours
        regular = self.settings.schedule.session_for(exchange)
        return (datetime.combine(day, regular.open, tzinfo=IST),
                datetime.combine(day, regular.close, tzinfo=IST))

    def start_day(self, day: date) -> None:
        """Begin a trading day; a backtest first ends the previous one as at end of data."""
        if self.day is not None and day <= self.day:
            return
        if self.day is not None:
            self._end_day()
        self.day = day
        self._day_start = datetime.combine(day, datetime.min.time(), tzinfo=IST)
        self._day_end = self._day_start + timedelta(days=1)
        sched = self.settings.schedule
        jobs = dict(self.calendar.timetable(day))  # a special session's shifted times
        self._cutoff_at = jobs.get(Job.ENTRY_CUTOFF.value) or datetime.combine(
            day, sched.entry_cutoff, tzinfo=IST)
        self._square_off_at = jobs.get(Job.SQUARE_OFF.value) or datetime.combine(
            day, sched.square_off, tzinfo=IST)
        for rt in self.runtimes.values():
            carried = self.pnl.books[rt.token].quantity
            rt.params = self.params_for(rt.symbol)
            rt.strategy.set_params(rt.state, rt.params)
            rt.series.start_day(day, rt.params.interval,
                                *self.session_hours(day, rt.instrument.exchange))
            rt.start_day()
            rt.strategy.reset_day(rt.state)
            self.tell_session(rt)
            if carried:
                log.warning("%s position %d carried into %s is not managed by the strategy; "
                            "use /squareoff", rt.symbol, carried, day)
        self.load_limits()
        self.pnl.reset_day()
        self.risk.reset_day()
        self.book.start_day(day)
        self.charge_book.start_day()
        self.trades = []
        self.dirty = True
        log.info("trading day %s: %d instruments, entry cutoff %s, square-off %s", day,
                 len(self.runtimes), self._cutoff_at.time(), self._square_off_at.time())

    def tell_session(self, rt: InstrumentRuntime) -> None:
        """The day's hours to a strategy that asks for them (``start_session``)."""
        start = getattr(rt.strategy, "start_session", None)
        if start is None or self.day is None:
            return
        opens, closes = self.session_hours(self.day, rt.instrument.exchange)
        start(rt.state, Session(self.day, opens, closes, self._cutoff_at, self._square_off_at))

    def _end_day(self) -> None:
        if not self.carry_positions:
            self.end_of_data()
        realized = sum((b.realized for b in self.pnl.books.values()), Decimal(0))
        log.info("day %s closed: %d trades, realized P&L %s", self.day, len(self.trades),
                 realized)

    def end_of_data(self) -> None:
        """Complete open candles and close what is open at the last prices (backtest)."""
        stamp = self.last_accepted or self.clock.now()
        for rt in list(self.runtimes.values()):
            done = rt.series.flush()
            if done is not None:
                self._candle_done(rt, done, stamp)
        for rt in list(self.runtimes.values()):
            if self._has_position(rt):
                self.exec.close(rt, ExitReason.END_OF_DATA, stamp)

    # ------------------------------------------------------------ output

    def _login_state(self, event: LoginNeeded | LoggedIn) -> None:
        now = self.clock.now()
        if isinstance(event, LoginNeeded):
            if not self.login_needed:
                self.login_needed = True
                log.error("login needed (%s): no new entries; open positions still managed",
                          event.detail or "the access token was refused")
                why = f" ({event.detail})" if event.detail else ""
                self._notify(Notification(AlertKind.LOGIN_NEEDED, f"Kite login needed{why}: "
                                          "no new entries until /login; open positions are "
                                          "still managed", now, data={"detail": event.detail}))
        elif self.login_needed:
            self.login_needed = False
            log.info("logged in again (%s): entries allowed", event.user_id or "user")
            if event.until is None:  # a fresh login is announced by whoever ran it
                self._notify(Notification(AlertKind.LOGIN,
                                          f"Kite login as {event.user_id}: valid again, "
                                          "entries allowed", now))
        self.dirty = True

    def _feed_status(self, event: FeedStatus) -> None:
        kind = AlertKind.FEED_UP if event.up else AlertKind.FEED_DOWN
        log.warning("feed %s: %s", "up" if event.up else "down", event.detail)
        self._notify(Notification(kind, f"feed {'up' if event.up else 'down'}: {event.detail}",
                                  self.clock.now()))
