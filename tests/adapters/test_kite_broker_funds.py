"""The live broker's funds reads (agent/adapters/kite_funds.py) against the simulated
exchange: ``read_funds`` on demand, and with ``funds_interval`` a read every interval of
the broker's timer posted to the engine as ``Funds`` (never more often), a failed read
tried again at the next interval."""

from __future__ import annotations

import logging
from decimal import Decimal

from kiteconnect.exceptions import NetworkException

from agent.margins import Funds
from agent.models import OrderStatus
from tests.adapters.kite_broker_harness import ADANIPORTS, WAIT, Harness


def _funds_posted(h: Harness) -> list[Funds]:
    return [u for u in h.drained() if isinstance(u, Funds)]


def test_read_funds_answers_kites_margins() -> None:
    with Harness() as h:
        funds = h.broker.read_funds().result(WAIT)
        equity = funds.segment("equity")
        assert funds.source == "kite" and equity is not None
        assert (equity.available, equity.used, equity.opening) == (
            Decimal(1_000_000), Decimal(0), Decimal(1_000_000))
        assert h.kite.count("user.margins") == 1
        order = h.submit(h.order(ADANIPORTS, quantity=50))
        h.until(lambda u: u.tag == order.tag and u.status is OrderStatus.COMPLETE)
        equity = h.broker.read_funds().result(WAIT).segment("equity")
        assert equity is not None
        assert equity.exposure == 50 * h.ltp(ADANIPORTS) / 5  # MIS at 5x
        assert equity.available < Decimal(1_000_000) - equity.exposure + 1


def test_periodic_reads_are_posted_every_interval_and_no_more() -> None:
    with Harness(funds_interval=30.0) as h:
        (first,) = _funds_posted(h)  # one read at start-up
        assert first.segment("equity") is not None
        h.timer.advance(29)
        assert _funds_posted(h) == [] and h.kite.count("user.margins") == 1
        h.timer.advance(1)
        assert len(_funds_posted(h)) == 1 and h.kite.count("user.margins") == 2
        h.timer.advance(30)
        assert len(_funds_posted(h)) == 1 and h.kite.count("user.margins") == 3


def test_without_an_interval_nothing_is_read_by_itself() -> None:
    with Harness() as h:
        h.timer.advance(300)
        assert _funds_posted(h) == [] and h.kite.count("user.margins") == 0


def test_a_failed_read_is_tried_again_at_the_next_interval(caplog) -> None:
    caplog.set_level(logging.INFO, "agent.adapters.kite_broker")
    with Harness(funds_interval=30.0) as h:
        _funds_posted(h)
        real = h.kite.margins
        h.kite.margins = lambda *a: (_ for _ in ()).throw(NetworkException("no route"))
        h.timer.advance(30)
        assert _funds_posted(h) == []
        h.timer.advance(30)
        assert _funds_posted(h) == []
        assert caplog.text.count("margins read failed") == 1  # said once while it lasts
        h.kite.margins = real
        h.timer.advance(30)
        assert len(_funds_posted(h)) == 1
        assert "margins read again" in caplog.text
