"""The kit for a trader's strategy (agent/strategy/kit.py) through the real engine: signals
become orders through the entry gate, the kit's stop and target checks are inclusive, a
signal with a stop on the wrong side stops that instrument's entries (and nothing else),
and the strategy's State survives a restart exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from agent.models import Candle, ExitReason, Side, TradeSide
from agent.strategy.kit import Buy, CandleStrategy, Close, Context, MoveStop, Sell, Signal
from agent.strategy.params import Param
from tests.helpers import AAA, BBB, Feed, at, d, make_run, make_settings


@dataclass
class Memo:
    seen: int = 0
    closes: list[Decimal] = field(default_factory=list)
    last: datetime | None = None


class Scripted(CandleStrategy):
    """Says what ``script`` holds for each candle's start (HH:MM), and counts candles."""

    name = "scripted"
    params = {"size": Param.number(0, 10, 1, "unused: a declared parameter")}  # noqa: RUF012
    State = Memo

    def __init__(self) -> None:
        self.script: dict[str, list[Signal]] = {}
        self.ticks: dict[str, list[Signal]] = {}
        self.days = 0

    def on_bar(self, ctx: Context, candle: Candle) -> list[Signal] | None:
        ctx.state.seen += 1
        ctx.state.closes.append(candle.close)
        ctx.state.last = candle.end
        return self.script.get(f"{candle.start:%H:%M}")

    def on_day(self, ctx: Context) -> None:
        self.days += 1


class TickScripted(Scripted):
    wants_ticks = True

    def on_price(self, ctx: Context, price: Decimal) -> list[Signal] | None:
        return self.ticks.get(f"{ctx.now:%H:%M:%S}")


def _run(strategy: Scripted, **params):
    return make_run(make_settings(interval=5, **params), strategy=strategy)


def test_a_buy_enters_at_the_next_tick_with_the_stop_rounded_down_to_the_tick() -> None:
    s = Scripted()
    s.script["09:15"] = [Buy(stop=d("98.07"), why="test")]
    r = _run(s)
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 101, 99, 100), f.tick(at(9, 20), "100.50"))
    pos = r.position()
    assert pos is not None and pos.side is Side.BUY and pos.stop == d("98.05")
    assert r.order_rows() == [("BUY", 50, "signal", d("100.50"), "COMPLETE")]


def test_the_stop_is_inclusive_and_exits_as_a_stop() -> None:
    s = Scripted()
    s.script["09:15"] = [Buy(stop=d(98))]
    r = _run(s)
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 101, 99, 100), f.tick(at(9, 20), 100),
           f.tick(at(9, 21), "98.05"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 22), 98))
    assert r.position() is None and r.quantity() == 0
    assert [t.exit_reason for t in r.trades] == [ExitReason.STOP]


def test_the_target_is_inclusive() -> None:
    s = Scripted()
    s.script["09:15"] = [Sell(stop=d(102), target=d(97))]
    r = _run(s)
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 101, 99, 100), f.tick(at(9, 20), 100),
           f.tick(at(9, 21), "97.05"))
    assert r.position() is not None
    r.feed(f.tick(at(9, 22), 97))
    assert [(t.side, t.exit_reason, t.exit_price) for t in r.trades] == [
        (Side.SELL, ExitReason.TARGET, d(97))]


def test_a_moved_stop_exits_as_a_trailing_stop_and_a_sell_while_long_reverses() -> None:
    s = Scripted()
    s.script["09:15"] = [Buy(stop=d(95))]
    s.script["09:20"] = [MoveStop(d(99))]
    s.script["09:25"] = [Sell(stop=d(104))]
    r = _run(s)
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 101, 99, 100), f.candle(at(9, 20), 100, 102, 100, 101),
           f.tick(at(9, 25), 101))
    assert r.position().stop == d(99)
    r.feed(f.tick(at(9, 26), 102), f.tick(at(9, 30), 102))  # 09:25 completes: reverse
    assert r.position().side is Side.SELL and r.quantity() == -50
    assert r.trades[0].exit_reason == ExitReason.SIGNAL_REVERSE
    s.script["09:30"] = [Close()]
    r.feed(f.tick(at(9, 35), 102))
    assert r.position() is None and r.quantity() == 0
    assert r.trades[-1].exit_reason == ExitReason.SIGNAL

    s2 = Scripted()
    s2.script["09:15"] = [Buy(stop=d(95))]
    s2.script["09:20"] = [MoveStop(d(99))]
    r2 = _run(s2)
    f2 = Feed()
    r2.feed(f2.candle(at(9, 15), 100, 101, 99, 100), f2.candle(at(9, 20), 100, 102, 100, 101),
            f2.tick(at(9, 25), 101), f2.tick(at(9, 26), 99))
    assert [t.exit_reason for t in r2.trades] == [ExitReason.TRAILING_STOP]


