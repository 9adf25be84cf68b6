"""/status rendering over crafted views: what each form says, and that every line fits a
phone screen 40 columns wide (measured here independently of the formatter's own
``width``: tags dropped, entities decoded, emoji counted as two columns)."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal

import pytest

from agent.models import Side
from agent.session import LoginState
from agent.settings import StrategyParams
from agent.status_view import (
    DayPhase,
    InstrumentStatus,
    Phase,
    PositionStatus,
    StatusHeader,
    StatusView,
)
from agent.strategy.base import AlertView
from agent.timeutil import IST
from handlers import status_format, status_table
from handlers.services import FeedInfo
from handlers.status_table import short_symbol
from handlers.text import html_to_plain, money, split_message

D = Decimal
DAY = date(2026, 12, 7)  # a Monday
FEED = FeedInfo(True, 0.4)
LOGIN = LoginState("AB1234", datetime(2026, 12, 8, 6, 0, tzinfo=IST))


def t(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(DAY, time(hh, mm, ss), tzinfo=IST)


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in html_to_plain(line))


def assert_fits(text: str) -> None:
    for line in text.split("\n"):
        assert columns(line) <= 40, f"{columns(line)} columns: {html_to_plain(line)!r}"


def phase(kind: Phase = Phase.ENTRIES) -> DayPhase:
    return DayPhase(kind, t(9, 15), t(15, 0), t(15, 15), t(15, 30))


def head(**kw: object) -> StatusHeader:
    base = dict(now=t(10, 42, 5), state="running", mode="paper", feed="kite", phase=phase(),
                login_needed=False, broker_synced=True, realized=D("450"),
                unrealized=D("975"), trades=2, positions=1)
    base.update(kw)
    return StatusHeader(**base)  # type: ignore[arg-type]


def row(symbol: str = "NSE:ADANIPORTS", **kw: object) -> InstrumentStatus:
    base = dict(symbol=symbol, tick_size=D("0.05"), lot_size=1, derivative=False,
                last=D("1580.20"), position=None, alerts=(), realized=D(0), trades_today=0,
                params=StrategyParams())
    base.update(kw)
    return InstrumentStatus(**base)  # type: ignore[arg-type]


LONG = PositionStatus(Side.BUY, 150, D("1573.70"), D("1570.00"), D("1590.00"), D("975.00"),
                      t(10, 5), "signal")
SHORT = PositionStatus(Side.SELL, 40, D("2400.00"), D("2420.50"), None, D("-62.00"),
                       t(10, 7), "reverse")
BUY_ALERT = AlertView(Side.BUY, D("1215.50"), D("1215.50"), D("1198.20"), t(10, 30))
SELL_ALERT = AlertView(Side.SELL, D("1198.20"), D("1215.50"), D("1198.20"), t(10, 30))


def view(*rows: InstrumentStatus, **kw: object) -> StatusView:
    return StatusView(head(**kw), rows)


# ---------------------------------------------------------------- the default /status


def test_header_says_time_mode_phase_login_feed_and_gross_pnl() -> None:
    text = status_format.status(view(row(position=LONG)), FEED, LOGIN)
    lines = text.split("\n")
    assert lines[0] == "🟢 <b>Running</b> · paper · 10:42:05 IST"
    assert lines[1] == "Entries until 15:00 · feed up, 0.4 s"
    assert lines[2] == "Kite AB1234 valid till 06:00 Tue"
    assert lines[3] == f"Day P&amp;L <b>{money(D('1425'))}</b> gross · 2 trades"
    assert "net" not in text  # no charges yet: the gross alone
    assert_fits(text)


def test_net_pnl_is_shown_once_charges_exist() -> None:
    text = status_format.status(view(net=D("1300")), FEED, LOGIN)
    assert f"gross, net {money(D('1300'))}" in text


@pytest.mark.parametrize(("kind", "says"), [
    (Phase.PRE_OPEN, "Pre-open: entries from 09:15"),
    (Phase.ENTRIES, "Entries until 15:00"),
    (Phase.CUTOFF, "Cutoff 15:00 passed · square-off 15:15"),
    (Phase.SQUARED_OFF, "Square-off 15:15 done"),
])
def test_the_day_phase(kind: Phase, says: str) -> None:
    text = status_format.status(view(phase=phase(kind)), FEED, LOGIN)
    assert text.split("\n")[1].startswith(says)
    assert_fits(text)


def test_closed_days_say_why_and_the_next_trading_day() -> None:
    closed = DayPhase(Phase.CLOSED, why_closed="weekend (Saturday)", next_day=DAY)
    text = status_format.status(view(phase=closed), FeedInfo(False, None, "not connected "
                                                             "(outside the session)"), LOGIN)
    lines = text.split("\n")
    assert lines[1:3] == ["Closed: weekend (Saturday)", "next trading day Mon 7 Dec"]
    assert lines[3].startswith("feed DOWN (not connected")
    after = DayPhase(Phase.AFTER_CLOSE, next_day=date(2026, 12, 8))
    text = status_format.status(view(phase=after), FEED, LOGIN)
    assert "\nClosed for the day · next Tue 8 Dec\nfeed up, 0.4 s\n" in text
    assert_fits(text)


def test_why_entries_are_blocked_and_the_login() -> None:
    text = status_format.status(view(state="paused"), FEED, LOGIN)
    assert text.startswith("🟡 <b>Paused</b>") and "Paused: no new entries (/resume)" in text
    text = status_format.status(view(state="stopped"), FEED, LOGIN)
    assert "Stopped: no new entries (/start)" in text
    assert "⚠️ Kite login needed: /login" in status_format.status(
        view(), FEED, LoginState("AB1234", None))
    assert "⚠️ Kite refused the login: /login" in status_format.status(
        view(login_needed=True), FEED, LOGIN)
    sim = status_format.status(view(mode="live", feed="sim"), FEED, None)
    assert sim.startswith("🟢 <b>Running</b> · LIVE (sim) · ")
    assert "Login: sim, no login needed" in sim
    assert "Login" not in status_format.status(view(), FEED, None)  # nothing known: nothing
    assert "feed n/a" in status_format.status(view(), None, None)


def test_a_long_position_with_its_stop_risk_and_target_in_three_lines() -> None:
    text = status_format.status(view(row(position=LONG)), FEED, LOGIN)
    block = text.split("\n\n")[1].split("\n")
    risk = money(D("10.20") * 150, sign=False)  # (1580.20 - 1570.00) x 150
    assert block == [f"<b>ADANIPORTS</b> LONG 150 · risk {risk}",
                     f"@ 1573.70 → 1580.20 · P&amp;L <b>{money(D('975'))}</b>",
                     "SL 1570.00 -10.20 -0.65% · TGT 1590.00"]
    assert_fits(text)


def test_a_short_position_stop_above_and_no_target() -> None:
    text = status_format.status(view(row("NSE:TCS", last=D("2401.55"), position=SHORT)),
                                FEED, LOGIN)
    block = text.split("\n\n")[1].split("\n")
    assert block[0] == f"<b>TCS</b> SHORT 40 · risk {money(D('18.95') * 40, sign=False)}"
    assert block[2] == "SL 2420.50 +18.95 +0.79%"


def test_a_stop_past_the_entry_locks_a_profit() -> None:
    trailed = dataclasses.replace(LONG, stop=D("1576.00"))
    text = status_format.status(view(row(position=trailed)), FEED, LOGIN)
    assert f"LONG 150 · locks {money(D('2.30') * 150)}" in text  # (1576 - 1573.70) x 150
    assert "risk" not in text


def test_flat_with_an_armed_alert_its_distance_and_band() -> None:
    text = status_format.status(view(row("NSE:CDSL", last=D("1210.05"), alerts=(BUY_ALERT,),
                                         realized=D("450"), trades_today=1)), FEED, LOGIN)
    block = text.split("\n\n")[1].split("\n")
    assert block == ["<b>CDSL</b> flat at 1210.05", "BUY above 1215.50 +5.45 +0.45%",
                     f"band 1198.20–1215.50 · day {money(D('450'))}"]
    sell = status_format.status(view(row("NSE:CDSL", last=D("1210.05"),
                                         alerts=(SELL_ALERT,))), FEED, LOGIN)
    assert "SELL below 1198.20 -11.85 -0.98%" in sell
    assert_fits(text)


def test_flat_without_alert_and_waiting_for_data() -> None:
    text = status_format.status(view(row("NSE:INFY"), row("NSE:HDFCBANK", last=None)),
                                FEED, LOGIN)
    assert "<b>INFY</b> flat at 1580.20 · no alert" in text
    assert "<b>HDFCBANK</b> waiting for data" in text


def test_halts_and_orders_at_work_say_why() -> None:
    text = status_format.status(view(
        row("NSE:INFY", halted="its loss limit reached", realized=D("-1200"), trades_today=3),
        row("NSE:TCS", position=SHORT, working="exiting (square_off)")), FEED, LOGIN)
    assert "⛔ halted: its loss limit reached" in text
    assert "⏳ exiting (square_off)" in text
    assert_fits(text)


def test_fno_quantities_are_in_lots() -> None:
    option = row("NFO:NIFTY26D1524500CE", derivative=True, lot_size=75, last=D("245.30"),
                 position=dataclasses.replace(LONG, quantity=150, entry=D("240.10"),
                                              stop=D("231.00"), target=None,
                                              unrealized=D("780")))
    text = status_format.status(view(option), FEED, LOGIN)
    assert "<b>NIFTY26D1524500CE</b> LONG 2 lots (150)" in text
    one = dataclasses.replace(option, position=dataclasses.replace(option.position,
                                                                   quantity=75))
    assert "LONG 1 lot (75)" in status_format.status(view(one), FEED, LOGIN)
    assert_fits(text)


def test_big_numbers_still_fit_in_forty_columns() -> None:
    huge = PositionStatus(Side.SELL, 10000, D("135000.00"), D("137500.00"), D("120000.00"),
                          D("-1234567.50"), t(9, 30), "signal")
    option = row("BFO:BANKEX26DEC6500000PE", derivative=True, lot_size=15,
                 last=D("135123.45"), position=huge, realized=D("-9876543.21"),
                 halted="group very_long_group_name's loss limit reached",
                 working="exiting (group_limit)")
    text = status_format.status(view(option, realized=D("-98765432.10"),
                                     unrealized=D("-1234567.50")), FeedInfo(False, None,
                                                                            "reconnecting"),
                                LOGIN)
    assert_fits(text)
    assert_fits(status_format.detail(view(option), option, FEED, LOGIN))
    assert_fits(status_table.table(view(option), FEED, LOGIN))


# ---------------------------------------------------------------- /status SYMBOL


def test_detail_shows_one_instrument_in_full() -> None:
    r = row(position=LONG, alerts=(BUY_ALERT, SELL_ALERT), trades_today=2,
            realized=D("450"), params=StrategyParams(max_trades_per_day=3,
                                                     target_multiple=D(2)))
    text = status_format.detail(view(r), r, FEED, LOGIN)
    assert "<b>NSE:ADANIPORTS</b> LONG 150" in text
    assert "entered 10:05 (signal)" in text
    assert "reverse: SELL below 1198.20" in text  # only the opposite alert can act
    assert "BUY above" not in text
    assert "2 entries today (max 3)" in text
    assert "5m, 0.5%, lots 1, BOTH, trailing, reverse, target x2" in html_to_plain(
        text).replace("\n", " ")
    assert "Day P&amp;L" not in text  # the short header
    assert_fits(text)


# ---------------------------------------------------------------- /status table


def test_table_is_aligned_fits_and_totals() -> None:
    rows = (row(position=LONG, realized=D("450")),
            row("NSE:CDSL", last=D("1210.05"), alerts=(BUY_ALERT,)),
            row("NSE:TCS", last=D("2401.55"), alerts=(SELL_ALERT,)),
            row("NSE:INFY", halted="its loss limit reached", realized=D("-320.40")),
            row("NSE:HDFCBANK", last=None),
            row("NFO:NIFTY26D1524500CE", derivative=True, lot_size=75, last=D("245.30"),
                position=dataclasses.replace(SHORT, quantity=150, entry=D("250.00"),
                                             stop=D("260.00"), unrealized=D("705"))))
    text = status_table.table(view(*rows), FEED, LOGIN)
    assert_fits(text)
    pre = text[text.index("<pre>") + 5:text.index("</pre>")].split("\n")
    assert len({len(html_to_plain(line)) for line in pre[:-1]}) == 1  # aligned
    assert html_to_plain(pre[0]).split() == ["SYMBOL", "POS", "LAST", "SL/TRIG", "P&L"]
    cells = [html_to_plain(line).split() for line in pre[1:-1]]
    assert cells[0] == ["ADANIPORTS", "+150", "1580.20", "1570.00",
                        status_table.whole(D("1425"))]
    assert cells[1][2:4] == ["1210.05", ">1215.50"]
    assert cells[2][3] == "<1198.20"
    assert cells[3][3] == "halted"
    assert cells[4][2:4] == ["-", "no"]  # 'no data'
    assert cells[5][:2] == ["NIF…4500CE", "-2L"]
    assert html_to_plain(pre[-1]).split() == ["TOTAL", "1", "open",
                                              status_table.whole(D("1425"))]
    assert "+2L: 2 lots" in text
    assert "⛔ INFY: its loss limit reached" in text
    assert text.startswith("🟢 <b>Running</b> · paper · 10:42:05 IST\n"
                           "Entries until 15:00 · feed up, 0.4 s\n\n<pre>")


def test_table_of_many_instruments_splits_between_blocks_never_inside() -> None:
    rows = tuple(row(f"NSE:SYM{i:03d}", last=D("100") + i, alerts=(BUY_ALERT,))
                 for i in range(150))
    text = status_table.table(view(*rows), FEED, LOGIN)
    assert_fits(text)
    chunks = split_message(text)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.count("<pre>") == chunk.count("</pre>")
        for pre in chunk.split("<pre>")[1:]:  # every block starts with the column names
            assert html_to_plain(pre).split()[:2] == ["SYMBOL", "POS"]
    assert sum(c.count("SYM") for c in chunks) == 150 + text.count("SYMBOL")


def test_table_with_absurd_prices_still_fits() -> None:
    rows = tuple(row(f"MCX:GOLDPETAL26DEC{i}FUT", derivative=True, lot_size=1,
                     tick_size=D("0.0025"), last=D("9876543.2125"),
                     position=dataclasses.replace(SHORT, quantity=1000000,
                                                  stop=D("9999999.9975")),
                     realized=D("-987654321.25")) for i in range(3))
    assert_fits(status_table.table(view(*rows), FEED, LOGIN))


@pytest.mark.parametrize(("symbol", "width", "short"), [
    ("ADANIPORTS", 10, "ADANIPORTS"),
    ("NIFTY2612324500CE", 10, "NIF…4500CE"),
    ("BANKNIFTY26DEC52000PE", 10, "BAN…2000PE"),
    ("RELIANCE26DECFUT", 10, "RELIAN…FUT"),
    ("ABCDEFGHIJKLM", 10, "ABCDEFGHI…"),
    ("NIFTY2612324500CE", 6, "NIFTY…"),
])
def test_short_symbol_rule(symbol: str, width: int, short: str) -> None:
    assert short_symbol(symbol, width) == short
    assert len(short_symbol(symbol, width)) <= width


def test_no_instruments() -> None:
    assert "No instruments: /add SYMBOL" in status_format.status(view(), FEED, LOGIN)
    assert "No instruments: /add SYMBOL" in status_table.table(view(), FEED, LOGIN)


# ---------------------------------------------------------------- splitting long replies


def test_a_long_reply_is_cut_between_paragraphs() -> None:
    blocks = [f"<b>S{i}</b> line one\nline two of {i}\nline three" for i in range(200)]
    chunks = split_message("\n\n".join(blocks))
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk) <= 4000
        assert chunk.startswith("<b>S") and chunk.endswith("line three")
