"""An example strategy to copy: a moving-average crossover with a percentage stop.

Run it with ``strategy: examples/strategies/ema_cross.py:EmaCross`` in the config (the path
is relative to the config file), in ``bot.py backtest``, on paper or live; its parameters go
beside it (``fast: 5``). docs/strategies.md explains every part.

The rules, on completed candles only:
1. Two exponential moving averages of the candle closes, ``fast`` and ``slow`` candles long
   (seeded with the first close of the day; each day starts afresh).
2. When the fast average crosses above the slow one (it was at or below it on the previous
   candle, and is above it now), buy; when it crosses below, sell (a position on the other
   side is closed first: the kit does that). Nothing before ``slow`` candles of the day.
3. The stop is ``stop_pct`` percent from the candle's close; the target, when
   ``reward_risk`` is above 0, is that many times the stop's distance beyond the close.
4. With ``trail``, each candle moves the stop to ``stop_pct`` from its close when that is
   closer to the price (never back).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.models import Candle, Side
from agent.strategy.kit import Buy, CandleStrategy, Context, MoveStop, Sell, Signal
from agent.strategy.params import Param

HUNDRED = Decimal(100)


@dataclass
class EmaState:
    fast: Decimal | None = None  # today's averages (None before the first candle)
    slow: Decimal | None = None
    candles: int = 0  # completed candles today


class EmaCross(CandleStrategy):
    name = "ema_cross"
    params = {
        "fast": Param.whole(2, 50, 5, "candles in the fast average"),
        "slow": Param.whole(3, 200, 20, "candles in the slow average"),
        "stop_pct": Param.number("0.05", 20, "0.5", "stop distance from the close, percent"),
        "reward_risk": Param.number(0, 20, 0, "target = this x the stop distance; 0 = none"),
        "trail": Param.boolean(True, "move the stop with each candle's close"),
    }
    State = EmaState

    def on_day(self, ctx: Context) -> None:
        ctx.state = EmaState()  # the averages start over each day

    def on_bar(self, ctx: Context, candle: Candle) -> list[Signal] | None:
        s: EmaState = ctx.state
        p = ctx.params
        close = candle.close
        before = None if s.fast is None or s.slow is None else s.fast - s.slow
        s.fast = _ema(s.fast, close, p["fast"])
        s.slow = _ema(s.slow, close, p["slow"])
        s.candles += 1
        distance = close * p["stop_pct"] / HUNDRED
        out: list[Signal] = []
        pos = ctx.position
        if pos is not None and p["trail"]:  # rule 4: only ever closer to the price
            if pos.side is Side.BUY and close - distance > pos.stop:
                out.append(MoveStop(close - distance))
            elif pos.side is Side.SELL and close + distance < pos.stop:
                out.append(MoveStop(close + distance))
        if before is None or s.candles < p["slow"]:
            return out
        now = s.fast - s.slow
        reach = distance * p["reward_risk"]
        if before <= 0 < now:
            out.append(Buy(stop=close - distance, target=close + reach if reach else None,
                           why="fast average crossed above the slow one"))
        elif before >= 0 > now:
            out.append(Sell(stop=close + distance, target=close - reach if reach else None,
                            why="fast average crossed below the slow one"))
        return out


def _ema(previous: Decimal | None, close: Decimal, length: int) -> Decimal:
    if previous is None:
        return close
    k = Decimal(2) / (length + 1)
    return previous + k * (close - previous)
