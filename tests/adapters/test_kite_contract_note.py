"""Kite's virtual contract note (issue 15): the simulated exchange serves
``POST /charges/orders`` in Kite's shape, the live broker reads it through the real
kiteconnect client on its reader pool, and the engine's trades take Kite's figures; when
Kite does not answer, the table's charges stay."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal

import pytest
from kiteconnect.exceptions import InputException

from agent.backtest import make_engine
from agent.charges import DEFAULT_TABLES, Leg, Segment, order_charges
from agent.contract_note import NoteOrder, NoteTotal, refresh_charges
from agent.engine import Engine
from agent.events import Query, QueryKind
from agent.models import Side, Trade
from agent.settings import Defaults, InstrumentConfig, Settings, StrategyParams
from tests.adapters.kite_broker_harness import ADANIPORTS, WAIT, Harness
from tests.helpers import Feed, at, d, worked_long

SIM_TABLE = DEFAULT_TABLES[0]  # the simulator's day (2024-01-15) is before every table
ITEM_KEYS = {"transaction_type", "tradingsymbol", "exchange", "variety", "product",
             "order_type", "quantity", "price", "charges"}
CHARGE_KEYS = {"transaction_tax", "transaction_tax_type", "exchange_turnover_charge",
               "sebi_turnover_charge", "brokerage", "stamp_duty", "gst", "total"}


def _params(symbol: str, side: str, qty: int, price: float, product: str = "MIS",
            exchange: str = "NSE") -> dict:
    return {"order_id": "1", "exchange": exchange, "tradingsymbol": symbol,
            "transaction_type": side, "variety": "regular", "product": product,
            "order_type": "MARKET", "quantity": qty, "average_price": price}


def _total(segment: Segment, exchange: str, side: Side, qty: int, price: str) -> Decimal:
    return order_charges(SIM_TABLE, segment, exchange,
                         Leg("", side, qty, qty * Decimal(price))).total


def test_the_simulator_answers_kites_shape_through_the_real_client() -> None:
    with Harness() as h:
        answer = h.kite.get_virtual_contract_note([
            _params("ADANIPORTS", "BUY", 50, 112.65),
            _params("ADANIPORTS", "SELL", 50, 111.95),
            _params("BANKNIFTY18JAN23500CE", "SELL", 40, 250.5, "NRML", "NFO")])
        assert [set(item) for item in answer] == [ITEM_KEYS] * 3
        assert all(set(item["charges"]) == CHARGE_KEYS for item in answer)
        buy, sell, option = answer
        assert (buy["transaction_type"], buy["quantity"], buy["price"]) == ("BUY", 50, 112.65)
        assert set(buy["charges"]["gst"]) == {"igst", "cgst", "sgst", "total"}
        assert buy["charges"]["transaction_tax"] == 0  # STT on the sell side only
        # 5,597.50 sold: brokerage 1.68, STT 0.025 % = 1.399375, unrounded as Kite says
        assert sell["charges"]["brokerage"] == 1.68
        assert sell["charges"]["transaction_tax"] == 1.399375
        assert Decimal(str(sell["charges"]["total"])) == _total(
            Segment.EQUITY_INTRADAY, "NSE", Side.SELL, 50, "111.95")
        assert option["charges"]["brokerage"] == 20  # flat for options
        assert option["charges"]["transaction_tax"] == 10.02  # 0.1 % of 10,020 premium
        assert Decimal(str(option["charges"]["total"])) == _total(
            Segment.OPTIONS, "NFO", Side.SELL, 40, "250.5")
        assert h.kite.count("order.contract_note") == 1


def test_the_broker_reads_it_by_order_and_leaves_out_an_answer_that_does_not_match() -> None:
    orders = [NoteOrder("E1", "101", "NSE", "ADANIPORTS", Side.BUY, "MIS", "MARKET", 50,
                        d("112.65")),
              NoteOrder("X1", "102", "NSE", "ADANIPORTS", Side.SELL, "MIS", "MARKET", 50,
                        d("111.95"))]
    with Harness() as h:
        totals = h.broker.read_contract_note(orders).result(WAIT)
        assert totals == {
            "E1": NoteTotal(_total(Segment.EQUITY_INTRADAY, "NSE", Side.BUY, 50, "112.65"), 50),
            "X1": NoteTotal(_total(Segment.EQUITY_INTRADAY, "NSE", Side.SELL, 50, "111.95"),
                            50)}
        (sent,) = h.kite.calls[-1:]
        assert sent[0] == "order.contract_note"
        real = h.kite.get_virtual_contract_note

        def swapped(params):  # type: ignore[no-untyped-def]
            first, second = real(params)
            second["quantity"] = 49  # not the order asked about
            return [first, second]

        h.kite.get_virtual_contract_note = swapped
        assert set(h.broker.read_contract_note(orders).result(WAIT)) == {"E1"}


def _engine_with_a_trade(h: Harness) -> tuple[Engine, Trade]:
    """An engine (paper broker) trading the simulator's ADANIPORTS: the worked long, 50 @
    112.65, closed at the end of the data at 111.95."""
    ins = h.instruments[ADANIPORTS]
    settings = Settings(defaults=Defaults(params=StrategyParams(lots=50)),
                        instruments=(InstrumentConfig(ins.symbol, ins.token, ins.tick_size,
                                                      ins.lot_size),))
    engine = make_engine(settings, [ins])
    f = Feed(ADANIPORTS)
    for tick in [*worked_long(f), f.tick(at(9, 26), "111.95")]:
        engine.on_tick(tick)
    engine.end_of_data()
    (trade,) = engine.trades
    assert all(o.broker_order_id for o in engine.book.orders.values())
    return engine, trade


def test_the_engines_trades_take_kites_figures_and_the_table_stays_without_them(caplog
                                                                               ) -> None:
    caplog.set_level(logging.WARNING)
    with Harness() as h:
        engine, trade = _engine_with_a_trade(h)
        # the table, rounded per trade: brokerage 3.37, STT 1.40 -> 1, exchange 0.33, SEBI
        # 0.01, stamp 0.17, GST 0.67
        assert trade.charges == d("5.55")
        journalled: list[Trade] = []  # the journal hears of a revision (storage/hookup.py)
        engine.on_trade_closed = lambda t, _instrument: journalled.append(t)
        call = engine.handle
        h.kite.get_virtual_contract_note = _raise  # Kite refuses the request
        said = refresh_charges(call, h.broker.read_contract_note, timeout=WAIT)
        assert said == "Kite's contract note unavailable (BrokerError): table charges"
        assert "Kite's contract note could not be read (BrokerError" in caplog.text
        assert engine.trades == [trade] and journalled == []  # the table's figures stay
        del h.kite.get_virtual_contract_note  # the client's own method again

        said = refresh_charges(call, h.broker.read_contract_note, timeout=WAIT)
        assert said == "Kite priced 2 order(s); 1 trade(s) take its charges"
        kite = (_total(Segment.EQUITY_INTRADAY, "NSE", Side.BUY, 50, "112.65")
                + _total(Segment.EQUITY_INTRADAY, "NSE", Side.SELL, 50, "111.95")
                ).quantize(d("0.01"), ROUND_HALF_UP)
        assert kite == d("5.95")  # STT 1.399 unrounded: about 0.40 more than the table's
        (priced,) = engine.trades
        assert priced.charges == kite and priced.net_pnl == d(-35) - kite
        assert engine.all_trades == [priced] and journalled == [priced]
        assert engine.pnl.books[ADANIPORTS].fees == kite
        view = engine.handle(Query(QueryKind.PNL)).data
        assert view["total"]["charges"] == str(kite)
        assert refresh_charges(call, h.broker.read_contract_note) == (
            "no executed orders to price")  # each order is priced once
        assert h.kite.count("order.contract_note") == 1  # the refused one never went out


def _raise(params):  # type: ignore[no-untyped-def]
    raise InputException("Invalid orders")


def test_a_day_of_the_simulators_orders_is_asked_in_parts() -> None:
    from agent import contract_note

    orders = [NoteOrder(f"E{i}", str(i), "NSE", "ADANIPORTS", Side.BUY, "MIS", "MARKET", 1,
                        d(100)) for i in range(contract_note.CHUNK + 3)]
    with Harness() as h:
        asked: list[int] = []

        def read(part):  # type: ignore[no-untyped-def]
            asked.append(len(part))
            return h.broker.read_contract_note(part)

        totals: dict = {}

        class _Engine:
            def __call__(self, cmd):  # type: ignore[no-untyped-def]
                from agent.commands import Reply

                if isinstance(cmd, contract_note.NoteOrders):
                    return Reply(True, "", orders)
                totals.update(cmd.totals)
                return Reply(True, "applied")

        assert refresh_charges(_Engine(), read) == "applied"
        assert asked == [contract_note.CHUNK, 3] and len(totals) == len(orders)



def test_server_errors_are_retried_like_any_read_then_the_read_fails() -> None:
    from agent.adapters.kite_reads import BrokerError

    order = NoteOrder("E1", "101", "NSE", "ADANIPORTS", Side.BUY, "MIS", "MARKET", 50,
                      d("112.65"))
    with Harness() as h:
        h.sim.faults.server_errors(1)  # one 503, then the answer
        future = h.broker.read_contract_note([order])
        while not future.done():
            h.idle()
            h.timer.advance(1)
        assert set(future.result(WAIT)) == {"E1"}
        assert h.kite.count("order.contract_note") == 2
        h.sim.faults.server_errors(1_000)  # Kite down: retried, then given up
        future = h.broker.read_contract_note([order])
        while not future.done():
            h.idle()
            h.timer.advance(1)
        with pytest.raises(BrokerError):
            future.result(WAIT)
        attempts = h.broker.retry.attempts
        assert h.kite.count("order.contract_note") == 2 + attempts
        h.sim.faults.clear()
