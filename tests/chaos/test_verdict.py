"""The crash test's verdict on crafted Kite order books: each broken promise is detected,
with the right figure, and a clean day gives zeros.

The rows are shaped as kiteconnect returns them (``orders()``, ``order_history(id)``,
``trades()``, ``positions()["net"]``) and go through the same parsing as a real run's.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.chaos.truth import AgentBooks, Fill, books_from_state, kite_time, truth_from_rows
from tests.chaos.verdict import judge, realized_average_cost

DAY = "2026-12-07"
CLOSE = datetime(2026, 12, 7, 15, 30)
TOKEN, SYMBOL = 3861249, "ADANIPORTS"


class Book:
    """A crafted exchange account: orders with their histories, trades, positions."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.trades: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(10_000_001)

    def order(self, tag: str | None, side: str, qty: int, steps: list[tuple[str, str]], *,
              fill: tuple[str, str] | None = None, token: int = TOKEN, symbol: str = SYMBOL,
              message: str | None = None) -> str:
        """An order whose history is ``steps`` [(HH:MM:SS, status)]; ``fill`` = (time,
        price) fills it whole at that time (its COMPLETE step is added)."""
        order_id = str(next(self._ids))
        history = []
        filled = 0
        placed = steps[0][0]
        for at, status in steps:
            history.append(self._row(order_id, tag, side, qty, 0, status, placed, at, token,
                                     symbol, message))
        status = steps[-1][1]
        if fill is not None:
            at, price = fill
            filled = qty
            status = "COMPLETE"
            history.append(self._row(order_id, tag, side, qty, qty, status, placed, at, token,
                                     symbol, message, price))
            self.trades.append({
                "trade_id": str(next(self._trade_ids)), "order_id": order_id,
                "exchange": "NSE", "tradingsymbol": symbol, "instrument_token": token,
                "product": "MIS", "average_price": float(price), "quantity": qty,
                "transaction_type": side, "fill_timestamp": f"{DAY} {at}",
                "exchange_timestamp": f"{DAY} {at}"})
        self.histories[order_id] = history
        self.orders.append(dict(history[-1], filled_quantity=filled))
        return order_id

    @staticmethod
    def _row(order_id: str, tag: str | None, side: str, qty: int, filled: int, status: str,
             placed: str, at: str, token: int, symbol: str, message: str | None,
             price: str | None = None) -> dict[str, Any]:
        sent = status not in ("PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING")
        return {"order_id": order_id, "tag": tag, "status": status,
                "status_message": message, "exchange": "NSE", "tradingsymbol": symbol,
                "instrument_token": token, "transaction_type": side, "quantity": qty,
                "filled_quantity": filled, "average_price": float(price) if price else 0,
                "order_timestamp": datetime.fromisoformat(f"{DAY}T{placed}"),  # as kiteconnect
                "exchange_update_timestamp": f"{DAY} {at}" if sent else None}

    def truth(self) -> Any:
        return truth_from_rows(self.orders, self.histories, self.trades, [], close=CLOSE)


def state(*orders: tuple[str, str, int, int, str], positions: tuple[tuple[int, int, str], ...]
          = ()) -> AgentBooks:
    """Agent books: orders (tag, side, quantity, filled, status); positions (token,
    quantity, realized)."""
    return books_from_state({
        "orders": [{"tag": t, "token": TOKEN, "symbol": f"NSE:{SYMBOL}", "side": s,
                    "quantity": q, "filled_quantity": f, "status": st}
                   for t, s, q, f, st in orders],
        "positions": [{"token": tok, "symbol": f"NSE:{SYMBOL}", "quantity": q, "realized": r}
                      for tok, q, r in positions],
        "trades": [{}] * 0})


def _steps(at: str, working: str = "OPEN") -> list[tuple[str, str]]:
    return [(at, "PUT ORDER REQ RECEIVED"), (at, "VALIDATION PENDING"), (at, "OPEN PENDING"),
            (at, working)]


