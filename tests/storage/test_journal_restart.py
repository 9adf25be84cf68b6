"""The journal across restarts and day rolls, with the real engine, state file and storage
writer (``EnginePersistence``): the worked example's long (50 at 112.65, exchange stop
99.50) on a broker that fills nothing by itself.

A restart re-creates today's trades two ways: the saved state restores them, and the
broker's reconciliation books again the fills the saved state missed. Neither doubles a
trade in the journal; a trade the journal lost (a crash between the state's write and the
journal's) is written from the saved state, also when that state is of an earlier day."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from agent.events import BrokerOrderRow, BrokerSnapshot
from agent.models import Order, OrderPurpose, OrderStatus, OrderType, Side
from storage.backends import Stores, file_stores
from storage.hookup import EnginePersistence
from storage.journal import JOURNAL_DIR, JournalRead, trade_key
from storage.redis_keys import Keys
from tests.conftest import Backend
from tests.helpers import (
    DAY,
    DAY2,
    Feed,
    ManualBroker,
    Run,
    at,
    d,
    filled,
    make_run,
    make_settings,
    worked_long,
)

WAIT = 5.0  # seconds; reached only when the writer is broken


def _run(broker: ManualBroker, persistence: EnginePersistence) -> Run:
    r = make_run(make_settings())
    r.engine.exec.stops_enabled = True
    r.engine.attach_broker(broker)
    r.engine.on_trade_closed = persistence.trade  # as handlers/runtime.py wires it
    return r


def _entered(broker: ManualBroker, persistence: EnginePersistence, day=DAY
             ) -> tuple[Run, Order, Order]:
    """Long 50 at 112.65 on ``day``, its stop working, the state saved."""
    r = _run(broker, persistence)
    r.feed(worked_long(Feed(), day))
    entry = broker.submitted[-1]
    r.engine.handle(filled(entry, "112.65", at(9, 25, 11, day=day)))
    (stop,) = [o for o in broker.submitted if o.purpose is OrderPurpose.STOP]
    persistence.snapshot(r.engine)
    assert persistence.writer.flush(WAIT)
    return r, entry, stop


def _row(order: Order, status: OrderStatus, filled_qty: int = 0, price: str | None = None
         ) -> BrokerOrderRow:
    return BrokerOrderRow(f"B{order.tag}", order.tag, order.instrument_token, order.product,
                          order.side, order.quantity, filled_qty,
                          None if price is None else d(price), status,
                          status.replace("_", " "), order.order_type, order.price,
                          order.trigger_price)


def _snap(rows: Iterable[BrokerOrderRow], t: datetime) -> BrokerSnapshot:
    return BrokerSnapshot(t, tuple(rows), (), True)


def _owner_sold(price: str) -> BrokerOrderRow:
    return BrokerOrderRow("OWN1", None, 1, "MIS", Side.SELL, 50, 50, d(price),
                          OrderStatus.COMPLETE, "COMPLETE", OrderType.MARKET)


def _stores(tmp: Path, backend: Backend | None) -> Stores:
    return file_stores(tmp) if backend is None else backend.stores(tmp)


def _trade_lines(tmp: Path, backend: Backend | None = None) -> list[dict]:
    """The journal's trade lines as stored (the files, or the lists on Redis)."""
    stores = _stores(tmp, backend)
    journal, lines = stores.journal(), []
    for month in journal.months():
        lines += [json.loads(x) for x in journal.read_bytes(month).decode().splitlines()]
    stores.close()
    return [x for x in lines if x["type"] == "trade"]


def _read_journal(tmp: Path, backend: Backend | None = None) -> JournalRead:
    stores = _stores(tmp, backend)
    try:
        return stores.journal().read()
    finally:
        stores.close()


def _lose_journal(tmp: Path, backend: Backend | None, month: str) -> None:
    """A month of the journal lost (a crash between the state's write and the journal's)."""
    if backend is None or backend.server is None:
        (tmp / JOURNAL_DIR / f"{month}.jsonl").unlink()
    else:
        backend.server.client().delete(Keys("test").journal(month))


_OPENED: list[EnginePersistence] = []


