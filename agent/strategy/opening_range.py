"""``opening_range``: the opening range breakout of docs/strategies.md, rule for rule.

Rule numbers in comments (ORB n) refer to the section "The opening range breakout
(opening_range)" of docs/strategies.md. All arithmetic is on exact Decimals. Every method
runs on the engine thread.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
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
    round_down,
    round_up,
)
from agent.strategy.orb_state import OrbPosition, OrbState, state_restore, state_to_dict
from agent.strategy.params import Param

log = logging.getLogger(__name__)

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)


class OpeningRange:
    """The opening range breakout. Stateless itself; per-instrument state is an OrbState."""

    name = "opening_range"
    params: ClassVar[dict[str, Param]] = {
        "range_minutes": Param.whole(
            1, 375, 15, "minutes after the session open whose ticks make the range"),
        "buffer_pct": Param.number(
            0, 10, "0.1", "percent beyond the range high (low) for the long (short) trigger"),
        "stop_pct": Param.number(
            0, 20, 0, "0: the stop is the other side of the range; >0: this percent from "
            "the entry price"),
        "target_multiple": Param.number(
            0, 100, 0, "target = entry +- this multiple of the range height; 0 = none"),
    }

    def new_state(self, instrument: Instrument, params: StrategyParams, slippage: Decimal,
                  gate: EntryGate) -> OrbState:
        state = OrbState(instrument, params, instrument.tick_size, slippage, gate)
        self._apply_params(state, params)
        return state

    # ------------------------------------------------------------ ORB 1: the day

    def start_session(self, state: OrbState, session: Session) -> None:
        """The day's hours: the window is [open, open + range_minutes) (ORB 2)."""
        if state.minutes is None:
            state.minutes = int(state.params.value("range_minutes"))
        state.opens = session.opens
        state.range_end = session.opens + timedelta(minutes=state.minutes)
        state.cutoff = session.entry_cutoff

    def reset_day(self, state: OrbState) -> None:
        """A new day: the range, the sides used and the position view start over."""
        state.minutes = None
        state.opens = state.range_end = state.cutoff = None
        state.high = state.low = None
        state.complete = False
        state.long_used = state.short_used = False
        state.position = None
        self._arm(state)

    def on_candle(self, state: OrbState, c: Candle) -> list[Intent]:
        """ORB 2: a completed candle wholly inside the window widens the range to its high
        and low (its ticks did so already; this counts the candles rebuilt after a
        restart)."""
        end = state.range_end
        if (not state.complete and end is not None and state.opens is not None
                and c.start >= state.opens and c.end <= end):
            self._widen(state, c.high, c.low)
        return []

    @staticmethod
    def _widen(state: OrbState, high: Decimal, low: Decimal) -> None:
        if state.high is None or state.low is None:
            state.high, state.low = high, low
        else:
            if high > state.high:
                state.high = high
            if low < state.low:
                state.low = low

    def _complete(self, state: OrbState) -> None:
        state.complete = True
        self._arm(state)
        sym = state.instrument.symbol
        if state.high is None:
            log.info("%s: no tick in the opening range %s-%s: no opening-range trades today",
                     sym, state.opens and state.opens.strftime("%H:%M"),
                     state.range_end and state.range_end.strftime("%H:%M"))
        else:
            log.debug("%s opening range %s-%s: high %s low %s; triggers %s / %s", sym,
                      state.opens, state.range_end, state.high, state.low,
                      state.long_trigger, state.short_trigger)

    def _arm(self, state: OrbState) -> None:
        """ORB 3: the triggers of the sides still open today and allowed by trade_side."""
        hi, lo = state.high, state.low
        if not state.complete or hi is None or lo is None:
            state.long_trigger = state.short_trigger = None
            return
        side = state.params.trade_side
        state.long_trigger = None if state.long_used or not side.allows(Side.BUY) else (
            round_up(hi * state.up_factor, state.tick))
        state.short_trigger = None if state.short_used or not side.allows(Side.SELL) else (
            round_down(lo * state.down_factor, state.tick))

    # ------------------------------------------------------------ ORB 3-7: every tick

    def on_tick(self, state: OrbState, price: Decimal, t: datetime,
                candle: Candle) -> list[Intent] | None:
        pos = state.position
        # Fast paths (every tick): nothing can happen.
        if pos is None:
            if state.complete:
                up, down = state.long_trigger, state.short_trigger
                if (up is None or price <= up) and (down is None or price >= down):
                    return None
            else:
                end = state.range_end
                if end is None:
                    return None  # no session yet: nothing to do
                if t < end:  # ORB 2: inside the window
                    hi, lo = state.high, state.low
                    if hi is None or lo is None:
                        state.high = state.low = price
                    elif price > hi:
                        state.high = price
                    elif price < lo:
                        state.low = price
                    return None
                self._complete(state)  # ORB 2: the first tick at or after the window's end
                up, down = state.long_trigger, state.short_trigger
                if (up is None or price <= up) and (down is None or price >= down):
                    return None
        elif (price > pos.stop if pos.side is Side.BUY else price < pos.stop) and (
                pos.target is None or (price < pos.target if pos.side is Side.BUY
                                       else price > pos.target)) and (
                state.cutoff is None or t < state.cutoff):
            return None
        out: list[Intent] = []
        if pos is not None:
            if price <= pos.stop if pos.side is Side.BUY else price >= pos.stop:  # ORB 4
                out.append(Exit(ExitReason.STOP, price, pos, pos.stop))
            elif pos.target is not None and (  # ORB 5
                    price >= pos.target if pos.side is Side.BUY else price <= pos.target):
                out.append(Exit(ExitReason.TARGET, price, pos, pos.target))
            else:  # ORB 7: at or after the cutoff
                out.append(Exit(ExitReason.CUTOFF, price, pos, None))
            state.position = None
            return out  # ORB 6: no entry on a tick that exited
        # ORB 3 entries (strict triggers), when flat; the long first.
        up, down = state.long_trigger, state.short_trigger
        if up is not None and price > up and state.gate(Side.BUY, t):
            self._open(state, Side.BUY, price, t, up, out)
        elif down is not None and price < down and state.gate(Side.SELL, t):
            self._open(state, Side.SELL, price, t, down, out)
        return out or None

    def _open(self, state: OrbState, side: Side, price: Decimal, t: datetime,
              level: Decimal, out: list[Intent]) -> None:
        hi, lo = state.high, state.low
        assert hi is not None and lo is not None
        s = state.stop_pct
        if side is Side.BUY:  # ORB 4
            stop = lo if s == 0 else round_down(price * (_HUNDRED - s) / _HUNDRED, state.tick)
            entry = price + state.slip
            state.long_used = True
        else:
            stop = hi if s == 0 else round_up(price * (_HUNDRED + s) / _HUNDRED, state.tick)
            entry = price - state.slip
            state.short_used = True
        height = hi - lo
        reach = state.multiple * height if state.multiple > 0 and height > 0 else None  # ORB 5
        pos = OrbPosition(side, entry, stop, t, reach)
        pos.aim()
        state.position = pos
        self._arm(state)  # ORB 6: the side is used
        out.append(Enter(side, EntryReason.SIGNAL, stop, price, level))

    def stopped_out(self, state: OrbState, price: Decimal, t: datetime,
                    bucket: datetime) -> list[Intent]:
        """The exchange stop filled on its own: the strategy is flat (no reverse)."""
        state.position = None
        return []

    def stop_reason(self, state: OrbState) -> ExitReason:
        return ExitReason.STOP

    # ------------------------------------------------------------ engine feedback

    def position(self, state: OrbState) -> PositionView | None:
        pos = state.position
        if pos is None:
            return None
        return PositionView(pos.side, pos.entry_price, pos.stop, pos.entry_time,
                            EntryReason.SIGNAL, pos.target)

    def alerts(self, state: OrbState) -> tuple[AlertView, ...]:
        """The armed triggers (ORB 8): upper/lower are the range, since the open."""
        hi, lo, since = state.high, state.low, state.opens
        if hi is None or lo is None or since is None:
            return ()
        out = []
        if state.long_trigger is not None:
            out.append(AlertView(Side.BUY, state.long_trigger, hi, lo, since))
        if state.short_trigger is not None:
            out.append(AlertView(Side.SELL, state.short_trigger, hi, lo, since))
        return tuple(out)

    def entry_filled(self, state: OrbState, price: Decimal) -> None:
        """The broker's average fill price becomes the entry (the target follows it)."""
        pos = state.position
        if pos is not None:
            pos.entry_price = price
            pos.aim()

    def entry_rejected(self, state: OrbState) -> None:
        """ORB 6: a rejected entry gives its side back."""
        pos = state.position
        if pos is None:
            return
        if pos.side is Side.BUY:
            state.long_used = False
        else:
            state.short_used = False
        state.position = None
        self._arm(state)

    def exit_rejected(self, state: OrbState, prior: Any) -> None:
        state.position = prior

    def force_flat(self, state: OrbState) -> None:
        state.position = None

    def armed(self, state: OrbState, price: Decimal | None) -> bool:
        pos = state.position
        levels = (state.long_trigger, state.short_trigger) if pos is None else (
            pos.stop, pos.target)
        if price is None:
            return any(level is not None for level in levels)
        near = price * ARMED_DISTANCE
        return any(level is not None and abs(price - level) <= near for level in levels)

    def set_params(self, state: OrbState, params: StrategyParams) -> list[Intent]:
        """ORB 9: buffer_pct and trade_side re-arm the triggers at once; stop_pct and
        target_multiple apply from the next entry; range_minutes from the next day."""
        self._apply_params(state, params)
        return []

    def _apply_params(self, state: OrbState, params: StrategyParams) -> None:
        state.params = params
        b = Decimal(params.value("buffer_pct"))
        state.up_factor = (_HUNDRED + b) / _HUNDRED
        state.down_factor = (_HUNDRED - b) / _HUNDRED
        state.stop_pct = Decimal(params.value("stop_pct"))
        state.multiple = params.target_multiple
        self._arm(state)

    # ------------------------------------------------------------ persistence

    def to_dict(self, state: OrbState) -> dict[str, Any]:
        return state_to_dict(state)

    def version(self, state: OrbState) -> tuple[Any, ...]:
        pos = state.position
        return (state.minutes, state.high, state.low, state.complete, state.long_used,
                state.short_used, pos and (pos.side, pos.entry_price, pos.stop, pos.entry_time,
                                           pos.reach))

    def restore(self, state: OrbState, data: dict[str, Any]) -> None:
        state_restore(state, data)
        self._arm(state)