def clean_day() -> tuple[Book, AgentBooks]:
    """A long entry at 10:00:00, its stop resting at 10:00:01 (one second, the timestamps'
    resolution, is the only gap), trailed (a modification on its way keeps it working),
    then a target exit: the stop is cancelled first, the market exit fills."""
    b = Book()
    b.order("E26120700001", "BUY", 1, _steps("10:00:00"), fill=("10:00:00", "100.00"))
    b.order("S26120700002", "SELL", 1, [
        *_steps("10:00:00", "TRIGGER PENDING")[:3], ("10:00:01", "TRIGGER PENDING"),
        ("10:01:00", "MODIFY VALIDATION PENDING"), ("10:01:00", "MODIFY PENDING"),
        ("10:01:01", "MODIFIED"), ("10:01:01", "TRIGGER PENDING"),
        ("10:05:00", "CANCEL PENDING"), ("10:05:00", "CANCELLED")])
    b.order("X26120700003", "SELL", 1, _steps("10:05:00"), fill=("10:05:00", "101.50"))
    books = state(("E26120700001", "BUY", 1, 1, "COMPLETE"),
                  ("S26120700002", "SELL", 1, 0, "CANCELLED"),
                  ("X26120700003", "SELL", 1, 1, "COMPLETE"),
                  positions=((TOKEN, 0, "1.50"),))
    return b, books


def test_a_clean_day_gives_zeros_and_the_one_second_of_resolution() -> None:
    b, books = clean_day()
    v = judge(b.truth(), books)
    assert (v.duplicates, v.tag_reused, v.unbooked, v.phantom, v.left_open, v.stale_live,
            v.position_mismatch, v.broker_squared_off) == (0, 0, 0, 0, 0, 0, 0, 0), v.details
    assert v.unprotected_seconds == 1.0  # 10:00:00 fill, stop working from 10:00:01
    assert v.pnl_agent == v.pnl_exchange == Decimal("1.50") and v.pnl_equal
    assert (v.orders, v.fills, v.entries) == (3, 2, 1)
    assert v.broken(unprotected_bound=5) == []


def test_the_same_tag_placed_twice_while_the_first_was_live_is_a_duplicate() -> None:
    # An ambiguous placement (the answer lost) placed again without looking it up: two
    # Kite orders under one tag, the second placed while the first was live, both filled.
    b = Book()
    b.order("E26120700001", "BUY", 1, _steps("10:00:00"), fill=("10:00:02", "100.00"))
    b.order("E26120700001", "BUY", 1, _steps("10:00:01"), fill=("10:00:02", "100.10"))
    b.order("S26120700002", "SELL", 1, _steps("10:00:02", "TRIGGER PENDING"))
    books = state(("E26120700001", "BUY", 1, 1, "COMPLETE"),
                  ("S26120700002", "SELL", 1, 0, "TRIGGER_PENDING"),
                  positions=((TOKEN, 1, "0"),))
    v = judge(b.truth(), books)
    assert v.duplicates == 1  # one order too many (found as a same-tag and a stacked one)
    assert any(d.startswith("duplicate: E26120700001") for d in v.details), v.details
    assert v.tag_reused == 0
    assert (v.unbooked, v.unbooked_quantity) == (1, 1)  # the agent booked one of two
    assert v.left_open == 1 and v.position_mismatch == 1  # the second was never closed
    # the stop covers one of the two from 10:00:02 on: the other is bare until the close
    assert v.unprotected_seconds == (15 * 3600 + 30 * 60) - (10 * 3600 + 2)
    assert any(line.startswith("(a) 1 duplicate") for line in v.broken(5))


def test_a_second_entry_onto_an_open_position_is_a_stacked_duplicate() -> None:
    # After a restart that forgot the first entry, a new tag for the same decision.
    b, books = clean_day()
    b.order("E26120700004", "BUY", 1, _steps("10:00:30"), fill=("10:00:30", "100.20"))
    b.order("X26120700005", "SELL", 1, _steps("10:06:00"), fill=("10:06:00", "101.00"))
    v = judge(b.truth(), books)
    assert v.duplicates == 1
    assert any(d.startswith("stacked entry: E26120700004") for d in v.details), v.details
    # 1 s before the stop worked; from 10:00:30 the stop covered 1 of the 2, and from
    # 10:05:00 (the first exit) nothing covered the second until its exit at 10:06:00
    assert v.unprotected_seconds == 1 + 330
    assert v.longest_unprotected == 330
    assert v.unbooked == 2  # E..04 and X..05 unknown to the agent