@pytest.fixture(autouse=True)
def _close_writers() -> Iterator[None]:
    """A failing test still stops its writer threads (non-daemon: pytest would hang)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def _open(tmp: Path, errors: list[str], backend: Backend | None = None
          ) -> EnginePersistence:
    persistence = (EnginePersistence(tmp, errors.append) if backend is None
                   else backend.persistence(tmp, errors.append))
    _OPENED.append(persistence)
    return persistence


def test_a_fill_booked_again_by_the_reconciliation_is_journalled_once(
        tmp_path: Path, backend: Backend) -> None:
    errors: list[str] = []
    broker = ManualBroker()
    first = _open(tmp_path, errors, backend)
    r, entry, stop = _entered(broker, first)
    r.engine.handle(filled(stop, "99.40", at(9, 30)))  # the stop fills: a trade, journalled
    (original,) = r.engine.trades
    assert first.close()  # the process dies before its next state snapshot
    assert len(_trade_lines(tmp_path, backend)) == 1

    again = _open(tmp_path, errors, backend)
    r2 = _run(broker, again)
    assert again.restore_into(r2.engine, DAY)
    assert r2.engine.trades == []  # the saved state still had the long open
    r2.engine.handle(_snap([_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
                            _row(stop, OrderStatus.COMPLETE, 50, "99.40")], at(9, 40)))
    (rebooked,) = r2.engine.trades
    assert trade_key(rebooked) == trade_key(original)
    assert again.close() and errors == []
    (line,) = _trade_lines(tmp_path, backend)
    assert (line["exit_tag"], line["gross"]) == (stop.tag, "-662.50")
    (kept,) = _read_journal(tmp_path, backend).trades
    assert kept == original


def test_a_close_by_the_owner_booked_again_after_a_restart_is_journalled_once(
        tmp_path: Path, backend: Backend) -> None:
    errors: list[str] = []
    broker = ManualBroker()
    first = _open(tmp_path, errors, backend)
    r, entry, stop = _entered(broker, first)
    rows = [_row(entry, OrderStatus.COMPLETE, 50, "112.65"),
            _row(stop, OrderStatus.TRIGGER_PENDING), _owner_sold("115.00")]
    r.engine.handle(_snap(rows, at(9, 40)))  # the owner sold in the Kite app
    (original,) = r.engine.trades
    assert original.exit_tag.startswith("OUT") and original.pnl == Decimal("117.50")
    assert first.close()

    again = _open(tmp_path, errors, backend)
    r2 = _run(broker, again)
    assert again.restore_into(r2.engine, DAY)
    r2.engine.handle(_snap(rows, at(9, 45)))  # booked again, under another OUT tag
    (rebooked,) = r2.engine.trades
    assert rebooked.exit_tag != original.exit_tag
    assert trade_key(rebooked) == trade_key(original)
    assert again.close() and errors == []
    assert [x["exit_tag"] for x in _trade_lines(tmp_path, backend)] == [original.exit_tag]


def test_restarts_from_the_saved_state_keep_one_line_and_restore_a_lost_one(
        tmp_path: Path, backend: Backend) -> None:
    errors: list[str] = []
    broker = ManualBroker()
    first = _open(tmp_path, errors, backend)
    r, _entry, stop = _entered(broker, first)
    r.engine.handle(filled(stop, "99.40", at(9, 30)))
    first.snapshot(r.engine)  # the state now holds the trade too
    assert first.close()
    for _ in range(2):  # restarts the same day: the restored trade is not written again
        again = _open(tmp_path, errors, backend)
        r2 = _run(broker, again)
        assert again.restore_into(r2.engine, DAY) and len(r2.engine.trades) == 1
        assert again.close()
    assert len(_trade_lines(tmp_path, backend)) == 1
    # a crash after the state's write and before the journal's: the line is made again
    _lose_journal(tmp_path, backend, "2024-01")
    again = _open(tmp_path, errors, backend)
    r3 = _run(broker, again)
    assert again.restore_into(r3.engine, DAY)
    assert again.close() and errors == []
    (line,) = _trade_lines(tmp_path, backend)
    (trade,) = r3.engine.trades  # gross -662.50, less Zerodha's charges on its two orders
    assert trade.pnl == Decimal("-662.50") and trade.charges > 0
    assert (line["exit_tag"], line["gross"], line["charges"], line["net"], line["segment"]) == (
        stop.tag, "-662.50", str(trade.charges), str(trade.net_pnl), "NSE")


def test_the_journal_goes_on_over_a_day_roll_and_a_restart_the_next_day(tmp_path: Path,
                                                                         backend: Backend) -> None:
    errors: list[str] = []
    broker = ManualBroker()
    first = _open(tmp_path, errors, backend)
    r, _entry, stop = _entered(broker, first)
    r.engine.handle(filled(stop, "99.40", at(9, 30)))
    first.snapshot(r.engine)
    first.close_day(DAY, list(r.engine.trades), at(15, 30))  # session_end
    assert first.close()
    _lose_journal(tmp_path, backend, "2024-01")  # even if day 1 were lost

    # the next day: the saved state is yesterday's; its trade is journalled again
    second = _open(tmp_path, errors, backend)
    r2 = _run(broker, second)
    assert not second.restore_into(r2.engine, DAY2)
    assert second.writer.flush(WAIT) and len(_trade_lines(tmp_path, backend)) == 1
    r2.feed(worked_long(Feed(), DAY2))  # the day rolls over with the first tick
    entry2 = broker.submitted[-1]
    r2.engine.handle(filled(entry2, "112.65", at(9, 25, 11, day=DAY2)))
    (stop2,) = [o for o in broker.submitted
                if o.purpose is OrderPurpose.STOP and o.tag != stop.tag]
    r2.engine.handle(filled(stop2, "100.00", at(10, 0, day=DAY2)))
    second.snapshot(r2.engine)
    assert second.close()
    third = _open(tmp_path, errors, backend)  # and a restart later on day 2
    r3 = _run(broker, third)
    assert third.restore_into(r3.engine, DAY2) and len(r3.engine.trades) == 1
    assert third.close() and errors == []

    read = _read_journal(tmp_path, backend)
    assert [(t.exit_time.date(), t.pnl) for t in read.trades] == [
        (DAY, Decimal("-662.50")), (DAY2, Decimal("-632.50"))]
    assert all(t.charges > 0 for t in read.trades)
    assert [(s.date, s.trades, s.gross, s.charges, s.net) for s in read.days()] == [
        (t.exit_time.date(), 1, t.pnl, t.charges, t.net_pnl) for t in read.trades]
    assert len(_trade_lines(tmp_path, backend)) == 2 and read.problems == []


def test_the_writer_counts_journal_lines_and_names_a_failing_one(tmp_path: Path) -> None:
    errors: list[str] = []
    persistence = _open(tmp_path, errors)
    r, _entry, stop = _entered(ManualBroker(), persistence)
    (tmp_path / JOURNAL_DIR).write_text("in the way")  # the journal cannot be written
    r.engine.handle(filled(stop, "99.40", at(9, 30)))  # the engine goes on regardless
    assert not persistence.writer.flush(WAIT)
    assert persistence.writer.stats().journal_appends == 1
    (error,) = errors
    assert error.startswith(f"journal append to {tmp_path / JOURNAL_DIR / '2024-01.jsonl'} "
                            "failed")
    (tmp_path / JOURNAL_DIR).unlink()  # mended: the kept line is written by the retry
    assert persistence.writer.flush(WAIT)
    assert [x["exit_tag"] for x in _trade_lines(tmp_path)] == [stop.tag]


def test_a_journal_line_not_written_at_close_is_named(tmp_path: Path) -> None:
    errors: list[str] = []
    persistence = _open(tmp_path, errors)
    r, _entry, stop = _entered(ManualBroker(), persistence)
    (tmp_path / JOURNAL_DIR).write_text("in the way")
    r.engine.handle(filled(stop, "99.40", at(9, 30)))
    assert not persistence.close(WAIT)
    assert errors[-1] == "storage writer closed with 1 journal line(s) not written"
