"""The kit for a trader's own strategy: subclass ``CandleStrategy``, declare ``params`` and a
``State`` dataclass, write ``on_bar`` (and ``on_price`` if it wants ticks), return signals.

The kit does the rest of what the engine asks of a strategy (agent/strategy/base.py): it
keeps the position's view (entry, stop, target), checks the stop and the target on every
tick (inclusive, as docs/strategy.md 5.2-5.3), turns ``Buy``/``Sell``/``Close``/``MoveStop``
into the engine's intents through the entry gate (trade side, cutoff, pause, limits, max
trades), hears rejections and forced exits, and saves and restores ``State`` across a
restart (agent/strategy/kit_state.py). docs/strategies.md is the guide. Engine thread only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from agent.models import Candle, EntryReason, ExitReason, Instrument, Side
from agent.settings import StrategyParams
from agent.strategy.base import (
    ARMED_DISTANCE,
    AlertView,
    Enter,
    EntryGate,
    Exit,
    Intent,
    PositionView,
    Session,
    StopMoved,
    round_down,
    round_up,
)
from agent.strategy.kit_state import KitPosition, NoState, restore_kit, save_kit
from agent.strategy.params import ENGINE_PARAMS, Param


@dataclass(frozen=True, slots=True)
class Buy:
    """Go long now (a short is closed first). ``stop`` below the price, rounded down to the
    tick; ``target`` (optional) above it."""

    stop: Decimal
    target: Decimal | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class Sell:
    """Go short now (a long is closed first). ``stop`` above the price, rounded up."""

    stop: Decimal
    target: Decimal | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class Close:
    """Exit the open position now (nothing when flat)."""

    why: str = ""


@dataclass(frozen=True, slots=True)
class MoveStop:
    """Move the open position's stop (rounded to the tick, away from the price)."""

    to: Decimal


Signal = Buy | Sell | Close | MoveStop


class SignalError(ValueError):
    """A signal the kit cannot act on (a stop on the wrong side of the price): the engine
    stops this instrument's entries for the day and tells the owner, as for any error."""


@dataclass(slots=True)
class Context:
    """What a strategy sees when the kit calls it. Read-only but for ``state``."""

    instrument: Instrument
    params: dict[str, Any]  # every parameter by name: the engine's and the declared ones
    state: Any  # the strategy's own ``State`` (saved and restored by the kit)
    candles: deque[Candle]  # completed candles, oldest first (``history`` of them)
    position: PositionView | None = None
    session: Session | None = None  # today's hours (None before the first day starts)
    now: datetime | None = None  # the time of the candle's end or of the tick
    last_price: Decimal | None = None
    gate: EntryGate | None = None

    def can_enter(self, side: Side) -> bool:
        """Would an entry on ``side`` be allowed now (trade side, cutoff, pause, limits)?"""
        return self.gate is not None and self.now is not None and self.gate(side, self.now)

    def round_up(self, x: Decimal) -> Decimal:
        return round_up(x, self.instrument.tick_size)

    def round_down(self, x: Decimal) -> Decimal:
        return round_down(x, self.instrument.tick_size)


@dataclass(slots=True)
class KitState:
    """One instrument's state under the kit (the engine holds it)."""

    ctx: Context
    slip: Decimal
    position: KitPosition | None = None
    calls: int = 0  # user hook calls: the saved form may have changed (``version``)


