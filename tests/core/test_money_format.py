"""Money, prices, quantities and contracts as an Indian trader reads them (agent/money.py,
re-exported by handlers/text.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from agent.models import Instrument
from agent.money import contract, group_indian, is_derivative, price, quantity
from handlers.text import money

NIFTY_CE = Instrument(11, "NFO", "NIFTY26DEC24000CE", Decimal("0.05"), 75,
                      segment="NFO-OPT", instrument_type="CE", expiry=date(2026, 12, 24))
INFY = Instrument(12, "NSE", "INFY", Decimal("0.05"), 1)


@pytest.mark.parametrize(("value", "signed", "plain"), [
    (Decimal("123456.5"), "+₹1,23,456.50", "₹1,23,456.50"),
    (Decimal("-1234.5"), "-₹1,234.50", "-₹1,234.50"),
    (Decimal(123456789), "+₹12,34,56,789.00", "₹12,34,56,789.00"),  # crore
    (Decimal("100000"), "+₹1,00,000.00", "₹1,00,000.00"),  # one lakh
    (Decimal("99999.99"), "+₹99,999.99", "₹99,999.99"),
    (Decimal("999"), "+₹999.00", "₹999.00"),
    (Decimal("1000"), "+₹1,000.00", "₹1,000.00"),
    (Decimal("-10000000"), "-₹1,00,00,000.00", "-₹1,00,00,000.00"),  # minus one crore
    (Decimal("1e15"), "+₹1,00,00,00,00,00,00,000.00", "₹1,00,00,00,00,00,00,000.00"),
    (Decimal("12.345"), "+₹12.35", "₹12.35"),  # half-up to the paisa
    (Decimal("-12.345"), "-₹12.35", "-₹12.35"),  # half away from zero
    (Decimal("999.995"), "+₹1,000.00", "₹1,000.00"),  # the rounding carries into grouping
    ("-1234.5", "-₹1,234.50", "-₹1,234.50"),  # the views' strings
    (1632, "+₹1,632.00", "₹1,632.00"),
    (0.1 + 0.2, "+₹0.30", "₹0.30"),  # a float through its str
])
def test_money_groups_in_lakhs_and_crores_with_the_rupee_sign(value, signed, plain) -> None:
    assert money(value) == signed
    assert money(value, sign=False) == plain


@pytest.mark.parametrize("zero", [0, Decimal(0), Decimal("-0"), Decimal("-0.00"), "-0.001",
                                  Decimal("0.004"), Decimal("-0.00499"), -0.0, "0.00"])
def test_zero_and_what_rounds_to_it_has_no_sign(zero) -> None:
    assert money(zero) == "₹0.00"
    assert money(zero, sign=False) == "₹0.00"


def test_half_a_paisa_rounds_away_from_zero() -> None:
    assert money("-0.005") == "-₹0.01"
    assert money("0.005") == "+₹0.01"


@pytest.mark.parametrize(("value", "shown"), [(None, "-"), ("n/a", "n/a"), ("NaN", "NaN"),
                                              (Decimal("Infinity"), "Infinity"), ("", "")])
def test_what_is_not_a_finite_number_is_shown_as_it_is(value, shown) -> None:
    assert money(value) == shown


def test_group_indian() -> None:
    assert [group_indian(s) for s in ("1", "12", "123", "1234", "12345", "123456",
                                      "1234567", "12345678", "123456789")] == [
        "1", "12", "123", "1,234", "12,345", "1,23,456", "12,34,567", "1,23,45,678",
        "12,34,56,789"]


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("1632.1"), "1,632.10"),
    (Decimal("1632.100"), "1,632.10"),
    (Decimal("83.2525"), "83.2525"),  # a currency future's tick of 0.0025 keeps four
    (Decimal("0.05"), "0.05"),
    (Decimal("24010"), "24,010.00"),
    (Decimal("1234567.5"), "12,34,567.50"),
    (Decimal("-12.5"), "-12.50"),
    (Decimal("-0"), "0.00"),
    ("112.65", "112.65"),
    (None, "-"),
    ("market", "market"),
])
def test_price_groups_without_the_rupee_sign_and_keeps_tick_decimals(value, shown) -> None:
    assert price(value) == shown


def test_quantity_in_shares_for_equity_and_lots_for_derivatives() -> None:
    assert quantity(150, INFY) == "150"
    assert quantity(150000, INFY) == "1,50,000"
    assert quantity(-150, None) == "150"  # the side is said beside it
    assert quantity(150, NIFTY_CE) == "2 lots (150)"
    assert quantity(75, NIFTY_CE) == "1 lot (75)"
    assert quantity(-75, NIFTY_CE) == "1 lot (75)"
    assert quantity(100, NIFTY_CE) == "100 (lot 75)"  # a partial fill is not whole lots
    assert quantity(75 * 1200, NIFTY_CE) == "1,200 lots (90,000)"
    # the chat's rows are mappings: the exchange (or the symbol) says it is a derivative
    assert quantity(50, {"exchange": "NFO", "lot_size": 25}) == "2 lots (50)"
    assert quantity(50, {"symbol": "MCX:GOLDM24DECFUT", "lot_size": 10}) == "5 lots (50)"
    # a lot size on an NSE share (the tests' instruments) does not make it a derivative
    assert quantity(50, {"exchange": "NSE", "lot_size": 50}) == "50"


def test_is_derivative() -> None:
    assert is_derivative(NIFTY_CE) and not is_derivative(INFY) and not is_derivative(None)
    assert is_derivative({"exchange": "BFO"}) and is_derivative({"symbol": "CDS:USDINR"})
    assert is_derivative({"exchange": "NSE", "instrument_type": "FUT"})


def test_contract_shows_the_expiry_of_a_derivative() -> None:
    assert contract("NFO:NIFTY26DEC24000CE", date(2026, 12, 24)) == \
        "NFO:NIFTY26DEC24000CE (exp 24 Dec)"
    assert contract("NFO:NIFTY26JAN24000CE", "2026-01-06") == \
        "NFO:NIFTY26JAN24000CE (exp 6 Jan)"
    assert contract("NSE:INFY", None) == "NSE:INFY"
    assert contract("NSE:INFY", "not a date") == "NSE:INFY"


def test_a_huge_amount_is_still_exact_and_fits_a_phone_line() -> None:
    # a ₹1 lakh crore loss: every digit kept (Decimal, never a float), 40 columns enough
    assert money(Decimal("-1e12")) == "-₹10,00,00,00,00,000.00"
    assert money(Decimal("12345678901234567.89")) == "+₹12,34,56,78,90,12,34,567.89"
    assert len(f"day P&L {money(Decimal('-1e12'))}") <= 40
