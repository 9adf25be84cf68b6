"""``risk.limits_on: net`` (issue 15): the limits compare the P&L after charges, the open
position's estimated round trip included; by default they stay on the gross P&L. The
views say which, and carry gross, charges and net."""

from __future__ import annotations

from decimal import Decimal

from agent.events import AlertKind, Job, Query, QueryKind, RunJob
from agent.models import ExitReason
from agent.money import money
from agent.settings import LimitsOn, RiskConfig
from handlers import book_tables
from handlers import formatting as fmt
from tests.helpers import AAA, Feed, at, d, run, worked_long

# The worked long: 50 @ 112.65 on 2024-01-15 (priced by the oldest table, 2024-10-01). Its
# estimated round trip, both sides at 112.65: brokerage 1.69 x 2, STT 1.41 -> 1, exchange
# 11,265 x 0.00297 % = 0.33, SEBI 0.01, stamp 0.17, GST 18 % of 3.72 = 0.67: 5.56.
ROUND_TRIP = d("5.56")


def _long_then(price: str, **kwargs: object):  # type: ignore[no-untyped-def]
    f = Feed()
    r = run(**kwargs)
    r.feed(worked_long(f), f.tick(at(9, 26), price))
    return r


def test_an_instrument_limit_on_net_counts_the_open_positions_charges() -> None:
    # 112.10: gross -27.50, net -27.50 - 5.56 = -33.06 against a loss limit of 30
    gross = _long_then("112.10", loss_limit=d(30))
    assert gross.quantity() == 50 and not gross.trades  # gross: not reached
    net = _long_then("112.10", loss_limit=d(30),
                     risk=RiskConfig(limits_on=LimitsOn.NET))
    (trade,) = net.trades
    assert trade.exit_reason == ExitReason.INSTRUMENT_LIMIT.value
    assert trade.pnl == d("-27.50") and trade.charges > 0
    trip = next(n for n in net.notes if n.data.get("scope") == "instrument")
    assert Decimal(trip.data["pnl"]) == d("-27.50") - ROUND_TRIP


def test_a_daily_limit_on_net_counts_the_day_charges() -> None:
    risk = RiskConfig(daily_loss_limit=d(33), limits_on=LimitsOn.NET)
    assert _long_then("112.15", risk=risk).quantity() == 50  # -25 - 5.56: not yet
    r = _long_then("112.10", risk=risk)
    (trade,) = r.trades
    assert trade.exit_reason == ExitReason.DAILY_LIMIT.value
    gross = _long_then("112.10", risk=RiskConfig(daily_loss_limit=d(33)))
    assert gross.quantity() == 50 and not gross.trades


def test_the_views_carry_gross_charges_and_net_and_say_what_limits_compare() -> None:
    r = _long_then("113.65", loss_limit=d(100), risk=RiskConfig(limits_on=LimitsOn.NET))
    view = r.engine.handle(Query(QueryKind.PNL)).data
    row = view["instruments"]["NSE:AAA"]
    assert (row["pnl"], row["charges"], row["open_charges"]) == ("50.00", "5.56", "5.56")
    assert row["net"] == "44.44"
    assert row["to_loss_limit"] == "144.44"  # from the net P&L the limit compares
    assert view["limits_on"] == "net"
    assert (view["total"]["charges"], view["total"]["net"]) == ("5.56", "44.44")
    text = fmt.pnl(view)
    assert "charges ₹5.56 · net +₹44.44" in text and "limits on net P&amp;L, after charges" in text
    limits = r.engine.handle(Query(QueryKind.LIMITS)).data
    assert limits["limits_on"] == "net"
    assert "limits on net P&amp;L, after charges" in fmt.limits(limits)
    gross = _long_then("113.65").engine.handle(Query(QueryKind.LIMITS)).data
    assert "limits on gross P&amp;L, before charges" in fmt.limits(gross)


def test_a_closed_trade_keeps_its_charges_in_the_books_and_the_trades_view() -> None:
    r = _long_then("113.65")
    r.end()
    (trade,) = r.trades
    # 50 @ 112.65 -> 113.65: brokerage 1.69 + 1.70, STT 1.42 -> 1, exchange 0.34, SEBI
    # 0.01, stamp 0.17, GST 18 % of 3.74 = 0.67
    assert (trade.pnl, trade.charges, trade.net_pnl) == (d(50), d("5.58"), d("44.42"))
    book = r.engine.pnl.books[AAA.token]
    assert (book.fees, book.open_fees) == (d("5.58"), 0)
    (row,) = r.engine.handle(Query(QueryKind.TRADES)).data
    assert (row["charges"], row["net_pnl"]) == ("5.58", "44.42")
    assert "charges ₹5.58 · net +₹44.42" in book_tables.trades([row])


def test_the_session_end_alert_gives_the_net_after_the_days_charges() -> None:
    r = _long_then("113.65")
    r.engine.handle(RunJob(Job.SQUARE_OFF, at(15, 15)))
    r.engine.handle(RunJob(Job.SESSION_END, at(15, 31)))
    (trade,) = r.trades
    (note,) = [n for n in r.notes if n.kind is AlertKind.SESSION_ENDED]
    assert trade.charges > 0
    assert note.text == (f"session ended: 1 trade, realized P&L {money(trade.pnl)}, net "
                         f"{money(trade.net_pnl)} after charges")