def test_the_entry_gate_holds_a_signal_the_trade_side_forbids() -> None:
    s = Scripted()
    s.script["09:15"] = [Sell(stop=d(102))]
    r = _run(s, trade_side=TradeSide.BUY)
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 101, 99, 100), f.tick(at(9, 20), 100))
    assert r.position() is None and r.orders() == []


def test_a_stop_on_the_wrong_side_stops_that_instrument_only_and_tells_the_owner() -> None:
    s = Scripted()
    s.script["09:15"] = [Buy(stop=d(101))]  # above the price: a bug in the strategy
    r = make_run(make_settings((AAA, BBB), interval=5), (AAA, BBB), strategy=s)
    fa, fb = Feed(1), Feed(2)
    r.feed(fa.candle(at(9, 15), 100, 101, 99, 100), fb.candle(at(9, 15), 100, 101, 99, 100))
    r.feed(fa.tick(at(9, 20), 100))
    assert r.rt(1).error.startswith("SignalError: BUY stop 101")
    assert r.rt(2).error == "" and r.orders() == []
    assert any("strategy error" in n.text for n in r.notes)
    s.script["09:15"] = []
    s.script["09:20"] = [Buy(stop=d(95))]
    r.feed(fb.tick(at(9, 20), 100), fa.tick(at(9, 25), 100), fb.tick(at(9, 25), 100))
    assert r.quantity(1) == 0 and r.quantity(2) == 50  # the other instrument trades on


def test_on_price_is_called_per_tick_only_when_the_strategy_wants_ticks() -> None:
    s = TickScripted()
    s.ticks["09:15:30"] = [Buy(stop=d(99))]
    r = _run(s)
    f = Feed()
    r.feed(f.tick(at(9, 15), 100), f.tick(at(9, 15, 30), "100.40"))
    assert r.order_rows() == [("BUY", 50, "signal", d("100.40"), "COMPLETE")]
    plain = Scripted()
    plain.ticks = s.ticks
    r2 = _run(plain)
    r2.feed(Feed().tick(at(9, 15), 100), Feed().tick(at(9, 15, 30), "100.40"))
    assert r2.orders() == []


def test_the_state_and_the_position_survive_a_restart_exactly() -> None:
    s = Scripted()
    s.script["09:20"] = [Buy(stop=d("98.35"), target=d("104.10"))]
    r = _run(s)
    f = Feed()
    r.feed(f.candle(at(9, 15), 100, 101, 99, "100.05"), f.candle(at(9, 20), 100, 102, 100, 101),
           f.tick(at(9, 25), "101.20"))
    rt = r.rt()
    saved = rt.strategy.to_dict(rt.state)

    s2 = Scripted()
    r2 = _run(s2)
    r2.feed(Feed().tick(at(9, 25, 1), "101.25"))  # the day starts: on_day ran once
    rt2 = r2.rt()
    rt2.strategy.restore(rt2.state, saved)
    assert rt2.state.ctx.state == Memo(2, [d("100.05"), d(101)], at(9, 25))
    assert type(rt2.state.ctx.state.closes[0]) is Decimal
    pos = rt2.strategy.position(rt2.state)
    assert (pos.side, pos.stop, pos.target) == (Side.BUY, d("98.35"), d("104.10"))
    assert [c.close for c in rt2.state.ctx.candles] == [d("100.05"), d(101)]
    assert rt2.strategy.to_dict(rt2.state) == saved
    assert s2.days == 1