class CandleStrategy:
    """Subclass me. Class attributes: ``name`` (required), ``params`` (name -> Param),
    ``State`` (a dataclass of int, float, bool, str, Decimal, datetime, date, lists and
    dicts of those, and None), ``wants_ticks`` (call ``on_price`` on every tick), ``history``
    (completed candles kept in ``ctx.candles``)."""

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    State: ClassVar[type] = NoState
    wants_ticks: ClassVar[bool] = False
    history: ClassVar[int] = 100

    # ------------------------------------------------------------ what a trader writes

    def on_bar(self, ctx: Context, candle: Candle) -> list[Signal] | None:
        """A candle completed (``ctx.now`` is its end). Return signals, or None."""
        return None

    def on_price(self, ctx: Context, price: Decimal) -> list[Signal] | None:
        """A tick (only with ``wants_ticks``), after the kit's stop and target checks; not
        called on a tick that exited the position (the next tick may enter again)."""
        return None

    def on_day(self, ctx: Context) -> None:
        """A new trading day begins (``ctx.session`` is set): reset what is per day. The
        position view is already cleared; ``ctx.state`` otherwise carries over."""

    # ------------------------------------------------------------ the engine's protocol

    def new_state(self, instrument: Instrument, params: StrategyParams, slippage: Decimal,
                  gate: EntryGate) -> KitState:
        ctx = Context(instrument, _values(params, self.params), self.State(),
                      deque(maxlen=max(1, self.history)), gate=gate)
        return KitState(ctx, slippage)

    def on_candle(self, state: KitState, candle: Candle) -> list[Intent]:
        ctx = state.ctx
        ctx.candles.append(candle)
        ctx.now, ctx.last_price = candle.end, candle.close
        state.calls += 1
        return self._act(state, self.on_bar(self._view(state), candle), candle.close,
                         candle.end)

    def on_tick(self, state: KitState, price: Decimal, t: datetime,
                candle: Candle) -> list[Intent] | None:
        pos = state.position
        if pos is None and not self.wants_ticks:
            return None
        out: list[Intent] = []
        if pos is not None:
            if price <= pos.stop if pos.side is Side.BUY else price >= pos.stop:
                out.append(Exit(pos.stop_reason, price, pos, pos.stop))
                state.position = None
            elif pos.target is not None and (
                    price >= pos.target if pos.side is Side.BUY else price <= pos.target):
                out.append(Exit(ExitReason.TARGET, price, pos, pos.target))
                state.position = None
        if self.wants_ticks and not out:
            ctx = state.ctx
            ctx.now, ctx.last_price = t, price
            state.calls += 1
            out.extend(self._act(state, self.on_price(self._view(state), price), price, t))
        return out or None

    def _view(self, state: KitState) -> Context:
        state.ctx.position = self.position(state)
        return state.ctx

    def _act(self, state: KitState, signals: list[Signal] | None, price: Decimal,
             t: datetime) -> list[Intent]:
        out: list[Intent] = []
        for signal in signals or ():
            if isinstance(signal, Buy | Sell):
                self._enter(state, signal, price, t, out)
            elif isinstance(signal, Close):
                if state.position is not None:
                    out.append(Exit(ExitReason.SIGNAL, price, state.position))
                    state.position = None
            elif isinstance(signal, MoveStop):
                self._move(state, signal, price, out)
            else:
                raise SignalError(f"{signal!r}: expected Buy, Sell, Close or MoveStop")
        return out

    def _enter(self, state: KitState, signal: Buy | Sell, price: Decimal, t: datetime,
               out: list[Intent]) -> None:
        side = Side.BUY if isinstance(signal, Buy) else Side.SELL
        pos = state.position
        if pos is not None and pos.side is side:
            return  # already in
        ctx = state.ctx
        if not ctx.gate or not ctx.gate(side, t):
            return
        stop = _rounded_stop(ctx, side, signal.stop, price)
        if pos is not None:
            out.append(Exit(ExitReason.SIGNAL_REVERSE, price, pos))
        entry = price + state.slip if side is Side.BUY else price - state.slip
        state.position = KitPosition(side, entry, stop, stop, signal.target, t,
                                     EntryReason.SIGNAL, signal.why)
        out.append(Enter(side, EntryReason.SIGNAL, stop, price))

    def _move(self, state: KitState, signal: MoveStop, price: Decimal,
              out: list[Intent]) -> None:
        pos = state.position
        if pos is None:
            return
        new = _rounded_stop(state.ctx, pos.side, signal.to, price)
        if new != pos.stop:
            out.append(StopMoved(pos.side, pos.stop, new))
            pos.stop = new

    def stopped_out(self, state: KitState, price: Decimal, t: datetime,
                    bucket: datetime) -> list[Intent]:
        state.position = None
        return []

    def stop_reason(self, state: KitState) -> ExitReason:
        return ExitReason.STOP if state.position is None else state.position.stop_reason

    def set_params(self, state: KitState, params: StrategyParams) -> list[Intent]:
        state.ctx.params = _values(params, self.params)
        return []

    def position(self, state: KitState) -> PositionView | None:
        p = state.position
        return None if p is None else PositionView(p.side, p.entry_price, p.stop,
                                                   p.entry_time, p.reason, p.target)

    def alerts(self, state: KitState) -> tuple[AlertView, ...]:
        return ()

    def entry_filled(self, state: KitState, price: Decimal) -> None:
        if state.position is not None:
            state.position.entry_price = price

    def entry_rejected(self, state: KitState) -> None:
        state.position = None

    def exit_rejected(self, state: KitState, prior: Any) -> None:
        state.position = prior

    def force_flat(self, state: KitState) -> None:
        state.position = None

    def armed(self, state: KitState, price: Decimal | None) -> bool:
        pos = state.position
        if self.wants_ticks:
            return True
        if pos is None or price is None:
            return pos is not None
        near = price * ARMED_DISTANCE
        return abs(price - pos.stop) <= near or (
            pos.target is not None and abs(price - pos.target) <= near)

    def reset_day(self, state: KitState) -> None:
        state.position = None

    def start_session(self, state: KitState, session: Session) -> None:
        ctx = state.ctx
        fresh = ctx.session is None or ctx.session.day != session.day
        ctx.session = session
        if fresh:
            ctx.now = session.opens
            state.calls += 1
            self.on_day(self._view(state))

    def to_dict(self, state: KitState) -> dict[str, Any]:
        return save_kit(state.ctx.state, state.position, state.ctx.candles, self.name)

    def version(self, state: KitState) -> tuple[Any, ...]:
        p = state.position
        return (state.calls, p and (p.side, p.entry_price, p.stop, p.target))

    def restore(self, state: KitState, data: dict[str, Any]) -> None:
        state.ctx.state, state.position, candles = restore_kit(self.State, data)
        state.ctx.candles.clear()
        state.ctx.candles.extend(candles)


def _values(params: StrategyParams, declared: dict[str, Param]) -> dict[str, Any]:
    return {name: params.value(name) for name in (*sorted(ENGINE_PARAMS), *declared)}


def _rounded_stop(ctx: Context, side: Side, stop: Any, price: Decimal) -> Decimal:
    if not isinstance(stop, Decimal):
        raise SignalError(f"stop {stop!r}: expected a Decimal price")
    rounded = ctx.round_down(stop) if side is Side.BUY else ctx.round_up(stop)
    if (rounded >= price) if side is Side.BUY else (rounded <= price):
        where = "below" if side is Side.BUY else "above"
        raise SignalError(f"{side.value} stop {rounded} must be {where} the price {price}")
    return rounded
