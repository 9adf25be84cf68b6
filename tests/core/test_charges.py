"""Zerodha's charges (issue 15): known orders in each segment against figures worked out by
hand, a trade's net, and a day of 20 trades against a spreadsheet.

Each hand computation states its steps: brokerage per executed order (0.03 % or ₹20,
whichever is lower; options ₹20 flat) to the paisa; STT over the trade to the rupee;
exchange charges, SEBI fee (₹10 a crore) and stamp duty to the paisa; GST 18 % of
brokerage + exchange + SEBI to the paisa.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from agent.charge_book import ChargeBook
from agent.charges import (
    DEFAULT_TABLES,
    Charges,
    Leg,
    Segment,
    order_charges,
    segment_of,
    table_for,
    trade_charges,
)
from agent.models import Fill, Instrument, Order, OrderPurpose, OrderType, Side, Trade
from agent.pnl import PnlBook
from agent.serialize import trade_from_dict, trade_to_dict
from agent.timeutil import IST
from tests.helpers import at, d

T2024 = table_for(DEFAULT_TABLES, date(2025, 6, 2))
T2026 = table_for(DEFAULT_TABLES, date(2026, 6, 1))
B, S = Side.BUY, Side.SELL


def _legs(*orders: tuple[Side, int, str]) -> list[Leg]:
    return [Leg(f"o{i}", side, qty, qty * d(price)) for i, (side, qty, price) in
            enumerate(orders)]


def _c(brokerage: str, stt: str, exchange: str, sebi: str, stamp: str, gst: str) -> Charges:
    return Charges(d(brokerage), d(stt), d(exchange), d(sebi), d(stamp), d(gst))


def test_the_tables_apply_from_their_dates() -> None:
    assert T2024 is not None and T2026 is not None
    assert T2024.effective_from == date(2024, 10, 1)
    assert T2026.effective_from == date(2026, 4, 1)
    assert table_for(DEFAULT_TABLES, date(2026, 3, 31)) is T2024
    assert table_for(DEFAULT_TABLES, date(2026, 4, 1)) is T2026
    assert table_for(DEFAULT_TABLES, date(2024, 9, 30)) is None
    assert T2026.segments[Segment.FUTURES].stt_pct == d("0.05")  # Budget 2026
    assert T2024.segments[Segment.OPTIONS].stt_pct == d("0.1")


def test_equity_intraday_buy_then_sell_on_nse() -> None:
    # buy 100 @ 1,500 (1,50,000), sell 100 @ 1,510 (1,51,000): brokerage 45 -> 20 each;
    # STT 1,51,000 x 0.025 % = 37.75 -> 38; exchange 3,01,000 x 0.00307 % = 9.2407 -> 9.24;
    # SEBI 0.301 -> 0.30; stamp 1,50,000 x 0.003 % = 4.50; GST 18 % of 49.54 = 8.9172
    legs = _legs((B, 100, "1500"), (S, 100, "1510"))
    got = trade_charges(T2026, Segment.EQUITY_INTRADAY, "NSE", legs)
    assert got == _c("40.00", "38", "9.24", "0.30", "4.50", "8.92")
    assert got.total == d("100.96")
    # the 2024 table: exchange 0.00297 % = 8.9397 -> 8.94; GST 18 % of 49.24 = 8.86
    assert trade_charges(T2024, Segment.EQUITY_INTRADAY, "NSE", legs).total == d("100.60")


def test_a_small_equity_order_pays_0_03_percent_not_20_rupees() -> None:
    # buy 10 @ 500 = 5,000: 1.50; sell 10 @ 505 = 5,050: 1.515 -> 1.52; STT 1.2625 -> 1;
    # exchange 10,050 x 0.00307 % = 0.3085 -> 0.31; SEBI 0.01; stamp 0.15;
    # GST 18 % of 3.34 = 0.6012 -> 0.60
    got = trade_charges(T2026, Segment.EQUITY_INTRADAY, "NSE",
                        _legs((B, 10, "500"), (S, 10, "505")))
    assert got == _c("3.02", "1", "0.31", "0.01", "0.15", "0.60")
    assert got.total == d("5.09")


def test_futures_on_nfo_under_each_table() -> None:
    # NIFTY future, 75 @ 24,000 (18,00,000) then @ 24,100 (18,07,500): brokerage 20 + 20;
    # STT 0.05 % of 18,07,500 = 903.75 -> 904; exchange 36,07,500 x 0.00183 % = 66.017 ->
    # 66.02; SEBI 3.6075 -> 3.61; stamp 0.002 % of 18,00,000 = 36; GST 18 % of 109.63
    legs = _legs((B, 75, "24000"), (S, 75, "24100"))
    got = trade_charges(T2026, Segment.FUTURES, "NFO", legs)
    assert got == _c("40.00", "904", "66.02", "3.61", "36.00", "19.73")
    assert got.total == d("1069.36")
    # before Budget 2026: STT 0.02 % = 361.50 -> 362; exchange 0.00173 % = 62.41;
    # GST 18 % of 106.02 = 19.08
    assert trade_charges(T2024, Segment.FUTURES, "NFO", legs) == _c(
        "40.00", "362", "62.41", "3.61", "36.00", "19.08")


def test_options_pay_20_rupees_flat_and_taxes_on_the_premium() -> None:
    # NIFTY call, 150 bought @ 120.50 (18,075 of premium), sold @ 98.25 (14,737.50):
    # brokerage 20 + 20 flat; STT 0.15 % of 14,737.50 = 22.11 -> 22; exchange 32,812.50 x
    # 0.03553 % = 11.658 -> 11.66; SEBI 0.03; stamp 0.003 % of 18,075 = 0.54225 -> 0.54;
    # GST 18 % of 51.69 = 9.3042 -> 9.30
    got = trade_charges(T2026, Segment.OPTIONS, "NFO",
                        _legs((B, 150, "120.50"), (S, 150, "98.25")))
    assert got == _c("40", "22", "11.66", "0.03", "0.54", "9.30")
    assert got.total == d("83.53")


def test_a_bse_short_pays_bse_rates() -> None:
    # sell 200 @ 800 (1,60,000), buy back @ 795.50 (1,59,100): brokerage 48 -> 20 and
    # 47.73 -> 20; STT 0.025 % of 1,60,000 = 40; BSE exchange 3,19,100 x 0.00375 % =
    # 11.966 -> 11.97; SEBI 0.3191 -> 0.32; stamp 0.003 % of 1,59,100 = 4.773 -> 4.77;
    # GST 18 % of 52.29 = 9.4122 -> 9.41
    got = trade_charges(T2026, Segment.EQUITY_INTRADAY, "BSE",
                        _legs((S, 200, "800"), (B, 200, "795.50")))
    assert got == _c("40.00", "40", "11.97", "0.32", "4.77", "9.41")
    assert got.total == d("106.47")
    futures = trade_charges(T2026, Segment.FUTURES, "BFO", _legs((B, 20, "80000")))
    assert futures.exchange == 0  # BSE charges nothing on futures


def test_delivery_pays_stt_on_both_sides_and_no_brokerage() -> None:
    # buy 10 @ 1,000, sell @ 1,050 another day: STT 0.1 % of 10,000 + 10,500 = 20.50 -> 21;
    # exchange 20,500 x 0.00307 % = 0.63; SEBI 0.02; stamp 0.015 % of 10,000 = 1.50;
    # GST 18 % of 0.65 = 0.117 -> 0.12
    got = trade_charges(T2026, Segment.EQUITY_DELIVERY, "NSE",
                        _legs((B, 10, "1000"), (S, 10, "1050")))
    assert got == _c("0", "21", "0.63", "0.02", "1.50", "0.12")


def test_one_order_as_kites_contract_note_states_it_is_unrounded() -> None:
    got = order_charges(T2026, Segment.EQUITY_INTRADAY, "NSE", Leg("x", S, 10, d(5050)))
    assert got == Charges(d("1.52"), d("1.2625"), d("0.155035"), d("0.00505"), d(0),
                          (d("1.52") + d("0.155035") + d("0.00505")) * d("0.18"))


def _ins(symbol: str, kind: str = "EQ", segment: str = "") -> Instrument:
    exchange, name = symbol.split(":")
    return Instrument(1, exchange, name, d("0.05"), 1, segment=segment or exchange,
                      instrument_type=kind)


@pytest.mark.parametrize(("ins", "overnight", "segment"), [
    (_ins("NSE:INFY"), False, Segment.EQUITY_INTRADAY),
    (_ins("BSE:SBIN"), True, Segment.EQUITY_DELIVERY),
    (_ins("NFO:NIFTY26DECFUT", "FUT"), False, Segment.FUTURES),
    (_ins("NFO:NIFTY26DEC24000CE", "CE"), False, Segment.OPTIONS),
    (_ins("NFO:NIFTY26DEC24000PE"), False, Segment.OPTIONS),  # an inline one: by its name
    (_ins("BFO:SENSEX26DECFUT"), False, Segment.FUTURES),
    (_ins("MCX:CRUDEOIL26JANFUT", "FUT"), False, None),  # no commodity table here
])
def test_the_segment_of_a_trade(ins: Instrument, overnight: bool, segment: Segment | None
                                ) -> None:
    assert segment_of(ins, overnight) is segment


def test_a_trades_net_is_its_pnl_less_its_charges_and_files_carry_both() -> None:
    trade = Trade("NSE:AAA", 1, B, 100, at(9, 30), d(1500), "signal", at(10, 0), d(1510),
                  "target", d(1000), "E1", "X1", d("100.96"))
    assert trade.net_pnl == d("899.04")
    saved = trade_to_dict(trade)
    assert (saved["charges"], saved["net_pnl"]) == ("100.96", "899.04")
    assert trade_from_dict(saved) == trade
    old = {k: v for k, v in saved.items() if k not in ("charges", "net_pnl")}
    assert trade_from_dict(old).charges == 0  # a file from before issue 15


# ------------------------------------------------------------------ through the books

def _book(ins: Instrument, tables: tuple = DEFAULT_TABLES) -> tuple[PnlBook, ChargeBook]:
    charges = ChargeBook(tables)
    charges.register(ins)
    pnl = PnlBook(charge=charges.trip_charges)
    pnl.add(ins.token, ins.symbol)
    return pnl, charges


class _Orders:
    def __init__(self, pnl: PnlBook, token: int, when: datetime) -> None:
        self.pnl, self.token, self.when, self.n = pnl, token, when, 0

    def fill(self, side: Side, qty: int, price: str, tag: str = "") -> Trade | None:
        self.n += 1
        tag = tag or f"T{self.n}"
        order = Order(tag, self.token, "x", side, qty, OrderType.MARKET, OrderPurpose.ENTRY,
                      "signal", self.when)
        return self.pnl.apply_fill(Fill(tag, self.token, side, qty, d(price), self.when),
                                   order, None)


# Twenty intraday round trips on NSE under the 2026 table, and each one's charges from a
# spreadsheet (exact fractions, one row per trade: =MIN(20, 0.03% x value) per order, STT
# =ROUND(0.025% x sell value, 0), exchange =ROUND(0.00307% x turnover, 2), SEBI
# =ROUND(turnover / 10^6, 2), stamp =ROUND(0.003% x buy value, 2), GST =ROUND(18% x
# (brokerage + exchange + SEBI), 2)).
DAY_OF_20 = [
    ("BUY", 20, "1632.10", "1645.40", "266.00", "34.63"),
    ("SELL", 20, "1645.40", "1651.00", "-112.00", "34.80"),
    ("BUY", 25, "1480.55", "1472.30", "-206.25", "39.00"),
    ("SELL", 25, "1472.30", "1466.05", "156.25", "38.86"),
    ("BUY", 18, "1890.00", "1902.75", "229.50", "36.75"),
    ("SELL", 18, "1902.75", "1899.20", "63.90", "36.82"),
    ("BUY", 40, "812.35", "809.10", "-130.00", "34.35"),
    ("SELL", 40, "809.10", "805.65", "138.00", "34.25"),
    ("BUY", 45, "702.40", "706.85", "200.25", "33.77"),
    ("SELL", 45, "706.85", "708.00", "-51.75", "33.87"),
    ("BUY", 70, "455.20", "454.10", "-77.00", "33.87"),
    ("SELL", 70, "454.10", "451.95", "150.50", "33.78"),
    ("BUY", 20, "1702.00", "1698.35", "-73.00", "35.64"),
    ("SELL", 20, "1698.35", "1690.90", "149.00", "35.55"),
    ("BUY", 12, "2855.50", "2861.25", "69.00", "36.89"),
    ("SELL", 12, "2861.25", "2866.80", "-66.60", "36.93"),
    ("BUY", 60, "530.12", "531.40", "76.80", "33.88"),
    ("SELL", 60, "531.40", "529.95", "87.00", "33.88"),
    ("BUY", 110, "298.45", "296.70", "-192.50", "34.61"),
    ("SELL", 110, "296.70", "297.90", "-132.00", "34.59"),
]


def test_a_day_of_20_trades_matches_the_spreadsheet() -> None:
    ins = _ins("NSE:MIX")
    pnl, _ = _book(ins)
    orders = _Orders(pnl, ins.token, datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    trades = []
    for side, qty, entry, exit_, _, _ in DAY_OF_20:
        opening = Side(side)
        assert orders.fill(opening, qty, entry) is None
        trade = orders.fill(opening.opposite, qty, exit_)
        assert trade is not None
        trades.append(trade)
    assert [(str(t.pnl), str(t.charges)) for t in trades] == [
        (f"{Decimal(g):.2f}", c) for *_, g, c in DAY_OF_20]
    gross = sum((t.pnl for t in trades), Decimal(0))
    charges = sum((t.charges for t in trades), Decimal(0))
    assert (gross, charges, gross - charges) == (d("545.10"), d("706.72"), d("-161.62"))
    book = pnl.books[ins.token]
    assert (book.fees, book.open_fees, book.net) == (charges, 0, gross - charges)
    assert pnl.fresh_total(net=True) == gross - charges


def test_one_order_filled_in_parts_pays_one_brokerage_and_two_exit_orders_pay_two() -> None:
    ins = _ins("NSE:AAA")
    pnl, charges = _book(ins)
    orders = _Orders(pnl, ins.token, datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    orders.fill(B, 60, "1000", tag="E1")
    orders.fill(B, 40, "1000", tag="E1")  # the same entry order: one leg of 1,00,000
    assert pnl.books[ins.token].legs == [Leg("E1", B, 100, d(100000))]
    assert orders.fill(S, 30, "1010", tag="X1") is None  # a partial exit order
    trade = orders.fill(S, 70, "1010", tag="X2")  # and a second one closes
    assert trade is not None
    legs = [Leg("E1", B, 100, d(100000)), Leg("X1", S, 30, d(30300)),
            Leg("X2", S, 70, d(70700))]
    assert pnl.last_legs == tuple(legs)
    # brokerage 20 + 9.09 + 20: three executed orders
    expected = trade_charges(T2026, Segment.EQUITY_INTRADAY, "NSE", legs)
    assert expected.brokerage == d("49.09")
    assert trade.charges == expected.total
    assert charges.breakdown(ins.token, legs, trade.entry_time, trade.exit_time) == expected


def test_an_open_position_carries_its_estimated_round_trip() -> None:
    ins = _ins("NSE:AAA")
    pnl, _ = _book(ins)
    orders = _Orders(pnl, ins.token, datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    orders.fill(B, 100, "1500")
    book = pnl.books[ins.token]
    # both sides at the entry price: 20 + 20, STT 37.50 -> 38, exchange 9.21, SEBI 0.30,
    # stamp 4.50, GST 18 % of 49.51 = 8.91
    assert (book.fees, book.open_fees) == (0, d("100.92"))
    book.mark = d(1510)
    assert book.net == d(1000) - d("100.92")


def test_a_day_before_every_table_is_priced_by_the_oldest_and_says_so(caplog) -> None:
    ins = _ins("NSE:AAA")
    pnl, _ = _book(ins)
    orders = _Orders(pnl, ins.token, at(10, 0))  # 2024-01-15
    orders.fill(B, 100, "1500")
    trade = orders.fill(S, 100, "1510")
    assert trade is not None and trade.charges == d("100.60")  # the 2024 table
    assert "no charge table applies on 2024-01-15: the oldest (2024-10-01)" in caplog.text
    assert caplog.text.count("no charge table applies") == 1  # once


def test_a_position_held_overnight_is_priced_as_delivery() -> None:
    ins = _ins("NSE:AAA")
    charges = ChargeBook(DEFAULT_TABLES)
    charges.register(ins)
    legs = _legs((B, 10, "1000"), (S, 10, "1050"))
    day1 = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
    day2 = datetime(2026, 11, 24, 10, 0, tzinfo=IST)
    assert charges.trip_charges(ins.token, legs, day1, day2) == d("23.27")
    # the same day: intraday, brokerage 3 + 3.15, STT 2.625 -> 3, exchange 0.63, SEBI
    # 0.02, stamp 0.30, GST 18 % of 6.80 = 1.22
    assert charges.trip_charges(ins.token, legs, day1, day1) == d("11.32")


def test_a_restart_keeps_the_open_trips_orders_and_the_days_charges() -> None:
    from agent.pnl import book_to_dict, read_books

    ins = _ins("NSE:AAA")
    pnl, _ = _book(ins)
    orders = _Orders(pnl, ins.token, datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    orders.fill(B, 100, "1500")
    orders.fill(S, 100, "1510")
    orders.fill(B, 10, "1505", tag="E9")
    saved = book_to_dict(pnl.books[ins.token])
    assert saved["legs"] == [{"tag": "E9", "side": "BUY", "quantity": 10, "value": "15050"}]
    (back,) = read_books([("positions[0]", saved)])
    mine = pnl.books[ins.token]
    assert (back.legs, back.fees, back.open_fees) == (mine.legs, mine.fees, mine.open_fees)
    assert back.fees == d("100.96")
    older = {k: v for k, v in saved.items() if k not in ("legs", "fees", "open_fees")}
    (before_15,) = read_books([("positions[0]", older)])  # a file from before issue 15
    assert (before_15.legs, before_15.fees) == ([], 0)
