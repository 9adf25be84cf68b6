"""Money, prices and quantities as an Indian trader reads them.

- ``money``: rupees with ₹ and lakh/crore grouping, rounded half-up to the paisa:
  ``+₹1,23,456.50``, ``-₹1,234.50``, ``₹12,34,56,789.00``. Zero has no sign (``₹0.00``,
  never ``-₹0.00``), so a loss that rounds to nothing reads as nothing. The minus is
  ASCII ``-``: it survives copying into a spreadsheet or a search.
- ``price``: a price, grouped the same way but without ₹ (a price is not an amount of
  money one has): ``1,632.10``. At least two decimals, more when the tick needs them
  (a currency future's ``83.2525`` keeps its four).
- ``quantity``: shares for equity (``150``, ``1,50,000``); for F&O and commodities the
  lots with the contracts: ``2 lots (150)``.
- ``contract``: a symbol with its expiry for a derivative: ``NFO:NIFTY26DEC24000CE
  (exp 24 Dec)``.

Pure functions, any thread. ``handlers.text`` re-exports them for the chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

RUPEE = "₹"
PAISA = Decimal("0.01")
# Exchanges whose instruments trade in lots: equity derivatives (NSE, BSE), currency, MCX.
DERIVATIVE_EXCHANGES = frozenset({"NFO", "BFO", "MCX", "CDS", "BCD", "NCO"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(str(value).strip().replace(",", "").replace(RUPEE, ""))
        except (InvalidOperation, ValueError):
            return None
    return number if number.is_finite() else None


def group_indian(digits: str) -> str:
    """'123456789' -> '12,34,56,789': the last three digits, then pairs (lakh, crore)."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail])


def _grouped(number: Decimal, places: int) -> str:
    """``abs(number)`` with ``places`` decimals and Indian grouping (no sign)."""
    text = f"{abs(number):.{places}f}"
    whole, _, fraction = text.partition(".")
    return group_indian(whole) + (f".{fraction}" if fraction else "")


def money(value: Any, sign: bool = True) -> str:
    """'+₹1,23,456.50' from a Decimal, a number or its string; '-' for None.

    ``sign=False`` drops the '+' of a gain (a balance, a distance), never the '-' of a
    loss. Zero, and anything that rounds to zero, is '₹0.00'. Text that is not a finite
    number comes back as it is."""
    if value is None:
        return "-"
    number = _decimal(value)
    if number is None:
        return str(value)
    rounded = number.quantize(PAISA, rounding=ROUND_HALF_UP)
    body = RUPEE + _grouped(rounded, 2)
    if rounded == 0:
        return body
    if rounded < 0:
        return "-" + body
    return "+" + body if sign else body


def price(value: Any) -> str:
    """'1,632.10': Indian grouping, no ₹, at least two decimals and as many more as the
    value has (a tick of 0.0025 keeps four); '-' for None."""
    if value is None:
        return "-"
    number = _decimal(value)
    if number is None:
        return str(value)
    exponent = number.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    text = _grouped(number, places)
    return "-" + text if number < 0 else text


def _field(instrument: Any, name: str, default: Any = None) -> Any:
    if isinstance(instrument, Mapping):
        return instrument.get(name, default)
    return getattr(instrument, name, default)


def is_derivative(instrument: Any) -> bool:
    """True for an instrument traded in lots: one of an F&O, currency or commodity
    exchange (NFO, BFO, MCX, CDS, ...), or a future or option by its type. Not an equity
    whatever its lot size says (NSE and BSE shares trade one by one). ``instrument``: an
    ``Instrument`` or a mapping with ``exchange`` (or ``symbol``)."""
    if instrument is None:
        return False
    if str(_field(instrument, "instrument_type", "") or "") in ("FUT", "CE", "PE"):
        return True
    exchange = _field(instrument, "exchange") or str(_field(instrument, "symbol", "")
                                                     ).partition(":")[0]
    return str(exchange).upper() in DERIVATIVE_EXCHANGES


def quantity(qty: int, instrument: Any = None) -> str:
    """'150' for equity; '2 lots (150)' for a derivative of lot 75; '1 lot (75)'; a
    quantity that is not whole lots (a partial fill) '100 (lot 75)'. The sign is dropped:
    the side is said beside it."""
    n = abs(int(qty))
    shown = group_indian(str(n))
    if not is_derivative(instrument):
        return shown
    lot = max(int(_field(instrument, "lot_size", 1) or 1), 1)
    if n % lot:
        return f"{shown} (lot {group_indian(str(lot))})"
    lots = n // lot
    return f"{group_indian(str(lots))} lot{'' if lots == 1 else 's'} ({shown})"


def expiry_text(expiry: Any) -> str:
    """'24 Dec' from a date or an ISO date string; '' when there is none."""
    if not expiry:
        return ""
    try:
        day = expiry if isinstance(expiry, date) else date.fromisoformat(str(expiry)[:10])
    except ValueError:
        return ""
    return f"{day.day} {_MONTHS[day.month - 1]}"


def contract(symbol: str, expiry: Any = None) -> str:
    """'NFO:NIFTY26DEC24000CE (exp 24 Dec)'; the symbol alone without an expiry."""
    shown = expiry_text(expiry)
    return f"{symbol} (exp {shown})" if shown else symbol
