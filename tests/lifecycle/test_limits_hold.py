"""Limits hold (issue 12, promise 7): a profit-target trip does not switch off the loss
limit, and a reverse entry is checked against the limits the stop's own fill has just
moved (it must not go out when that fill took the day past the loss limit).

The worked long (50 AAA at 112.65, stop 99.50) with exchange stops.
"""

from __future__ import annotations

from datetime import time

import pytest

from agent.events import AddInstrument, SetParam
from agent.settings import RiskConfig
from tests.helpers import AAA, CCC, Feed, at, d, worked_candles, worked_long
from tests.lifecycle.helpers import Live, exits_of, settings, stops_of


@pytest.mark.parametrize("how", ["unasked-fill", "crossed-then-filled"])
def test_the_stops_fill_past_the_loss_limit_lets_no_reverse_out(how: str) -> None:
    # -657.50 at 99.50, -662.50 at 99.40: past a loss limit of 600 or 660
    limit = d(600) if how == "unasked-fill" else d(660)
    live = Live(settings(risk=RiskConfig(daily_loss_limit=limit)))  # reverse_on_stop on
    f = Feed()
    live.feed(worked_long(f))
    live.fill(live.desk.last(), "112.65")
    (stop,) = stops_of(live.desk.submitted)
    mark = len(live.desk.submitted)
    if how == "unasked-fill":
        live.fill(stop, "99.50", at(9, 26))  # the exchange was faster than the feed
    else:
        live.feed(f.tick(at(9, 26), "99.50"))  # -657.50: the stop, the reverse waits
        live.fill(stop, "99.40", at(9, 26, 1))  # -662.50
    assert live.quantity() == 0
    assert exits_of(live.desk.since(mark)) == [], "the reverse short went out past the limit"
    live.feed(f.tick(at(9, 26, 2), "99.30"))
    assert live.status_row()["halted"]
    assert live.quantity() == 0 and live.exchange.position() == 0


def test_a_profit_target_trip_does_not_switch_off_the_loss_limit() -> None:
    risk = RiskConfig(daily_profit_target=d(500), daily_loss_limit=d(300))
    live = Live(settings((AAA,), reverse_on_stop=False, risk=risk), paper=True)
    f = Feed()
    live.feed(worked_long(f), f.tick(at(9, 27), "124"))  # +567.50: the profit target
    assert live.quantity() == 0 and live.realized() == d("567.50")
    assert live.handle(AddInstrument(CCC.instrument()), at(9, 28)).ok
    assert live.handle(SetParam("lots", 3, CCC.symbol), at(9, 28)).ok
    g = Feed(CCC.token)
    live.feed(worked_candles(g, start=time(9, 30)), g.tick(at(9, 40), "112.60"),
              g.tick(at(9, 40, 10), "112.65"))  # CCC long 150 at 112.65, if it may enter
    live.feed(g.tick(at(9, 41), "100"))  # CCC -1897.50: the day at -1330, past -300
    assert live.quantity(CCC.token) == 0, "the daily loss limit did not close CCC"
    ccc = [t for t in live.engine.trades if t.instrument_token == CCC.token]
    assert all(t.exit_reason == "daily_limit" for t in ccc), ccc
