"""The replies redesigned for a phone 40 columns wide (issue 14), exactly: /positions,
/orders and /trades as <pre> tables, /pnl, /limits, /instruments, /logs, the day report's
text, the /squareoff buttons; and the wrapping every other reply goes through
(``handlers.phone``). Each is also measured with the tests' own width check."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from agent.models import Side, Trade
from agent.reports import day_report, summary_text
from handlers import book_tables, formatting, log_view
from handlers.args import COMMANDS
from handlers.phone import blocks, columns, item, pack, short_names, wrap, wrap_text
from handlers.text import split_message
from handlers.trading_cmds import _exit_label
from tests.handlers.phone import assert_fits
from tests.helpers import at, d


def _order(**over: Any) -> dict[str, Any]:
    row = {"symbol": "NSE:ADANIPORTS", "side": "BUY", "quantity": 150, "order_type": "LIMIT",
           "purpose": "ENTRY", "reason": "signal", "status": "COMPLETE",
           "average_price": "1632.10", "created_at": "2026-12-07T09:52:48+05:30",
           "product": "MIS", "exchange": "NSE", "lot_size": 1, "filled_quantity": 150}
    return {**row, **over}


def _trade(**over: Any) -> dict[str, Any]:
    row = {"symbol": "NSE:ADANIPORTS", "side": "BUY", "quantity": 150,
           "entry_price": "1632.10", "exit_price": "1645.40", "exit_reason": "trailing_stop",
           "pnl": "1995.00", "entry_time": "2026-12-07T09:52:48+05:30",
           "exit_time": "2026-12-07T10:34:40+05:30", "exchange": "NSE", "lot_size": 1}
    return {**row, **over}


OPTION = {"symbol": "NFO:BANKNIFTY26DEC48000PE", "exchange": "NFO", "lot_size": 30,
          "expiry": "2026-12-24"}


# ---------------------------------------------------------------- wrapping


def test_prose_breaks_after_a_clause_and_keeps_tags_balanced() -> None:
    assert wrap("✅ paused: no new entries; open positions still managed") == [
        "✅ paused: no new entries;", "open positions still managed"]
    assert wrap('<b>Stop trading now</b> and <a href="http://x.y/a b">the Kite login page '
                'here</a> too, please do it') == [
        '<b>Stop trading now</b> and <a href="http://x.y/a b">the Kite login page</a>',
        '<a href="http://x.y/a b">here</a> too, please do it']  # a link counts as its text
    assert wrap("usage: <code>/limits [daily|GROUP profit_target|loss_limit VALUE]</code>",
                indent="  ") == ["usage: <code>/limits [daily|GROUP</code>",
                                 "  <code>profit_target|loss_limit VALUE]</code>"]
    assert wrap("✅ NSE:BBB: added, trading from its next tick") == [
        "✅ NSE:BBB: added,", "trading from its next tick"]
    assert wrap("fits as it is") == ["fits as it is"]


def test_a_word_wider_than_a_line_is_cut_never_inside_an_entity() -> None:
    assert wrap("x" * 90) == ["x" * 40, "x" * 40, "x" * 10]
    amps = "&amp;" * 43
    assert wrap(f"a {amps}") == ["a", "&amp;" * 40, "&amp;" * 3]
    assert wrap("  " + "y" * 50, indent="  ") == ["  " + "y" * 36, "    " + "y" * 14]


def test_lines_in_a_pre_are_left_to_their_table() -> None:
    table = "<pre>" + "y" * 60 + "\n" + "z" * 60 + "</pre>"
    assert wrap_text(f"{table}\n{'w ' * 24}w") == (
        f"{table}\n{'w ' * 19}w\n{'w ' * 4}w")


def test_columns_count_emoji_twice_and_links_as_their_text() -> None:
    assert columns('✅ <b>a</b> &amp; <a href="https://example.com/long">link</a>') == 11


def test_items_packs_and_short_names() -> None:
    assert item("<b>NSE:AAA</b>", ["token 1", "lot 50", "tick 0.05"]) == [
        "<b>NSE:AAA</b> token 1 · lot 50 · tick 0.05"]
    assert item("<b>NSE:ADANIPORTS</b>", ["token 3861249", "lot 1", "tick 0.05"]) == [
        "<b>NSE:ADANIPORTS</b>", "  token 3861249 · lot 1 · tick 0.05"]
    assert pack(["one", "", "two"], indent="  ") == ["  one · two"]
    assert short_names(["NSE:INFY", "BSE:INFY", "NSE:TCS"]) == {
        "NSE:INFY": "NSE:INFY", "BSE:INFY": "BSE:INFY", "NSE:TCS": "TCS"}


def test_long_tables_come_in_blocks_split_message_does_not_cut() -> None:
    rows = [[f"row {i:03d} " + "x" * 30, "  detail"] for i in range(300)]
    text = "title\n" + "\n\n".join(blocks("HEAD", rows))
    chunks = split_message(text)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.count("<pre>") == chunk.count("</pre>") >= 1
        assert all(part.startswith("HEAD\nrow ") for part in chunk.split("<pre>")[1:])
    assert sum(c.count("  detail") for c in chunks) == 300


# ---------------------------------------------------------------- /positions


def test_positions_two_lines_each_f_and_o_in_lots_with_expiry() -> None:
    rows = [{"symbol": "NSE:ADANIPORTS", "quantity": 150, "side": "BUY", "entry": "1573.70",
             "stop": "1570.00", "target": "1590.00", "last_price": "1580.20",
             "unrealized": "975.00", "product": "MIS", "exchange": "NSE", "lot_size": 1},
            {**OPTION, "quantity": -900, "side": "SELL", "entry": "135000.00",
             "stop": "137500.00", "target": "120000.00", "last_price": "135123.45",
             "unrealized": "-1234567.50", "product": "NRML"},
            {"symbol": "BSE:ADANIPORTS", "quantity": 10, "side": "BUY", "entry": "1573.70",
             "stop": None, "target": None, "last_price": "1580.20", "unrealized": "65.00",
             "product": "CNC", "exchange": "BSE", "lot_size": 1}]
    text = formatting.positions(rows)
    assert text == (
        "<b>NSE:ADANIPORTS</b> LONG 150 · P&amp;L <b>+₹975.00</b>\n"
        "@ 1,573.70 → 1,580.20 · SL 1,570.00\n"
        "TGT 1,590.00\n\n"
        "<b>BANKNIFTY26DEC48000PE</b> exp 24 Dec\n"
        "SHORT 30 lots (900) NRML\n"
        "P&amp;L <b>-₹12,34,567.50</b>\n"
        "@ 1,35,000.00 → 1,35,123.45\n"
        "SL 1,37,500.00 · TGT 1,20,000.00\n\n"
        "<b>BSE:ADANIPORTS</b> LONG 10 CNC · P&amp;L <b>+₹65.00</b>\n"
        "@ 1,573.70 → 1,580.20 · SL none")  # ADANIPORTS is on two exchanges: named whole
    assert_fits(text)
    assert formatting.positions([]) == "no open positions"


# ---------------------------------------------------------------- /orders and /trades


def test_orders_as_a_table_with_what_a_column_cannot_hold_below() -> None:
    rows = [_order(),
            _order(side="SELL", order_type="SL-M", purpose="STOP", reason="stop",
                   status="TRIGGER_PENDING", average_price=None, trigger_price="1620.00",
                   created_at="2026-12-07T09:52:49+05:30", filled_quantity=0),
            _order(**OPTION, quantity=90, status="CANCELLED", price="245.30",
                   average_price="245.30", created_at="2026-12-07T10:01:00+05:30",
                   product="NRML", filled_quantity=30),
            _order(symbol="NSE:M&M", quantity=10, order_type="MARKET", status="REJECTED",
                   average_price=None, created_at="2026-12-07T04:35:00+00:00",  # in UTC
                   product="CNC", filled_quantity=0,
                   message="Insufficient funds. Required margin is 29,123.50 but available "
                           "margin is 1,200.00 <ok>")]
    text = book_tables.orders(rows)
    assert text == (
        "<b>Last 4 orders</b> (IST)\n"
        "<pre>TIME     SYMBOL            SIDE    PRICE\n"
        "09:52:48 ADANIPORTS        BUY  1,632.10\n"
        "  150 filled · LIMIT · entry (signal)\n"
        "09:52:49 ADANIPORTS        SELL 1,620.00\n"
        "  150 waiting · SL-M · stop\n"
        "10:01:00 BANKNIFTY2…8000PE BUY    245.30\n"
        "  1 lot (30) of 3 lots (90) NRML filled,\n"
        "  cancelled · LIMIT\n"
        "  BANKNIFTY26DEC48000PE exp 24 Dec\n"
        "  entry (signal)\n"
        "10:05:00 M&amp;M               BUY       MKT\n"
        "  10 CNC REJECTED · MARKET\n"
        "  entry (signal)\n"
        "  Insufficient funds.\n"
        "  Required margin is 29,123.50 but\n"
        "  available margin is 1,200.00 &lt;ok&gt;</pre>")
    assert_fits(text)
    assert book_tables.orders([]) == "no orders today"


def test_trades_as_a_table_with_a_totals_line() -> None:
    rows = [_trade(),
            _trade(**OPTION, side="SELL", quantity=60, entry_price="245.30",
                   exit_price="251.00", exit_reason="stop", pnl="-342.00",
                   entry_time="2026-12-07T10:01:00+05:30",
                   exit_time="2026-12-07T11:15:05+05:30")]
    text = book_tables.trades(rows)
    assert text == (
        "<b>Last 2 trades</b> (IST)\n"
        "<pre>EXIT     SYMBOL         SIDE         P&amp;L\n"
        "10:34:40 ADANIPORTS     LONG  +₹1,995.00\n"
        "  150 @ 1,632.10 → 1,645.40\n"
        "  in 09:52:48 · held 41 min\n"
        "  trailing stop hit\n"
        "11:15:05 BANKNIF…8000PE SHORT   -₹342.00\n"
        "  2 lots (60) @ 245.30 → 251.00\n"
        "  BANKNIFTY26DEC48000PE exp 24 Dec\n"
        "  in 10:01:00 · held 1 h 14 min\n"
        "  stop hit\n"
        "2 trades, 1 won               +₹1,653.00</pre>")
    assert_fits(text)
    assert book_tables.trades([]) == "no trades today"


@pytest.mark.parametrize("n", [1, 40, 500])
def test_many_orders_and_trades_fit_and_are_never_cut_inside_a_block(n: int) -> None:
    big = [_order(symbol=f"NSE:SYMBOL{i:03d}", average_price="135123.45", quantity=150000)
           for i in range(n)]
    trades = [_trade(symbol=f"NSE:SYMBOL{i:03d}", pnl="-12345678.50") for i in range(n)]
    for text, head in ((book_tables.orders(big), "TIME "), (book_tables.trades(trades),
                                                           "EXIT ")):
        assert_fits(text)
        for chunk in split_message(text):
            assert all(block.startswith(head) for block in chunk.split("<pre>")[1:])


# ---------------------------------------------------------------- /pnl, /limits, /instruments


def test_pnl_a_block_per_scope() -> None:
    data = {"total": {"pnl": "1425", "to_profit_target": "8575", "to_loss_limit": "6425"},
            "instruments": {
                "NSE:ADANIPORTS": {"realized": "450", "unrealized": "975", "pnl": "1425",
                                   "to_profit_target": None, "to_loss_limit": "3425"},
                "NSE:TCS": {"realized": "0", "unrealized": "0", "pnl": "0",
                            "to_profit_target": None, "to_loss_limit": None}},
            "groups": {"banks": {"pnl": "1425", "to_profit_target": None,
                                 "to_loss_limit": None}}}
    assert formatting.pnl(data) == (
        "<b>Day P&amp;L</b> <b>+₹1,425.00</b>\n"
        "₹8,575.00 to target\n₹6,425.00 to loss limit\n\n"
        "<b>ADANIPORTS</b> +₹1,425.00\n"
        "realized +₹450.00 · unrealized +₹975.00\n"
        "₹3,425.00 to loss limit\n\n"
        "<b>TCS</b> ₹0.00 · no limits\n\n"
        "<b>Group banks</b> +₹1,425.00 · no limits")
    huge = {"total": {"pnl": "-98765432.10", "to_profit_target": "98865432.10",
                      "to_loss_limit": "-98665432.10"},
            "instruments": {OPTION["symbol"]: {
                "realized": "-98765432.10", "unrealized": "-1234567.50",
                "pnl": "-99999999.60", "to_profit_target": "100000000",
                "to_loss_limit": None}},
            "groups": {"very_long_group_name": {"pnl": "1425", "to_profit_target": "3575",
                                                "to_loss_limit": "6425"}}}
    assert_fits(formatting.pnl(huge))


def test_limits_as_a_table() -> None:
    data = {"daily": {"profit_target": "10000", "loss_limit": "5000"},
            "groups": {"banks": {"profit_target": "5000", "loss_limit": "0",
                                 "instruments": ["NSE:HDFCBANK", "NSE:ICICIBANK"]}}}
    rows = [{"symbol": "NSE:HDFCBANK", "settings": {"profit_target": "0", "loss_limit": "0"}},
            {"symbol": "NSE:ICICIBANK", "settings": {"profit_target": "0",
                                                     "loss_limit": "1500"}}]
    text = formatting.limits(data, rows)
    assert text == (
        "<b>Limits</b>: profit target, loss limit\n"
        "<pre>                TARGET      LOSS\n"
        "daily       ₹10,000.00 ₹5,000.00\n"
        "group banks  ₹5,000.00      none\n"
        "HDFCBANK          none      none\n"
        "ICICIBANK         none ₹1,500.00</pre>\n"
        "group banks: HDFCBANK, ICICIBANK\n"
        "limits on gross P&amp;L, before charges\n"
        "Change: /limits daily|GROUP KEY VALUE\n"
        "one instrument: /set KEY VALUE SYMBOL\n"
        "KEY: profit_target or loss_limit")
    widest = {"daily": {"profit_target": "100000000", "loss_limit": "100000000"},
              "groups": {"very_long_group_name": {
                  "profit_target": "5000", "loss_limit": "0",
                  "instruments": ["NSE:ADANIPORTS", OPTION["symbol"], "NSE:TCS"]}}}
    assert_fits(formatting.limits(widest, [{"symbol": OPTION["symbol"], "settings": {
        "profit_target": "99999999.99", "loss_limit": "100000000"}}]))


def test_instruments_keep_the_exchange_commands_take() -> None:
    text = formatting.instruments([
        {"symbol": "NSE:AAA", "token": 1, "lot_size": 1, "tick_size": "0.05",
         "exchange": "NSE"},
        {**OPTION, "token": 12345678, "tick_size": "0.05"}])
    assert text == ("<b>NSE:AAA</b> token 1 · lot 1 · tick 0.05\n"
                    "<b>NFO:BANKNIFTY26DEC48000PE</b> exp 24 Dec\n"
                    "  token 12345678 · lot 30 · tick 0.05")


# ---------------------------------------------------------------- /logs, reports, buttons


def test_logs_compact_time_level_message_and_the_day_once() -> None:
    text = log_view.render([
        "2026-12-07 23:59:59,000 IST INFO    agent.engine: late",
        "2026-12-08 00:00:01,000 IST DEBUG   x.y: early <b>",
        "  a traceback line",
        "2026-12-08 06:00:00 CRITICAL agent: token expired, the session needs a login "
        "before 09:15 (a long line goes on below)"])
    assert text == ("<b>Log</b> Mon 7 Dec · last 4 lines · IST\n"
                    "<pre>23:59:59 INF late\n"
                    "-- Tue 8 Dec --\n"
                    "00:00:01 DBG early &lt;b&gt;\n"
                    "    a traceback line\n"
                    "06:00:00 CRT token expired,\n"
                    "  the session needs a login before 09:15\n"
                    "  (a long line goes on below)</pre>")
    assert_fits(text)


def test_the_day_report_text_fits() -> None:
    trades = [Trade(OPTION["symbol"], 1, Side.BUY, 30, at(9, 30), d(100), "signal",
                    at(9, 40), d(101), "target", d("-12345678.50")),
              *[Trade("NSE:A", 2, Side.BUY, 30, at(9, 30), d(100), "signal", at(9, 40),
                      d(101), reason, d(30))
                for reason in ("trailing_stop", "signal_reverse", "instrument_limit")]]
    assert summary_text("2026-12-07", trades) == (
        "Day report 2026-12-07\n"
        "4 trades, 3 winners\n"
        "realized P&L -₹1,23,45,588.50\n"
        "  NFO:BANKNIFTY26DEC48000PE:\n"
        "    1 trade, -₹1,23,45,678.50\n"
        "  NSE:A: 3 trades, +₹90.00\n"
        "  exits: instrument_limit 1,\n"
        "    signal_reverse 1, target 1,\n"
        "    trailing_stop 1")
    skipped = day_report("2026-12-07", [], {}, ["candles/x.jsonl line 3: not a JSON object"])
    assert skipped.text.endswith("\n  skipped (bad data):\n"
                                 "  - candles/x.jsonl line 3: not a JSON object")


def test_squareoff_buttons_name_the_closing_order_in_forty_columns() -> None:
    assert _exit_label({"symbol": "NSE:INFY", "quantity": 150, "unrealized": "320",
                        "exchange": "NSE", "lot_size": 1}) == "SELL 150 INFY +₹320.00"
    # a long symbol keeps its head and tail (the prompt the button leads to names it whole)
    assert _exit_label({**OPTION, "quantity": -60, "unrealized": "-1234.50"}) == (
        "BUY 2 lots BANKNIFTY26…8000PE -₹1,234.50")
    assert _exit_label({**OPTION, "quantity": -60, "unrealized": "-1234567.50"}) == (
        "BUY 2 lots BANKNIF…8000PE -₹12,34,567.50")
    label = _exit_label({**OPTION, "symbol": "NFO:MIDCPNIFTY26DEC123456PE",
                         "quantity": 3000, "unrealized": "-12345678.50"})
    assert label == "SELL 100 lots MI…3456PE -₹1,23,45,678.50"
    assert columns(label) <= 40


def test_help_one_line_a_command_where_it_fits() -> None:
    from handlers.info_cmds import help_

    text = _run(help_(None, None, [])).text  # type: ignore[arg-type]
    assert "\n/positions - open positions\n" in text
    assert "\n/limits [daily|GROUP\n  profit_target|loss_limit VALUE]\n" \
           "  show or set daily and group limits\n" in text
    assert all(re.match(r"(/\w+|  )", line) for line in text.split("\n")[1:])
    assert text.count("\n/") == len(COMMANDS)
    assert_fits(text)


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def test_money_in_the_tables_is_money() -> None:
    # the P&L column is money() (₹, lakh grouping, sign), not a number of its own
    text = book_tables.trades([_trade(pnl=str(Decimal("-123456.5")))])
    assert "-₹1,23,456.50" in text


def test_the_day_report_alert_puts_its_lines_under_the_label() -> None:
    from agent.events import AlertKind, Notification
    from handlers.alerts import format_alert

    text = summary_text("2026-12-07", [Trade("NSE:ADANIPORTS", 1, Side.BUY, 150, at(9, 52),
                                             d("1632.10"), "signal", at(10, 34),
                                             d("1645.40"), "target", d("1995"))])
    alert = format_alert(Notification(AlertKind.DAY_REPORT, text, at(15, 40)))
    assert alert == ("<b>day report</b> 15:40:00\nDay report 2026-12-07\n1 trade, 1 winner\n"
                     "realized P&amp;L +₹1,995.00\n  NSE:ADANIPORTS: 1 trade, +₹1,995.00\n"
                     "  exits: target 1")
    assert_fits(alert)
