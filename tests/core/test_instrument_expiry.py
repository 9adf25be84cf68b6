"""A derivative's expiry travels with its Instrument: from Kite's dump (CSV and the
client's rows), through the simulator's own dump, and through a saved state."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from agent.instruments import InstrumentIndex, dump_csv, from_kite_rows, parse_dump
from agent.restore import _instrument
from agent.snapshot import _instrument_to_dict
from tests.kite_mocks import mock_text


def test_the_dump_gives_options_their_expiry_and_equity_none() -> None:
    index = InstrumentIndex(parse_dump(mock_text("instruments_all.csv")))
    option = index.resolve("NFO:BANKNIFTY18JAN23500CE")
    assert option.expiry == date(2018, 1, 25) and option.lot_size == 40
    assert index.resolve("NSE:ADANIPORTS").expiry is None


def test_the_clients_rows_and_the_simulators_dump_keep_it() -> None:
    (row,) = from_kite_rows([{"instrument_token": 1, "exchange": "NFO",
                              "tradingsymbol": "NIFTY26DECFUT", "tick_size": 0.1,
                              "lot_size": 75, "expiry": date(2026, 12, 29),
                              "segment": "NFO-FUT", "instrument_type": "FUT"}])
    assert row.expiry == date(2026, 12, 29)
    (stamped,) = from_kite_rows([{"instrument_token": 2, "exchange": "NFO",
                                  "tradingsymbol": "X", "tick_size": 0.05,
                                  "expiry": datetime(2026, 12, 29, 15, 30)}])
    assert stamped.expiry == date(2026, 12, 29)
    (back,) = parse_dump(dump_csv([row]))
    assert back == row


def test_a_saved_instrument_keeps_its_expiry_and_an_old_save_has_none() -> None:
    (ins,) = parse_dump(mock_text("instruments_all.csv").splitlines()[0] + "\n"
                        "12073986,47164,BANKNIFTY18JAN23500CE,,2528.4,2018-01-25,23500.0,"
                        "0.05,40,CE,NFO-OPT,NFO\n")
    saved = _instrument_to_dict(ins)
    assert saved["expiry"] == "2018-01-25"
    assert _instrument(saved, "added[0]") == ins
    old = {k: v for k, v in saved.items() if k != "expiry"}  # written before issue 14
    assert _instrument(old, "added[0]").expiry is None
    assert _instrument(old, "added[0]").tick_size == Decimal("0.05")
