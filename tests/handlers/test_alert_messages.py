"""Alert messages (issue 14): an entry and an exit each one message in their own words, a
burst for one event (a limit closing many positions) one message, a reverse one message,
the quiet kinds off by default. Every line fits a phone 40 columns wide (the symbol aside).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.events import AlertKind, Notification
from handlers.alerts import AlertDispatcher, AlertPrefs, format_alert
from handlers.text import html_to_plain, money
from storage.prefs import Prefs
from tests.helpers import at


def _entry(symbol: str = "NSE:AAA", **over: Any) -> Notification:
    data = {"side": "BUY", "quantity": 50, "price": "1632.10", "level": "1631.55",
            "stop": "1620.00", "risk": "605.00", "reason": "signal", "exchange": "NSE",
            "lot_size": 1, **over}
    return Notification(AlertKind.ENTRY_FILLED, "entry", at(9, 52, 48), symbol, data=data)


def _exit(symbol: str = "NSE:AAA", kind: AlertKind = AlertKind.STOP_HIT, **over: Any
          ) -> Notification:
    data = {"reason": "trailing_stop", "side": "BUY", "quantity": 50, "entry": "1632.10",
            "exit": "1645.40", "pnl": "665.00", "held": 42 * 60 + 5, "level": "1645.00",
            "exchange": "NSE", "lot_size": 1, **over}
    return Notification(kind, "exit", at(10, 34, 40), symbol, data=data)


def _trip(positions: int) -> Notification:
    return Notification(AlertKind.LIMIT_HIT, "daily daily: loss_limit reached", at(14, 2, 5),
                        data={"scope": "daily", "which": "loss_limit", "pnl": "-20110.50",
                              "limit": "20000", "name": "daily", "positions": positions})


def _dispatcher(tmp: Path) -> AlertDispatcher:
    return AlertDispatcher(AlertPrefs(Prefs.in_dir(tmp)))


def _narrow(text: str) -> bool:
    return all(len(line) <= 40 for line in html_to_plain(text).split("\n"))


def test_an_entry_says_side_quantity_price_why_stop_and_risk() -> None:
    text = format_alert(_entry())
    assert text == ("🟢 <b>BUY 50 NSE:AAA</b> @ 1,632.10\nabove 1,631.55 · stop 1,620.00\n"
                    f"risk {money(Decimal('605.00'), sign=False)} · 09:52:48")
    assert _narrow(text)
    short = format_alert(_entry(side="SELL", level="1600.00", reason="signal"))
    assert short.startswith("🔴 <b>SELL 50 NSE:AAA</b>") and "\nbelow 1,600.00 · " in short
    reverse = format_alert(_entry(level="1620.00", reason="reverse"))
    assert "\nreverse at stop 1,620.00 · stop 1,620.00" in reverse
    lots = format_alert(_entry("NFO:NIFTY24DECFUT", quantity=150, lot_size=75,
                               exchange="NFO"))
    assert lots.startswith("🟢 <b>BUY 2 lots (150) NFO:NIFTY24DECFUT</b> @ 1,632.10")


def test_an_exit_says_reason_level_prices_holding_time_and_pnl() -> None:
    text = format_alert(_exit())
    assert text == ("🛑 <b>Trailing stop hit NSE:AAA</b>\nlong 50 · 1,632.10 → 1,645.40\n"
                    "stop 1,645.00 · held 42 min · 10:34:40\n"
                    f"P&L <b>{money(Decimal('665.00'))}</b>")
    assert _narrow(text)
    words = {"stop": "🛑 <b>Stop hit", "target": "🎯 <b>Target hit",
             "square_off": "⏰ <b>Square-off", "daily_limit": "⚠️ <b>Daily limit",
             "manual": "✋ <b>Closed by /squareoff", "signal_reverse": "🔁 <b>Reversed"}
    for reason, start in words.items():
        assert format_alert(_exit(reason=reason)).startswith(start), reason
    held = format_alert(_exit(held=2 * 3600 + 5 * 60, side="SELL", reason="square_off"))
    assert "short 50 · " in held and "held 2 h 05 min · " in held
    assert "stop 1,645.00" not in held  # a square-off has no level to name


def test_placements_and_stop_moves_are_off_by_default_and_can_be_turned_on(
        tmp_path: Path) -> None:
    dispatcher = _dispatcher(tmp_path)
    quiet = [Notification(kind, "x", at(9, 30), "NSE:AAA", data={"old": "1", "stop": "2"})
             for kind in (AlertKind.ENTRY_PLACED, AlertKind.EXIT_PLACED,
                          AlertKind.STOP_PLACED, AlertKind.STOP_MOVED)]
    assert dispatcher.prepare(quiet) == []
    dispatcher.prefs.set([AlertKind.ENTRY_PLACED], "on")
    (placed,) = dispatcher.prepare(quiet)
    assert placed.text.startswith("<b>entry placed</b> 09:30:00")


def test_a_limit_closing_25_positions_is_one_message_with_a_line_each(tmp_path: Path) -> None:
    dispatcher = _dispatcher(tmp_path)
    exits = [_exit(f"NSE:S{i:02d}", AlertKind.LIMIT_HIT, reason="daily_limit",
                   pnl=f"-{800 + i}.00", exit="1600.00") for i in range(25)]
    (alert,) = dispatcher.prepare([_trip(25), *exits])
    lines = alert.text.split("\n")
    assert lines[0] == "⚠️ <b>Daily loss limit reached</b>"
    assert lines[1] == f"P&L {money('-20110.50')} (limit {money('20000', sign=False)})"
    assert lines[2] == "halted; closing 25 · 14:02:05"
    assert lines[3] == "⚠️ <b>Daily limit: 25 positions closed</b>"
    total = sum(Decimal(f"-{800 + i}") for i in range(25))
    assert lines[4] == f"P&L <b>{money(total)}</b> · 10:34:40"
    assert lines[5:] == [f"NSE:S{i:02d} long 50 @ 1,600.00 {money(f'-{800 + i}.00')}"
                         for i in range(25)]
    assert alert.kind is AlertKind.LIMIT_HIT and not alert.silent
    assert dispatcher.bursty(exits[0]) and dispatcher.bursty(_trip(1))
    assert not dispatcher.bursty(_exit())  # a stop hit is not part of a burst


def test_exits_group_by_kind_and_reason_and_a_reverse_is_one_message(tmp_path: Path) -> None:
    dispatcher = _dispatcher(tmp_path)
    out = dispatcher.prepare([
        _exit("NSE:AAA", AlertKind.SQUARE_OFF, reason="square_off"),
        _exit("NSE:BBB", AlertKind.STOP_HIT, reason="stop"),
        _entry("NSE:BBB", side="SELL", reason="reverse", level="1645.00"),
        _exit("NSE:CCC", AlertKind.SQUARE_OFF, reason="square_off")])
    assert len(out) == 2
    assert out[0].text.startswith("⏰ <b>Square-off: 2 positions closed</b>")
    assert "\nNSE:AAA long 50 @ 1,645.40 " in out[0].text
    assert "\nNSE:CCC long 50 @ 1,645.40 " in out[0].text
    stop, entry = out[1].text.split("\n🔴 ")
    assert stop.startswith("🛑 <b>Stop hit NSE:BBB</b>")
    assert entry.startswith("<b>SELL 50 NSE:BBB</b> @ 1,632.10\nreverse at stop 1,645.00")


def test_silent_only_when_every_part_is_silent(tmp_path: Path) -> None:
    dispatcher = _dispatcher(tmp_path)
    dispatcher.prefs.set([AlertKind.SQUARE_OFF], "silent")
    (alert,) = dispatcher.prepare([_exit("NSE:AAA", AlertKind.SQUARE_OFF, reason="square_off"),
                                   _exit("NSE:BBB", AlertKind.SQUARE_OFF,
                                         reason="square_off")])
    assert alert.silent
    dispatcher.prefs.set([AlertKind.STOP_HIT], "silent")
    (reverse,) = dispatcher.prepare([_exit("NSE:AAA", reason="stop"),
                                     _entry("NSE:AAA", side="SELL", reason="reverse")])
    assert not reverse.silent  # its entry part is on
