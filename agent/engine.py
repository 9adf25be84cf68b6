"""The engine: the single owner of trading state, driven by ``handle(event)``.

Synchronous and thread-free: the backtest calls ``handle`` directly; live, the
``EngineRunner`` thread (agent/runner.py) calls it from its inbox. Every method here runs
on whichever single thread drives the engine. The order of work on a tick is
docs/strategy.md section 5: candles (3, and 4 when one completes), then 1 limits, 2-4 the
strategy, 5 square-off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from agent.adapters.broker import Broker
from agent.calendar import TradingCalendar
from agent.candles import CandleSeries, TickVerdict
from agent.charge_book import ChargeBook
from agent.clock import Clock
from agent.contract_note import NoteTotal
from agent.engine_days import EngineDays
from agent.events import (
    AlertKind,
    BrokerSnapshot,
    ClockTick,
    Command,
    EndOfData,
    FeedStatus,
    LoggedIn,
    LoginNeeded,
    Notification,
    OrderUpdate,
    TickBatch,
)
from agent.lifecycle.book import OrderBook
from agent.lifecycle.executor import Executor
from agent.lifecycle.reconciler import Reconciler
from agent.lifecycle.tags import TagMint
from agent.margins import Funds
from agent.marks import Mark
from agent.models import Candle, Instrument, Side, StopMode, Tick, Trade
from agent.pnl import PnlBook
from agent.risk import NO_LIMITS, Limits, RiskBook
from agent.runtime_state import InstrumentRuntime
from agent.settings import LimitsOn, Settings, StrategyParams
from agent.strategy import registry
from agent.strategy.base import Strategy
from agent.strategy.params import declared
from agent.timeutil import IST

log = logging.getLogger(__name__)
candle_log = logging.getLogger("agent.candles")

TIMER_GRACE = timedelta(seconds=2)  # live: complete a candle this long after its end


def _ignore(*_: Any) -> None:
    return None


class Engine(EngineDays):
    def __init__(self, settings: Settings, instruments: Iterable[Instrument], *, clock: Clock,
                 strategy: Strategy | None = None,
                 notify: Callable[[Notification], None] = _ignore,
                 on_candle: Callable[[Instrument, Candle], None] = _ignore,
                 on_mark: Callable[[Instrument, Mark], None] = _ignore,
                 carry_positions: bool = False, stop_mode: StopMode | None = None,
                 tag_epoch: str = "") -> None:
        """``carry_positions``: live days keep open positions over a day roll; a backtest
        closes them as at the end of data. With a clock that can be advanced (SimClock),
        the engine's time follows the accepted ticks (the backtest). ``stop_mode``
        overrides the config's (a backtest uses synthetic stops: docs/strategy.md's rules).
        ``tag_epoch``: the live process's start (``lifecycle.tags.wall_epoch``), so no tag
        repeats after a restart; "" for a backtest. ``on_candle`` hears each completed
        candle, ``on_mark`` each of the strategy's marks for the charts (agent/marks.py);
        both only hand them on (engine thread)."""
        self.settings = settings
        self.calendar = TradingCalendar(settings.schedule)
        self.clock = clock
        self._advance = getattr(clock, "advance_to", None)
        self._watched: set[int] = set()  # the broker's tokens with resting orders
        # the one strategy of every instrument (tests); None: each instrument's configured
        # strategy (``params.strategy``), one instance per strategy class
        self.strategy: Strategy | None = strategy
        self._strategies: dict[str, Strategy] = {}
        self.notify = notify
        self.on_candle = on_candle
        self.on_mark = on_mark
        # every closed trade with its instrument, and again when the contract note revises
        # its charges (the journal: storage/hookup.py)
        self.on_trade_closed: Callable[[Trade, Instrument | None], None] = _ignore
        self.carry_positions = carry_positions
        self.runtimes: dict[int, InstrumentRuntime] = {}
        self.by_symbol: dict[str, InstrumentRuntime] = {}
        self.pnl = PnlBook(net=settings.risk.limits_on is LimitsOn.NET)
        self.charge_book = ChargeBook(settings.defaults.charges)
        self.pnl.charge = self.charge_book.trip_charges
        self.book = OrderBook(TagMint(tag_epoch))
        self.overrides: dict[str, Any] = {"defaults": {}, "instruments": {}, "groups": {},
                                          "daily": {}}
        self.risk = RiskBook(self.pnl)
        self._dirty_pnl = self.pnl.dirty  # the same set for ever (changed in place only)
        self.trades: list[Trade] = []  # today's closed trades
        self.all_trades: list[Trade] = []  # every trade since start (the backtest's list)
        mode = stop_mode or settings.defaults.stop_mode
        self.exec = Executor(self.book, self.pnl, self.runtimes,
                             settings.defaults.product, self._notify, self._on_trade,
                             stops_enabled=mode is StopMode.EXCHANGE,
                             buffer_ticks=settings.defaults.stop_limit_buffer_ticks)
        self.exec.on_stopped_out = self._stopped_out
        self.exec.on_mark = lambda rt, mark: self.on_mark(rt.instrument, mark)
        self.exec.check_limits = self._limits_now
        self.exec.wait_scale = float(getattr(clock, "speed", 1.0))
        self.running = True
        self.paused = False
        self.login_needed = False  # Kite refused the token: no entries until a login
        self.day: date | None = None
        self.session_day: date | None = None  # the day whose session_start job ran
        self.last_accepted: datetime | None = None
        self.unknown_ticks = 0
        self._dirty = False
        self.changes = 0  # times ``dirty`` was set: a cheap "has anything changed?"
        self.snapshot_cache: dict[int, Any] = {}  # agent/snapshot.py: per-instrument parts
        self.margins: Any = None  # agent.margin_watch.MarginWatch (attached live and paper)
        self.reconciler = Reconciler(self)
        # False until a live broker's books have been read once (a restart must not enter
        # again before it knows what the previous run did): set by the composition root
        self.broker_synced = True
        self._cutoff_at = self._square_off_at = datetime.max.replace(tzinfo=IST)
        self._day_start = self._day_end = datetime.min.replace(tzinfo=IST)
        self._configs = {c.symbol.upper(): c for c in settings.instruments}
        for ins in instruments:
            self.add_instrument(ins)
        self.load_limits()

    # ------------------------------------------------------------ set-up

    def attach_broker(self, broker: Broker) -> None:
        """The broker; a paper broker takes back the resting orders of a restored day."""
        self.exec.broker = broker
        self._watched = broker.watched
        adopt = getattr(broker, "adopt", None)
        if adopt is not None:
            for order in self.book.orders.values():
                if not order.status.is_terminal:
                    adopt(order)

    @property
    def broker(self) -> Broker:
        assert self.exec.broker is not None
        return self.exec.broker

    def params_for(self, symbol: str) -> StrategyParams:
        """Defaults, then the config entry's overrides, then the owner's runtime changes;
        the strategy's declared parameters not given take their defaults."""
        params = self.settings.defaults.params.with_overrides(self.overrides["defaults"])
        cfg = self._configs.get(symbol.upper())
        if cfg is not None:
            params = params.with_overrides(cfg.overrides)
        params = params.with_overrides(self.overrides["instruments"].get(symbol.upper(), {}))
        return params.with_defaults(declared(type(self.strategy_for(params))))

    def strategy_for(self, params: StrategyParams) -> Strategy:
        """The strategy instance for ``params.strategy`` (loaded by the config already, so
        this does not fail for a config that loaded)."""
        if self.strategy is not None:
            return self.strategy
        found = self._strategies.get(params.strategy)
        if found is None:
            found = self._strategies[params.strategy] = registry.load(params.strategy)()
        return found

    def add_instrument(self, ins: Instrument) -> InstrumentRuntime:
        params = self.params_for(ins.symbol)
        self.charge_book.register(ins)
        series = CandleSeries(ins.token, params.interval)
        slip = ins.tick_size * self.settings.defaults.slippage_ticks
        rt = InstrumentRuntime(ins, params, series, None, _ignore)
        rt.gate = self._gate_for(rt)
        rt.strategy = self.strategy_for(params)
        rt.state = rt.strategy.new_state(ins, params, slip, rt.gate)
        if self.day is not None:
            series.start_day(self.day, params.interval, *self.session_hours(self.day,
                                                                            ins.exchange))
            self.tell_session(rt)
        self.runtimes[ins.token] = rt
        self.by_symbol[ins.symbol.upper()] = rt
        groups = tuple(g.name for g in self.settings.groups
                       if ins.symbol.upper() in (s.upper() for s in g.instruments))
        rt.book = self.pnl.add(ins.token, ins.symbol, groups)
        return rt

    def remove_instrument(self, rt: InstrumentRuntime) -> None:
        del self.runtimes[rt.token]
        del self.by_symbol[rt.symbol.upper()]
        self.risk.instrument_limits.pop(rt.token, None)

    def load_limits(self) -> None:
        """(Re)read every limit: instruments' params, groups, daily, with the overrides."""
        risk = self.settings.risk
        daily = self.overrides["daily"]
        self.risk.daily = Limits(daily.get("profit_target", risk.daily_profit_target),
                                 daily.get("loss_limit", risk.daily_loss_limit))
        self.risk.groups = {}
        self.risk.group_limits = {}
        for g in self.settings.groups:
            over = self.overrides["groups"].get(g.name, {})
            self.risk.groups[g.name] = tuple(
                rt.token for s in g.instruments if (rt := self.by_symbol.get(s.upper())))
            self.risk.group_limits[g.name] = Limits(over.get("profit_target", g.profit_target),
                                                    over.get("loss_limit", g.loss_limit))
        self.risk.instrument_limits = {
            t: Limits(rt.params.profit_target, rt.params.loss_limit)
            for t, rt in self.runtimes.items()}
        self.risk.recheck_all()

    def instrument_limits(self, token: int) -> Limits:
        return self.risk.instrument_limits.get(token, NO_LIMITS)

    def _gate_for(self, rt: InstrumentRuntime) -> Callable[[Side, datetime], bool]:
        def gate(side: Side, t: datetime) -> bool:
            params = rt.params
            return (self.running and not self.paused and not self.login_needed
                    and self.broker_synced
                    and not rt.halted and not rt.error and not rt.orders.hold
                    and t < self._cutoff_at and t < self._square_off_at
                    and params.trade_side.allows(side)
                    and (not params.max_trades_per_day
                         or rt.trades_today < params.max_trades_per_day))
        return gate

    def now(self) -> datetime:
        """The engine's time. When the clock follows ticks (a SimClock: the backtest) it is
        the time of the tick being handled, or of the last accepted one (out-of-order ticks
        stamp what they cause with their own time); otherwise the clock's."""
        if self._advance is not None and self.last_accepted is not None:
            self._advance(self.last_accepted)
            return self.last_accepted
        return self.clock.now()

    @property
    def dirty(self) -> bool:
        """State changed since the last snapshot (the runner clears it)."""
        return self._dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        if value:
            self.changes += 1
        self._dirty = value

    def armed_tokens(self) -> frozenset[int]:
        """Instruments whose next tick may make an order: one in flight or a close to
        retry, or a trigger near the last price (``Strategy.armed``). Engine thread."""
        return frozenset(
            token for token, rt in self.runtimes.items()
            if rt.orders.busy or rt.strategy.armed(rt.state, rt.last_price))

    @property
    def ignored_ticks(self) -> int:
        """Ticks of known instruments ignored as stale or outside the session."""
        return sum(rt.stale + rt.outside for rt in self.runtimes.values())

    # ------------------------------------------------------------ events

    def handle(self, event: Any) -> Any:
        """Apply one event or command; commands return their reply."""
        kind = type(event)
        if kind is Tick:
            self.on_tick(event)
        elif kind is TickBatch:
            on_tick = self.on_tick
            for tick in event.ticks:
                on_tick(tick)
        elif kind is ClockTick:
            self.on_clock(event.now)
        elif kind is OrderUpdate:
            self.exec.on_update(event)
            self.dirty = True
        elif kind is EndOfData:
            self.end_of_data()
        elif kind is BrokerSnapshot:
            self.on_broker_snapshot(event)
        elif kind is FeedStatus:
            self._feed_status(event)
        elif kind is LoginNeeded or kind is LoggedIn:
            self._login_state(event)
        elif kind is Funds:
            if self.margins is not None:
                self.margins.on_funds(event)
        elif isinstance(event, Command):
            from agent.commands import handle_command

            return handle_command(self, event)
        elif isinstance(event, Tick):  # a subclass (the parser's full-mode ticks)
            self.on_tick(event)
        else:
            raise TypeError(f"engine cannot handle {kind.__name__}")
        return None

    def on_tick(self, tick: Tick) -> None:
        rt = self.runtimes.get(tick.instrument_token)
        if rt is None:
            self.unknown_ticks += 1
            return
        t = tick.timestamp or tick.received_at or self.clock.now()
        price = tick.last_price
        done = rt.series.offer(t, price, tick.last_traded_quantity, tick.volume_traded)
        if done is not None and type(done) is TickVerdict:
            # Ignored, unless it is the first tick of a new day (outside the old session).
            if not self._enter_day(rt, t, done):
                return
            done = rt.series.offer(t, price, tick.last_traded_quantity, tick.volume_traded)
            if type(done) is TickVerdict:
                rt.outside += 1
                return
        self.last_accepted = t
        rt.last_price = price
        book = rt.book
        if book.quantity:
            if book.watched:
                self.pnl.mark(book, price)
            else:
                book.mark = price  # no limit covers it: its P&L is computed when asked
        if done is not None:
            self._candle_done(rt, done, t)
        if self._watched and rt.token in self._watched:
            self.broker.on_price(rt.token, price, t)
            self.exec.pump()
        # 5.1 limits, for every scope whose P&L moved.
        if self._dirty_pnl:
            self._check_limits(t)
        o = rt.orders
        if o.busy or o.stop or book.quantity:
            self.exec.step(rt, t)  # deadlines, retries, the stop for the open quantity
        # 5.2 - 5.4 the strategy.
        try:
            intents = rt.strategy.on_tick(rt.state, price, t, rt.series.current)
        except Exception as exc:  # one instrument's bug must not stop the others
            self._strategy_failed(rt, exc, t)
            intents = None
        if intents:
            self.exec.apply(rt, intents, t)
            self.dirty = True
        # 5.5 square-off on the first tick at or after the square-off time.
        if t >= self._square_off_at and not rt.squared_off:
            self._square_off(rt, t)

    def _enter_day(self, rt: InstrumentRuntime, t: datetime, verdict: TickVerdict) -> bool:
        """A tick the current day's candles refused: True when it starts a new day (it is
        in its instrument's session on a later date), else it is counted and ignored."""
        if self._day_start <= t < self._day_end:
            if verdict is TickVerdict.STALE:
                rt.stale += 1
            else:
                rt.outside += 1
            return False
        if t < self._day_start:
            rt.stale += 1
            return False
        opens, closes = self.session_hours(t.date(), rt.instrument.exchange)
        if not opens <= t < closes:
            rt.outside += 1
            return False
        self.start_day(t.date())
        return True

    def on_clock(self, now: datetime) -> None:
        """Live timer: complete candles whose end has passed; retry failed closes. The grace
        is for the feed's latency, which is wall time: on a faster clock (a simulated
        exchange at 60x) it is that many times longer in the engine's time, so a tick a few
        wall milliseconds late still joins its candle there as it would live."""
        edge = now - TIMER_GRACE * self.exec.wait_scale
        if self.margins is not None:
            self.margins.on_clock(now)
        for rt in list(self.runtimes.values()):
            done = rt.series.due(edge)
            if done is not None:
                self._candle_done(rt, done, now)
            o = rt.orders
            if (o.busy or o.stop or rt.book.quantity) and rt.last_price is not None:
                self.exec.step(rt, now)

    def _candle_done(self, rt: InstrumentRuntime, candle: Candle, now: datetime) -> None:
        candle_log.debug("%s candle %s O %s H %s L %s C %s V %d", rt.symbol,
                         candle.start.strftime("%H:%M"), candle.open, candle.high, candle.low,
                         candle.close, candle.volume)
        rt.last_candle_end = candle.end
        self.on_candle(rt.instrument, candle)
        self._ask_strategy(rt, now, rt.strategy.on_candle, rt.state, candle)

    def _stopped_out(self, rt: InstrumentRuntime, price: Decimal, now: datetime) -> None:
        """The exchange stop filled on its own: the strategy's 5.2 (and its reverse)."""
        cur = rt.series.current
        bucket = cur.start if cur is not None else rt.series.bucket_start(now)
        self._ask_strategy(rt, now, rt.strategy.stopped_out, rt.state, price, now, bucket)
        self.dirty = True

    def _ask_strategy(self, rt: InstrumentRuntime, now: datetime, call: Callable[..., Any],
                      *args: Any) -> None:
        """Call the strategy (not on the per-tick path) and act on its intents; an
        exception stops this instrument's entries, nothing else."""
        try:
            intents = call(*args)
        except Exception as exc:
            self._strategy_failed(rt, exc, now)
            return
        if intents:
            self.exec.apply(rt, intents, now)
            self.dirty = True

    def _strategy_failed(self, rt: InstrumentRuntime, exc: Exception, now: datetime) -> None:
        rt.errors += 1
        if rt.error:
            return  # logged once; entries already stopped
        rt.error = f"{type(exc).__name__}: {exc}"
        log.exception("%s strategy error, no more entries today: %s", rt.symbol, rt.error)
        self._notify(Notification(AlertKind.ERROR,
                                  f"{rt.symbol}: strategy error ({rt.error}); entries stopped "
                                  "for today, open position still managed", now, rt.symbol))
        self.dirty = True

    def on_broker_snapshot(self, snap: BrokerSnapshot) -> None:
        """The broker's books (agent/lifecycle/reconciler.py): every finding is an alert."""
        if snap.complete and not self.broker_synced:
            self.broker_synced = True
            log.info("the broker's books are read: entries allowed")
        for line in self.reconciler.apply(snap):
            symbol = line.split(":", 1)[0] if line[:1].isupper() else ""
            self._notify(Notification(AlertKind.BROKER_SYNC, line, snap.time, symbol))

    def _limits_now(self, now: datetime) -> None:
        """Before an entry goes out: the limits, if a fill has moved P&L since the tick's
        check (a stop's own fill, then its reverse: docs/strategy.md 9.7)."""
        if self._dirty_pnl:
            self._check_limits(now)

    def _notify(self, note: Notification) -> None:
        self.notify(note)

    def _on_trade(self, trade: Trade) -> None:
        self.charge_book.remember(trade, self.pnl.last_legs)
        self.trades.append(trade)
        self.all_trades.append(trade)
        self.dirty = True
        rt = self.runtimes.get(trade.instrument_token)
        self.on_trade_closed(trade, rt.instrument if rt is not None else None)

    def apply_charges(self, totals: dict[str, NoteTotal] | Any) -> int:
        """Kite's contract note for these orders (by tag): the trades it prices take its
        charges, their books' day charges follow, and the journal gets them again
        (``on_trade_closed``); how many trades changed."""
        self.charge_book.noted.update(totals)
        changed = self.charge_book.recharged(self.trades, self.book.orders)
        if not changed:
            return 0
        swap = {id(self.trades[i]): new for i, new in changed.items()}
        self.trades = [swap.get(id(t), t) for t in self.trades]
        self.all_trades = [swap.get(id(t), t) for t in self.all_trades]
        for new in changed.values():  # the journal keeps the revised figures
            rt = self.runtimes.get(new.instrument_token)
            self.on_trade_closed(new, rt.instrument if rt is not None else None)
        for token in {t.instrument_token for t in changed.values()}:
            book = self.pnl.books.get(token)
            if book is not None:
                self.pnl.set_fees(book, sum((t.charges for t in self.trades
                                             if t.instrument_token == token), Decimal(0)))
        self.dirty = True
        return len(changed)
