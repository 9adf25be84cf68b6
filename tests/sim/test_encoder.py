"""Binary packets against Zerodha's own sample packets and KiteTicker's own parser."""

from __future__ import annotations

import struct
from datetime import datetime
from decimal import Decimal

import pytest
from kiteconnect import KiteTicker

from agent.models import DepthLevel, Instrument
from agent.sim import encoder
from agent.sim.market import Quote
from tests.kite_mocks import mock_json, mock_packet

PARSER = KiteTicker("key", "token")  # parsing only: no connection, no reactor


def _mock(name: str) -> bytes | dict:
    return mock_packet(name) if name.endswith(".packet") else mock_json(name)


def _d(value: float) -> Decimal:
    return Decimal(str(value))


def quote_from_sample(sample: dict, token: int | None = None, segment: str = "NSE") -> Quote:
    """A Quote holding exactly the values of one of Zerodha's ticker JSON samples."""
    ins = Instrument(token or sample["instrument_token"], "NSE", "INFY", Decimal("0.05"),
                     segment=segment)
    when = datetime.fromisoformat(sample.get("timestamp", "2021-07-05T10:41:27+05:30"))
    depth = sample.get("depth", {"buy": [], "sell": []})
    levels = {side: tuple(DepthLevel(_d(d["price"]), d["quantity"], d["orders"])
                          for d in depth[side]) for side in ("buy", "sell")}
    ohlc = sample["ohlc"]
    return Quote(
        instrument=ins, second=0, time=when, last_price=_d(sample["last_price"]),
        last_quantity=sample["last_quantity"], volume=sample["volume"],
        average_price=_d(sample["average_price"]), buy_quantity=sample["buy_quantity"],
        sell_quantity=sample["sell_quantity"], open=_d(ohlc["open"]), high=_d(ohlc["high"]),
        low=_d(ohlc["low"]), close=_d(ohlc["close"]), oi=sample.get("oi", 0),
        oi_day_high=sample.get("oi_day_high", 0), oi_day_low=sample.get("oi_day_low", 0),
        depth_buy=levels["buy"], depth_sell=levels["sell"], lower_circuit=Decimal(1),
        upper_circuit=Decimal(2))


def test_full_packet_is_byte_for_byte_zerodhas_sample() -> None:
    sample = _mock("ticker_full.json")
    assert encoder.packet(quote_from_sample(sample), encoder.MODE_FULL) == \
        _mock("ticker_full.packet")


def test_quote_packet_is_byte_for_byte_zerodhas_sample() -> None:
    sample = _mock("ticker_quote.json")
    assert encoder.packet(quote_from_sample(sample), encoder.MODE_QUOTE) == \
        _mock("ticker_quote.packet")


def test_frames_decode_with_kitetickers_parser_in_every_mode() -> None:
    sample = _mock("ticker_full.json")
    q = quote_from_sample(sample)
    frame = encoder.frame([encoder.packet(q, m) for m in encoder.MODES])
    ltp, quote, full = PARSER._parse_binary(frame)
    assert (ltp["mode"], ltp["last_price"], ltp["instrument_token"]) == ("ltp", 1573.7, 408065)
    assert quote["mode"] == "quote" and quote["ohlc"] == sample["ohlc"]
    assert quote["volume_traded"] == sample["volume"]
    assert full["mode"] == "full" and full["depth"]["sell"][4]["price"] == 1573.95
    assert full["exchange_timestamp"] == datetime.fromtimestamp(int(q.time.timestamp()))


@pytest.mark.parametrize(("mode", "size"), [("ltp", 8), ("quote", 28), ("full", 32)])
def test_index_packets_have_kites_sizes_and_high_low_open_close_order(mode: str,
                                                                      size: int) -> None:
    sample = dict(_mock("ticker_quote.json"), last_price=21000.5,
                  ohlc={"open": 20900.0, "high": 21100.25, "low": 20850.75, "close": 21050.0})
    q = quote_from_sample(sample, token=256265, segment="INDICES")
    packet = encoder.packet(q, mode)
    assert len(packet) == size
    (tick,) = PARSER._parse_binary(encoder.frame([packet]))
    assert tick["tradable"] is False and tick["last_price"] == 21000.5
    if mode != "ltp":
        assert tick["ohlc"] == sample["ohlc"]
        assert struct.unpack(">i", packet[24:28])[0] == -4950  # price change, signed


def test_divisors_follow_the_segment_byte_of_the_token() -> None:
    assert encoder.divisor(408065) == 100  # NSE
    assert encoder.divisor(412675) == 10_000_000  # CDS (segment 3)
    assert encoder.divisor(1 << 8 | 6) == 10_000  # BCD
    sample = dict(_mock("ticker_quote.json"), last_price=72.755)
    q = quote_from_sample(sample, token=412675)
    (tick,) = PARSER._parse_binary(encoder.frame([encoder.packet(q, "ltp")]))
    assert tick["last_price"] == pytest.approx(72.755)


def test_a_heartbeat_is_one_byte_that_parses_to_nothing() -> None:
    assert encoder.HEARTBEAT == b"\x00"
    assert PARSER._parse_binary(encoder.HEARTBEAT) == []
