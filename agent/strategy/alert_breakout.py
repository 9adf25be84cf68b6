"""``alert_breakout``: the VWAP alert-candle breakout of docs/strategy.md, rule for rule.

Section numbers in comments refer to docs/strategy.md. All arithmetic is on exact Decimals.
Every method runs on the engine thread.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from agent.models import Candle, EntryReason, ExitReason, Instrument, Side, TradeSide
from agent.settings import StrategyParams
from agent.strategy.base import (
    ARMED_DISTANCE,
    AlertChanged,
    AlertView,
    Enter,
    EntryGate,
    Exit,
    Intent,
    PositionView,
    StopMoved,
)
from agent.strategy.breakout_state import BreakoutState, OpenPosition, state_restore, state_to_dict
from agent.strategy.params import Param

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


class AlertBreakout:
    """The default strategy. Stateless itself; per-instrument state is a BreakoutState."""

    name = "alert_breakout"
    # docs/strategy.md section 1; the engine's keys (interval, lots, ...) are everyone's
    params: ClassVar[dict[str, Param]] = {
        "percentage": Param.number(0, 100, "0.5", "p: the band and the stop, in percent"),
        "trailing": Param.boolean(True, "trail the stop at each candle completion"),
        "reverse_on_stop": Param.boolean(True, "with BOTH: after a stop, the opposite side"),
        "target_multiple": Param.number(0, 100, 0, "target = m x the alert candle's range; "
                                        "0 = none"),
    }

    def new_state(self, instrument: Instrument, params: StrategyParams, slippage: Decimal,
                  gate: EntryGate) -> BreakoutState:
        state = BreakoutState(instrument, params, instrument.tick_size, slippage, gate,
                              _ZERO, _ZERO)
        self._apply_params(state, params)
        return state

    # ------------------------------------------------------------ section 4

    def on_candle(self, state: BreakoutState, c: Candle) -> list[Intent]:
        out: list[Intent] = []
        hlc = c.high + c.low + c.close
        state.sum_hlcv += hlc * c.volume
        state.sum_v += c.volume
        state.sum_hlc += hlc
        state.candles += 1
        # 4.1 exact comparison of close with VWAP: 3 x C x sum(V) against sum((H+L+C) x V).
        if state.sum_v:
            lhs, rhs = 3 * c.close * state.sum_v, state.sum_hlcv
        else:
            lhs, rhs = 3 * c.close * state.candles, state.sum_hlc
        above, below = lhs > rhs, lhs < rhs
        side = state.params.trade_side
        # 4.2 sticky alerts, only for allowed sides.
        if side is not TradeSide.SELL:
            if state.buy_alert is None and above:
                self._set_alert(state, Side.BUY, c, out)
            elif state.buy_alert is not None and below:
                self._set_alert(state, Side.BUY, None, out)
        if side is not TradeSide.BUY:
            if state.sell_alert is None and below:
                self._set_alert(state, Side.SELL, c, out)
            elif state.sell_alert is not None and above:
                self._set_alert(state, Side.SELL, None, out)
        # 4.3 trailing, for candles completed after the entry (the entry's own included).
        pos = state.position
        if pos is not None and state.params.trailing and c.start >= pos.entry_bucket:
            if pos.side is Side.BUY:
                new = state.lower(c)
                if new > pos.stop:
                    out.append(StopMoved(pos.side, pos.stop, new))
                    pos.stop = new
            else:
                new = state.upper(c)
                if new < pos.stop:
                    out.append(StopMoved(pos.side, pos.stop, new))
                    pos.stop = new
        return out

    def _set_alert(self, state: BreakoutState, side: Side, c: Candle | None,
                   out: list[Intent]) -> None:
        if side is Side.BUY:
            state.buy_alert = c
            state.buy_upper = None if c is None else state.upper(c)
        else:
            state.sell_alert = c
            state.sell_lower = None if c is None else state.lower(c)
        if c is None:
            out.append(AlertChanged(side, None, vwap=state.vwap()))
        else:
            out.append(AlertChanged(side, c, state.upper(c), state.lower(c), state.vwap()))

    # ------------------------------------------------------------ section 5, steps 2-4

    def on_tick(self, state: BreakoutState, price: Decimal, t: datetime,
                candle: Candle) -> list[Intent] | None:
        """``candle``: the instrument's current candle (the one holding this tick)."""
        pos = state.position
        # Fast paths: nothing can trigger (checked on every tick, so kept lean).
        if pos is None:
            up, low = state.buy_upper, state.sell_lower
            if (up is None or price <= up) and (low is None or price >= low):
                return None
        elif pos.side is Side.BUY:
            if price > pos.stop and (pos.target is None or price < pos.target):
                low = state.sell_lower
                if low is None or price >= low or state.params.trade_side is not TradeSide.BOTH:
                    return None
        elif price < pos.stop and (pos.target is None or price > pos.target):
            up = state.buy_upper
            if up is None or price <= up or state.params.trade_side is not TradeSide.BOTH:
                return None
        out: list[Intent] = []
        exited = False
        # 5.2 stop (inclusive), then stop-and-reverse.
        if pos is not None and (price <= pos.stop if pos.side is Side.BUY else price >= pos.stop):
            out.append(Exit(self._stop_reason(pos), price, self._prior(state), pos.stop))
            self._stop_and_reverse(state, pos, price, t, candle.start, out)
            exited = True
        # 5.3 target, on the position open after step 2.
        pos = state.position
        if pos is not None and pos.target is not None and (
                price >= pos.target if pos.side is Side.BUY else price <= pos.target):
            out.append(Exit(ExitReason.TARGET, price, self._prior(state), pos.target))
            state.position = None
            exited = True
            if state.buy_alert is not None:
                self._set_alert(state, Side.BUY, None, out)
            if state.sell_alert is not None:
                self._set_alert(state, Side.SELL, None, out)
        # 5.4 entries (strict triggers), only when nothing exited on this tick.
        if not exited:
            self._entries(state, price, t, candle, out)
        return out or None

    @staticmethod
    def _stop_reason(pos: OpenPosition) -> ExitReason:
        return ExitReason.TRAILING_STOP if pos.stop != pos.initial_stop else ExitReason.STOP

    def _stop_and_reverse(self, state: BreakoutState, pos: OpenPosition, price: Decimal,
                          t: datetime, bucket: datetime, out: list[Intent]) -> None:
        state.position = None
        back = pos.side.opposite
        params = state.params
        if (params.trade_side is TradeSide.BOTH and params.reverse_on_stop
                and state.gate(back, t)):
            x = pos.alert
            stop = state.upper(x) if back is Side.SELL else state.lower(x)
            self._open(state, back, EntryReason.REVERSE, stop, x, price, t, bucket, out,
                       pos.stop)

    def stopped_out(self, state: BreakoutState, price: Decimal, t: datetime,
                    bucket: datetime) -> list[Intent]:
        """The exchange-side stop order filled before the engine saw the stop crossed:
        5.2 without the exit itself (it happened); the reverse, if due. ``bucket``: the
        start of the current candle."""
        pos = state.position
        if pos is None:
            return []
        out: list[Intent] = []
        self._stop_and_reverse(state, pos, price, t, bucket, out)
        return out

    def stop_reason(self, state: BreakoutState) -> ExitReason:
        """The reason an exit at the current stop would carry (stop or trailing_stop)."""
        pos = state.position
        return ExitReason.STOP if pos is None else self._stop_reason(pos)

    def _entries(self, state: BreakoutState, price: Decimal, t: datetime, candle: Candle,
                 out: list[Intent]) -> None:
        pos = state.position
        a, b = state.buy_alert, state.sell_alert
        long_trigger = a is not None and price > state.buy_upper
        short_trigger = b is not None and price < state.sell_lower
        if pos is None:
            if long_trigger and state.gate(Side.BUY, t):
                self._open(state, Side.BUY, EntryReason.SIGNAL, state.lower(a), a, price, t,
                           candle.start, out, state.buy_upper)
            elif short_trigger and state.gate(Side.SELL, t):
                self._open(state, Side.SELL, EntryReason.SIGNAL, state.upper(b), b, price, t,
                           candle.start, out, state.sell_lower)
            return
        if state.params.trade_side is not TradeSide.BOTH:
            return
        if pos.side is Side.BUY and short_trigger and state.gate(Side.SELL, t):
            out.append(Exit(ExitReason.SIGNAL_REVERSE, price, self._prior(state),
                            state.sell_lower))
            self._open(state, Side.SELL, EntryReason.SIGNAL, state.upper(b), b, price, t,
                       candle.start, out, state.sell_lower)
        elif pos.side is Side.SELL and long_trigger and state.gate(Side.BUY, t):
            out.append(Exit(ExitReason.SIGNAL_REVERSE, price, self._prior(state),
                            state.buy_upper))
            self._open(state, Side.BUY, EntryReason.SIGNAL, state.lower(a), a, price, t,
                       candle.start, out, state.buy_upper)

    def _open(self, state: BreakoutState, side: Side, reason: EntryReason, stop: Decimal,
              x: Candle, price: Decimal, t: datetime, bucket: datetime,
              out: list[Intent], level: Decimal | None) -> None:
        entry = price + state.slip if side is Side.BUY else price - state.slip
        pos = OpenPosition(side, entry, stop, stop, x, t, bucket, reason)
        self._set_target(state, pos)
        state.position = pos
        out.append(Enter(side, reason, stop, price, level))

    @staticmethod
    def _set_target(state: BreakoutState, pos: OpenPosition) -> None:
        m = state.params.target_multiple
        if m > 0:
            reach = m * pos.alert.range
            pos.target = pos.entry_price + reach if pos.side is Side.BUY else (
                pos.entry_price - reach)
        else:
            pos.target = None

    @staticmethod
    def _prior(state: BreakoutState) -> tuple[Any, ...]:
        return (state.position, state.buy_alert, state.sell_alert)

    # ------------------------------------------------------------ engine feedback

    def position(self, state: BreakoutState) -> PositionView | None:
        pos = state.position
        if pos is None:
            return None
        return PositionView(pos.side, pos.entry_price, pos.stop, pos.entry_time, pos.reason,
                            pos.target)

    def alerts(self, state: BreakoutState) -> tuple[AlertView, ...]:
        out = []
        if state.buy_alert is not None and state.buy_upper is not None:
            a = state.buy_alert
            out.append(AlertView(Side.BUY, state.buy_upper, state.buy_upper, state.lower(a),
                                 a.start))
        if state.sell_alert is not None and state.sell_lower is not None:
            b = state.sell_alert
            out.append(AlertView(Side.SELL, state.sell_lower, state.upper(b), state.sell_lower,
                                 b.start))
        return tuple(out)

    def entry_filled(self, state: BreakoutState, price: Decimal) -> None:
        """The broker's average fill price becomes the entry (targets use it)."""
        if state.position is not None:
            state.position.entry_price = price
            self._set_target(state, state.position)

    def entry_rejected(self, state: BreakoutState) -> None:
        state.position = None

    def exit_rejected(self, state: BreakoutState, prior: Any) -> None:
        position, buy_alert, sell_alert = prior
        state.position = position
        self._set_alert(state, Side.BUY, buy_alert, [])
        self._set_alert(state, Side.SELL, sell_alert, [])

    def force_flat(self, state: BreakoutState) -> None:
        state.position = None

    def set_params(self, state: BreakoutState, params: StrategyParams) -> list[Intent]:
        """New params; a trade_side change clears the alerts of sides no longer allowed."""
        out: list[Intent] = []
        self._apply_params(state, params)
        if not params.trade_side.allows(Side.BUY) and state.buy_alert is not None:
            self._set_alert(state, Side.BUY, None, out)
        if not params.trade_side.allows(Side.SELL) and state.sell_alert is not None:
            self._set_alert(state, Side.SELL, None, out)
        return out

    def _apply_params(self, state: BreakoutState, params: StrategyParams) -> None:
        state.params = params
        p = params.percentage
        state.up_factor = (_HUNDRED + p) / _HUNDRED
        state.down_factor = (_HUNDRED - p) / _HUNDRED
        state.buy_upper = None if state.buy_alert is None else state.upper(state.buy_alert)
        state.sell_lower = None if state.sell_alert is None else state.lower(state.sell_alert)
        if state.position is not None:
            self._set_target(state, state.position)

    def reset_day(self, state: BreakoutState) -> None:
        """A new day: VWAP, alerts and the strategy's position view start over."""
        state.buy_alert = state.sell_alert = None
        state.buy_upper = state.sell_lower = None
        state.position = None
        state.sum_hlcv = state.sum_hlc = _ZERO
        state.sum_v = state.candles = 0

    # ------------------------------------------------------------ persistence

    def to_dict(self, state: BreakoutState) -> dict[str, Any]:
        return state_to_dict(state)

    def armed(self, state: BreakoutState, price: Decimal | None) -> bool:
        pos = state.position
        levels = (state.buy_upper, state.sell_lower) + (
            () if pos is None else (pos.stop, pos.target))
        if price is None:
            return any(level is not None for level in levels)
        near = price * ARMED_DISTANCE
        return any(level is not None and abs(price - level) <= near for level in levels)

    def version(self, state: BreakoutState) -> tuple[Any, ...]:
        """What ``to_dict`` reads, in a cheap form: the VWAP sums change with the candle
        count, alerts are replaced (never mutated), a position's stop and entry change."""
        pos = state.position
        return (state.candles, state.sum_v, state.buy_alert and state.buy_alert.start,
                state.sell_alert and state.sell_alert.start,
                pos and (pos.side, pos.entry_price, pos.stop, pos.initial_stop, pos.alert.start,
                         pos.entry_time, pos.reason))

    def restore(self, state: BreakoutState, data: dict[str, Any]) -> None:
        state_restore(state, data)
        self._apply_params(state, state.params)