def test_an_exit_after_the_stop_had_closed_the_position_is_a_second_exit() -> None:
    # The stop filled while the agent was down; restarted, it exits the position again:
    # the exchange is now short what the agent thinks it closed.
    b = Book()
    b.order("E26120700001", "BUY", 1, _steps("10:00:00"), fill=("10:00:00", "100.00"))
    b.order("S26120700002", "SELL", 1, _steps("10:00:00", "TRIGGER PENDING"),
            fill=("10:03:00", "99.00"))
    b.order("X26120700003", "SELL", 1, _steps("10:04:00"), fill=("10:04:00", "99.20"))
    v = judge(b.truth(), AgentBooks({}, {}, 0))
    assert v.duplicates == 1, v.details
    assert any(d.startswith("second exit: X26120700003") for d in v.details), v.details
    assert v.left_open == 1
    assert v.unprotected_seconds == 15 * 3600 + 30 * 60 - (10 * 3600 + 4 * 60)


def test_a_reused_tag_after_the_first_order_was_final_is_counted_apart() -> None:
    b, books = clean_day()
    b.order("E26120700001", "SELL", 1, _steps("11:00:00"), fill=("11:00:00", "99.00"))
    v = judge(b.truth(), books)
    assert v.tag_reused == 1 and v.duplicates == 0, v.details


def test_a_fill_the_agent_never_booked_is_unbooked_and_breaks_the_pnl() -> None:
    # The exit filled while the agent was down; its restored books still hold the order
    # OPEN with nothing filled, the position open and no P&L.
    b, _ = clean_day()
    books = state(("E26120700001", "BUY", 1, 1, "COMPLETE"),
                  ("S26120700002", "SELL", 1, 0, "CANCELLED"),
                  ("X26120700003", "SELL", 1, 0, "OPEN"),
                  positions=((TOKEN, 1, "0"),))
    v = judge(b.truth(), books)
    assert (v.unbooked, v.unbooked_quantity, v.phantom) == (1, 1, 0)
    assert v.stale_live == 1  # X..03 live in the books, COMPLETE at the exchange
    assert v.position_mismatch == 1
    assert not v.pnl_equal and v.pnl_difference == Decimal("-1.50")
    broken = v.broken(5)
    assert any(line.startswith("(b)") for line in broken)
    assert any(line.startswith("(e)") for line in broken)
    assert any(line.startswith("(f)") for line in broken)


def test_a_fill_booked_that_the_exchange_never_made_is_a_phantom() -> None:
    b, books = clean_day()
    books = state(*[(t, o.side, o.quantity, o.filled, o.status)
                    for t, o in books.orders.items()],
                  ("E26120700009", "BUY", 1, 1, "COMPLETE"), positions=((TOKEN, 0, "1.50"),))
    v = judge(b.truth(), books)
    assert v.phantom == 1 and v.unbooked == 0


def test_an_unprotected_interval_is_measured_in_exchange_seconds() -> None:
    # The stop is cancelled at 10:02:00 (a trail done as cancel + new order) and the new
    # one works only from 10:02:45: 45 s uncovered, plus the 1 s after the entry.
    b = Book()
    b.order("E26120700001", "BUY", 1, _steps("10:00:00"), fill=("10:00:00", "100.00"))
    b.order("S26120700002", "SELL", 1, [*_steps("10:00:01", "TRIGGER PENDING"),
                                         ("10:02:00", "CANCEL PENDING"),
                                         ("10:02:00", "CANCELLED")])
    b.order("S26120700003", "SELL", 1, [*_steps("10:02:40")[:3], ("10:02:45", "TRIGGER PENDING")],
            fill=("10:03:10", "99.50"))
    books = state(("E26120700001", "BUY", 1, 1, "COMPLETE"),
                  ("S26120700002", "SELL", 1, 0, "CANCELLED"),
                  ("S26120700003", "SELL", 1, 1, "COMPLETE"), positions=((TOKEN, 0, "-0.50"),))
    v = judge(b.truth(), books)
    assert v.unprotected_seconds == 46.0
    assert v.longest_unprotected == 45.0
    assert [(s.start.strftime("%H:%M:%S"), s.seconds) for s in v.spells] == [
        ("10:00:00", 1.0), ("10:02:00", 45.0)]
    assert v.duplicates == v.unbooked == v.left_open == 0 and v.pnl_equal
    assert v.broken(unprotected_bound=5) == [
        "(c) 46 s unprotected (bound 5 s; longest 45 s)"]


