"""``/set interval`` takes effect the next trading day, also across a restart within the day
(docs/strategy.md 9.2): the restored day keeps the candle grid it started with; the next
day uses the new interval. Single-threaded test code."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from agent import snapshot
from agent.events import SetParam
from tests.helpers import (
    AAA,
    DAY,
    DAY2,
    Feed,
    Run,
    at,
    make_run,
    make_settings,
    worked_candles,
)

FIVE = timedelta(minutes=5)
FIFTEEN = timedelta(minutes=15)


def _morning(run: Run, symbol: str | None, feed: Feed) -> None:
    """c0, c1 at 5 minutes (buy alert c1, band 99.50 - 112.60), the 09:25 tick that
    completes c1, then the owner's ``/set interval 15``."""
    run.feed(worked_candles(feed), feed.tick(at(9, 25), "112.50"))
    assert run.engine.handle(SetParam("interval", 15, symbol)).ok
    assert run.rt().series.interval == 5 and run.rt().params.interval == 5


def _afternoon(feed: Feed) -> list[Any]:
    """From 09:30: a breakout above 112.60 (a long entry), then two more 5-minute candles."""
    return [*feed.candle(at(9, 30), "112.70", "113.40", "112.20", "113.00", 200),
            *feed.candle(at(9, 35), "113.00", "113.80", "112.90", "113.60", 150),
            feed.tick(at(9, 40), "113.70", 10)]


def _state(run: Run) -> dict[str, Any]:
    snap = snapshot.take(run.engine, at(12, 0))
    snap["meta"].pop("saved_at")
    return snap


def _rows(candles: list[Any]) -> list[tuple[Any, ...]]:
    return [(c.start, c.end, c.open, c.high, c.low, c.close, c.volume) for c in candles]


def _drop_open_candle(run: Run) -> None:
    """The snapshot holds no open candle: the engine that did not restart forgets its own
    so that both continue from the same point."""
    for rt in run.engine.runtimes.values():
        rt.series.current = None
        rt.series.floor = None


@pytest.mark.parametrize("symbol", [None, AAA.symbol])
def test_same_day_restart_keeps_the_days_interval(symbol: str | None) -> None:
    settings = make_settings()
    feed = Feed()
    first = make_run(settings)
    _morning(first, symbol, feed)
    saved = json.loads(json.dumps(snapshot.take(first.engine, first.engine.now())))

    second = make_run(settings)
    assert snapshot.restore(second.engine, saved, DAY)
    rt = second.rt()
    assert rt.series.interval == 5
    assert rt.params.interval == 5
    assert second.engine.params_for(AAA.symbol).interval == 15  # stored for the next day
    assert _state(second) == _state(first)

    _drop_open_candle(first)
    done_before = len(first.candles)
    for run in (first, second):
        run.feed(_afternoon(feed))
    after = first.candles[done_before:]
    assert _rows(second.candles) == _rows(after)
    assert [c.end - c.start for c in second.candles] == [FIVE, FIVE]
    assert second.order_rows() == first.order_rows()[-len(second.order_rows()):]
    assert second.quantity() == first.quantity() == 50  # the restored alert broke out
    assert _state(second) == _state(first)

    # A second restart on the same day still keeps the day's grid.
    third = make_run(settings)
    assert snapshot.restore(third.engine, json.loads(json.dumps(
        snapshot.take(second.engine, second.engine.now()))), DAY)
    assert third.rt().series.interval == 5 and third.rt().params.interval == 5


@pytest.mark.parametrize("symbol", [None, AAA.symbol])
def test_restart_on_the_next_day_uses_the_new_interval(symbol: str | None) -> None:
    settings = make_settings()
    first = make_run(settings)
    _morning(first, symbol, Feed())
    saved = json.loads(json.dumps(snapshot.take(first.engine, first.engine.now())))

    later = make_run(settings)
    assert not snapshot.restore(later.engine, saved, DAY2)
    assert later.rt().params.interval == 15
    feed = Feed()
    later.feed(worked_candles(feed, DAY2), feed.tick(at(9, 30, day=DAY2), "109"))
    assert later.rt().series.interval == 15
    assert [(c.start, c.end - c.start) for c in later.candles] == [(at(9, 15, day=DAY2),
                                                                   FIFTEEN)]


def test_the_running_engine_switches_on_the_next_day_too() -> None:
    run = make_run(make_settings())
    feed = Feed()
    _morning(run, None, feed)
    feed.new_day()
    run.feed(worked_candles(feed, DAY2), feed.tick(at(9, 30, day=DAY2), "109"))
    assert run.rt().series.interval == 15 and run.rt().params.interval == 15
    assert run.candles[-1].start == at(9, 15, day=DAY2)
    assert run.candles[-1].end - run.candles[-1].start == FIFTEEN


def test_a_snapshot_without_the_days_interval_still_restores() -> None:
    """State written before the day's interval was saved: the current params apply."""
    settings = make_settings()
    first = make_run(settings)
    _morning(first, None, Feed())
    saved = json.loads(json.dumps(snapshot.take(first.engine, first.engine.now())))
    for row in saved["runtime"].values():
        row.pop("interval")
    second = make_run(settings)
    assert snapshot.restore(second.engine, saved, DAY)
    assert second.rt().series.interval == second.rt().params.interval == 15


def test_state_json_round_trip_keeps_the_days_interval(tmp_path, backend) -> None:
    settings = make_settings()
    feed = Feed()
    errors: list[str] = []
    persistence = backend.persistence(tmp_path, errors.append)
    first = make_run(settings)
    first.engine.on_candle = persistence.candle
    _morning(first, None, feed)
    persistence.snapshot(first.engine)
    assert persistence.close()

    again = backend.persistence(tmp_path, errors.append)
    second = make_run(settings)
    on_candle = second.engine.on_candle

    def both(ins: Any, candle: Any) -> None:
        on_candle(ins, candle)
        again.candle(ins, candle)

    second.engine.on_candle = both
    assert again.restore_into(second.engine, DAY)
    assert second.rt().series.interval == 5 and second.rt().params.interval == 5
    second.feed(_afternoon(feed))
    assert again.close()
    assert errors == []
    assert second.quantity() == 50
    # One candle file for the day, all of it on the 5-minute grid.
    assert again.candles.series(DAY) == [(AAA.token, 5)]
    starts = [r["start"] for r in again.candles.read_day(DAY, AAA.token, 5)]
    assert len(starts) == 4  # 09:15 and 09:20 before the restart, 09:30 and 09:35 after


@pytest.mark.parametrize("symbol", [None, AAA.symbol])
def test_another_set_after_an_interval_change_keeps_todays_interval(symbol: str | None
                                                                     ) -> None:
    run = make_run(make_settings())
    _morning(run, symbol, Feed())
    assert run.engine.handle(SetParam("percentage", Decimal("0.4"), symbol)).ok
    rt = run.rt()
    assert rt.params.interval == 5 == rt.series.interval  # /status and the report agree
    assert str(rt.params.percentage) == "0.4"  # the other key took effect at once
    assert run.engine.params_for(AAA.symbol).interval == 15  # still waiting for tomorrow
