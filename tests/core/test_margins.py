"""agent/margins.py: Kite's margins() read into Funds, the margin rules, and Kite's shape
(which the simulated exchange and the paper account answer in)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from agent.margins import (
    MarginParts,
    entry_margin,
    funds_from_kite,
    position_margin,
    segment_of,
    segment_shape,
)
from agent.models import Instrument, Side
from agent.timeutil import IST
from tests.kite_mocks import mock_json

AT = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
INFY = Instrument(1, "NSE", "INFY", Decimal("0.05"))
NIFTY_FUT = Instrument(2, "NFO", "NIFTY26DECFUT", Decimal("0.1"), 75, segment="NFO-FUT",
                       instrument_type="FUT")
NIFTY_CE = Instrument(3, "NFO", "NIFTY26DEC24000CE", Decimal("0.05"), 75,
                      segment="NFO-OPT", instrument_type="CE")
GOLD = Instrument(4, "MCX", "GOLDM26DECFUT", Decimal("1"), 10, segment="MCX-FUT",
                  instrument_type="FUT")


def _mock(name: str) -> dict:
    return mock_json(name)["data"]


def test_kites_sample_answer_reads_into_funds() -> None:
    funds = funds_from_kite(_mock("margins.json"), AT)
    equity, commodity = funds.segment("equity"), funds.segment("commodity")
    assert equity is not None and commodity is not None and funds.source == "kite"
    assert equity.available == Decimal("99725.05000000002")  # Kite's float, kept exact
    assert equity.used == Decimal("145706.55")
    assert (equity.opening, equity.exposure, equity.span) == (
        Decimal("245431.6"), Decimal("38981.25"), Decimal(101989))
    assert equity.realised == Decimal("761.7")
    assert commodity.available == Decimal("100661.7") and commodity.used == 0


def test_one_segments_answer_reads_as_equity() -> None:
    funds = funds_from_kite(_mock("margins_equity.json"), AT)
    assert [s.segment for s in funds.segments] == ["equity"]
    assert funds.segment("equity").used == Decimal("145706.55")  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "says"), [
    ([], "expected an object"),
    ({}, "neither an equity nor a commodity"),
    ({"equity": {"net": "abc", "utilised": {"debits": 1}}}, "equity.net"),
    ({"equity": {"net": 1, "utilised": {}}}, "equity.utilised.debits"),
    ({"equity": {"net": True, "utilised": {"debits": 1}}}, "equity.net"),
    ({"equity": {"net": 1, "utilised": {"debits": float("nan")}}}, "finite"),
    ({"equity": {"net": 1, "utilised": [1]}}, "objects"),
])
def test_a_shape_that_is_not_kites_is_refused_naming_the_field(data, says) -> None:
    with pytest.raises(ValueError, match=says):
        funds_from_kite(data, AT)


def test_a_disabled_segment_is_left_out() -> None:
    data = _mock("margins.json")
    data["commodity"]["enabled"] = False
    assert [s.segment for s in funds_from_kite(data, AT).segments] == ["equity"]


def test_margin_rules() -> None:
    # equity MIS at Kite's 5x, CNC in full
    assert position_margin(INFY, "MIS", 100, Decimal(1500)) == MarginParts(
        exposure=Decimal(30000))
    assert position_margin(INFY, "MIS", -100, Decimal(1500)).total == Decimal(30000)
    assert position_margin(INFY, "CNC", 100, Decimal(1500)).total == Decimal(150000)
    # futures SPAN-like: 12 % + 3 % of the contract value, whatever the product
    fut = position_margin(NIFTY_FUT, "NRML", 75, Decimal(24000))
    assert (fut.span, fut.exposure) == (Decimal(216000), Decimal(54000))
    assert position_margin(NIFTY_FUT, "MIS", -75, Decimal(24000)) == fut
    # an option bought: its premium
    assert position_margin(NIFTY_CE, "NRML", 150, Decimal(120)) == MarginParts(
        option_premium=Decimal(18000))
    assert position_margin(INFY, "MIS", 0, Decimal(1500)) == MarginParts()


def test_entry_margin() -> None:
    assert entry_margin(INFY, "MIS", Side.BUY, 150, Decimal("1632.10")) == Decimal("48963.000")
    assert entry_margin(INFY, "MIS", Side.SELL, 150, Decimal("1632.10")) == Decimal("48963.000")
    assert entry_margin(NIFTY_CE, "NRML", Side.BUY, 75, Decimal(100)) == Decimal(7500)
    assert entry_margin(NIFTY_CE, "NRML", Side.SELL, 75, Decimal(100)) is None  # not told
    assert entry_margin(INFY, "MIS", Side.BUY, 150, None) is None  # no price yet
    assert entry_margin(INFY, "MIS", Side.BUY, 0, Decimal(1)) is None


def test_segments() -> None:
    assert segment_of(INFY) == segment_of(NIFTY_FUT) == "equity"
    assert segment_of(GOLD) == "commodity"


def test_kites_shape_round_trips_and_matches_the_sample_keys() -> None:
    parts = MarginParts(span=Decimal(1000), exposure=Decimal(250))
    shape = segment_shape(Decimal(100000), Decimal(500), Decimal(-2000), parts)
    sample = _mock("margins.json")["equity"]
    assert list(shape) == list(sample)
    assert list(shape["available"]) == list(sample["available"])
    assert list(shape["utilised"]) == list(sample["utilised"])
    funds = funds_from_kite({"equity": shape}, AT)
    seg = funds.segment("equity")
    assert seg is not None
    assert seg.available == Decimal(100000 + 500 - 2000 - 1250)
    assert seg.used == Decimal(1250 + 1500)  # what is blocked plus the day's loss