def test_a_stop_for_less_than_the_position_leaves_the_rest_unprotected() -> None:
    b = Book()
    b.order("E26120700001", "BUY", 3, _steps("10:00:00"), fill=("10:00:00", "100.00"))
    b.order("S26120700002", "SELL", 2, _steps("10:00:00", "TRIGGER PENDING"),
            fill=("10:00:20", "99.00"))
    b.order("X26120700003", "SELL", 1, _steps("10:00:30"), fill=("10:00:30", "99.00"))
    v = judge(b.truth(), AgentBooks({}, {}, 0))
    assert v.unprotected_seconds == 30.0
    assert v.spells[0].quantity == 1


def test_a_position_left_open_is_counted_and_the_brokers_square_off_is_named() -> None:
    b = Book()
    b.order("E26120700001", "BUY", 1, _steps("15:00:00"), fill=("15:00:00", "100.00"))
    b.order("S26120700002", "SELL", 1,
            [*_steps("15:00:01", "TRIGGER PENDING"), ("15:20:00", "CANCELLED")],
            message="Cancelled by the broker: intraday (MIS) auto square-off at 15:20.")
    b.order(None, "SELL", 1, _steps("15:20:01"), fill=("15:20:01", "100.40"),
            message="Squared off by the broker: intraday (MIS) auto square-off at 15:20.")
    books = state(("E26120700001", "BUY", 1, 1, "COMPLETE"),
                  ("S26120700002", "SELL", 1, 0, "TRIGGER_PENDING"), positions=((TOKEN, 1, "0"),))
    v = judge(b.truth(), books)
    assert v.left_open == 1
    assert v.broker_squared_off == 1
    # from the fill to the stop (1 s), then from the broker's cancel until its square-off
    assert v.unprotected_seconds == 1.0 + 1.0
    assert v.stale_live == 1
    assert v.pnl_equal  # neither books the broker's fill: nothing realized under our tags
    assert any(line.startswith("(d)") for line in v.broken(5))


def test_exposure_after_the_close_is_not_counted() -> None:
    b = Book()
    b.order("E26120700001", "SELL", 1, _steps("15:29:00"), fill=("15:29:00", "100.00"))
    v = judge(b.truth(), AgentBooks({}, {}, 0))
    assert v.unprotected_seconds == 60.0
    assert v.left_open == 1


def test_average_cost_pnl_across_partial_closes_and_a_flip() -> None:
    at = datetime(2026, 12, 7, 10, 0)
    fills = [Fill(str(i), str(i), TOKEN, side, qty, Decimal(price), at)
             for i, (side, qty, price) in enumerate([("BUY", 2, "100"), ("BUY", 1, "103"),
                                                     ("SELL", 2, "104"), ("SELL", 3, "102"),
                                                     ("BUY", 2, "101")])]
    # avg 101; +3 x 2 = 6; +1 x 1 = 1 (closes) and 2 short at 102; +1 x 2 = 2
    assert realized_average_cost(fills) == Decimal(9)


def test_kite_times_from_strings_and_datetimes_read_alike() -> None:
    assert kite_time("2026-12-07 10:00:01") == datetime(2026, 12, 7, 10, 0, 1)
    assert kite_time(datetime(2026, 12, 7, 10, 0, 1, 900_000)) == datetime(2026, 12, 7, 10, 0, 1)
    assert kite_time(None) is None and kite_time("garbage") is None


def test_the_exchanges_positions_are_checked_against_its_trades() -> None:
    b = Book()
    b.order("E26120700001", "BUY", 1, _steps("15:00:00"), fill=("15:00:00", "100.00"))
    b.order(None, "SELL", 1, _steps("15:20:01"), fill=("15:20:01", "100.40"),
            message="Squared off by the broker: intraday (MIS) auto square-off at 15:20.")
    row = {"instrument_token": TOKEN, "product": "MIS", "quantity": 0}
    agree = truth_from_rows(b.orders, b.histories, b.trades, [row], close=CLOSE)
    # 0 at the exchange less the broker's -1 is our +1: left open, and consistent
    v = judge(agree, AgentBooks({}, {}, 0))
    assert v.left_open == 1
    assert not any("disagrees" in d for d in v.details)
    wrong = truth_from_rows(b.orders, b.histories, b.trades, [dict(row, quantity=3)],
                            close=CLOSE)
    assert any("disagrees with its trades" in d for d in judge(wrong, AgentBooks({}, {}, 0))
               .details)
