"""Rejections back off (issue 12, promise 5): an entry the broker refuses (insufficient
margin) is not sent again on the next tick; after a few refusals the instrument halts for
the day and the owner is told, with Kite's message.

The worked example's buy alert (c1, trigger 112.60) and a broker that refuses every entry
for margin, with prices beyond the trigger every second.
"""

from __future__ import annotations

from agent.models import Order, OrderType, Side
from tests.helpers import Feed, at, worked_candles
from tests.lifecycle.helpers import Live, settings

MARGIN = ("Insufficient funds. Required margin is 5632.50 but available margin is 1023.40. "
          "Check the orderbook for open orders.")


def _no_margin(order: Order) -> str | None:
    return MARGIN if order.side is Side.BUY and order.order_type is OrderType.MARKET else None


def _refused_entries(live: Live) -> list:
    return [p for p in live.desk.submitted if p.side is Side.BUY]


def _beyond_the_trigger(f: Feed):
    return lambda t: f.tick(t, "112.70")


def test_a_rejected_entry_is_not_sent_again_on_the_next_tick() -> None:
    live = Live(settings(reverse_on_stop=False), refuse=_no_margin)
    f = Feed()
    live.feed(worked_candles(f), f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"))
    assert len(_refused_entries(live)) == 1
    live.feed(f.tick(at(9, 25, 11), "112.70"))
    assert len(_refused_entries(live)) == 1, "sent again on the next tick"
    live.wait(at(9, 26, 10), _beyond_the_trigger(f))
    assert len(_refused_entries(live)) <= 5, (
        f"{len(_refused_entries(live))} entries refused for margin in a minute")


def test_repeated_entry_rejections_halt_the_instrument_and_tell_kites_message() -> None:
    live = Live(settings(reverse_on_stop=False), refuse=_no_margin)
    f = Feed()
    live.feed(worked_candles(f), f.tick(at(9, 25), "112.60"), f.tick(at(9, 25, 10), "112.65"))
    live.wait(at(9, 40), _beyond_the_trigger(f))  # a quarter of an hour beyond the trigger
    refused = _refused_entries(live)
    assert 1 <= len(refused) <= 5, f"{len(refused)} entries refused for margin"
    assert live.status_row()["halted"], "not halted for the day"
    last = refused[-1].time
    assert any(MARGIN in n.text for n in live.notes if n.time >= last), \
        "the owner was not told Kite's message"
    live.wait(at(10, 0), _beyond_the_trigger(f))
    assert _refused_entries(live) == refused  # halted: nothing more today
