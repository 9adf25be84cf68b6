"""The request-time checks of the simulated exchange (Kite's API and Zerodha's mini-RMS).

A failing check raises ``KiteError`` (400 InputException): the API refuses the request and
no order is created. ``Book._check_request`` delegates here (placements, autoslice and
modifications); ``check_place`` holds what needs the whole place request (its product).

Always in force: the market's hours (unless the book was made with
``reject_outside_session=False``), the market protection of MARKET/SL-M orders, positive
prices and triggers, and no SL-M on options (the exchanges stopped them).

By realism rule (``agent.sim.realism``; each on by default):

- ``option_rules`` (support.zerodha.com, KITE_2026 §1.3):
  * a MARKET order on an illiquid option is refused (``errors.OPTION_MARKET``). Zerodha
    does not publish what "illiquid" means; the rule here: every stock option is illiquid;
    an index option (underlying ``INDEX_UNDERLYINGS``) is illiquid unless the simulated
    market lists its underlying index and the strike is at most ``ATM_STRIKES`` listed
    strikes from the at-the-money one (the listed strike of the same underlying and expiry
    nearest the index's LTP). The simulated market trades every instrument every second,
    so volume and open interest say nothing and are not used; nor is the expiry month;
  * a LIMIT order on an option priced far from the LTP is refused
    (``errors.OPTION_FAR_LIMIT``): a buy above 250% of the LTP (150% above it) or a sell
    below 50% of it, unless the LTP is below ₹100 (Zerodha's figures). SL orders are not
    checked (the page speaks of limit orders only).
- ``circuit_limits``: a LIMIT or SL order priced outside the circuit band of the day
  (``Quote.lower_circuit`` .. ``upper_circuit``, both allowed) is refused
  (``errors.CIRCUIT_LIMITS``, tradingqna.com/t/193460). The matching-time half of the rule
  (an SL triggered outside the LPP range is cancelled) lives with the matching.
- ``sl_checks``: an SL/SL-M trigger on the wrong side of the LTP (a buy's below it, a
  sell's above it: ``errors.TRIGGER_BUY``/``TRIGGER_SELL``), and an SL whose limit price is
  on the wrong side of its trigger (a buy's trigger above its price:
  ``errors.TRIGGER_ABOVE_PRICE``; a sell's below it: ``errors.TRIGGER_BELOW_PRICE``) are
  refused.
- ``mis_square_off`` (``check_place``): after the segment's auto square-off time
  (``SQUARE_OFF_TIMES``; the broker's own square-off is ``agent.sim.squareoff``) a fresh
  MIS order is refused (``errors.MIS_AFTER_SQUARE_OFF``);
  one that only reduces the instrument's MIS position (the opposite side, at most its
  size) is an exit and allowed.

Loop thread only (the book's owner).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from agent.models import Instrument, Side
from agent.sim import errors
from agent.sim.orders import OrderRequest, is_option
from agent.timeutil import ist, to_ist

if TYPE_CHECKING:
    from agent.sim.book import Book
    from agent.sim.market import Market

# Index options' underlying (the option's ``name``, or its symbol's prefix) -> the index.
INDEX_UNDERLYINGS = {"NIFTY": "NSE:NIFTY 50", "BANKNIFTY": "NSE:NIFTY BANK",
                     "FINNIFTY": "NSE:NIFTY FIN SERVICE", "MIDCPNIFTY": "NSE:NIFTY MID SELECT",
                     "NIFTYNXT50": "NSE:NIFTY NEXT 50", "SENSEX": "BSE:SENSEX",
                     "BANKEX": "BSE:BANKEX", "SENSEX50": "BSE:SENSEX50"}
ATM_STRIKES = 10  # an index option further than this many strikes from ATM is illiquid
FAR_BUY = Decimal("2.5")  # an option LIMIT buy above LTP x this is refused
FAR_SELL = Decimal("0.5")  # an option LIMIT sell below LTP x this is refused
FAR_EXEMPT_BELOW = Decimal(100)  # ... unless the LTP is below this (rupees)
# After the underlying: YY + (MON | weekly M DD), the strike, CE/PE (Kite's option symbols).
_OPTION_TAIL = re.compile(r"^(\d{2}(?:[A-Z]{3}|[1-9OND]\d{2}))(\d+(?:\.\d+)?)(CE|PE)$")
# The broker's MIS auto square-off, on the exchange's clock (support.zerodha.com "intraday
# auto square-off timings"; KITE_2026 1.6): MCX is 25 minutes before its close, below.
SQUARE_OFF_TIMES = {"NSE": time(15, 20), "BSE": time(15, 20), "NFO": time(15, 25),
                    "BFO": time(15, 25), "CDS": time(16, 45), "BCD": time(16, 45)}
EARLIEST_SQUARE_OFF = min(SQUARE_OFF_TIMES.values())
MCX_BEFORE_CLOSE = timedelta(minutes=25)
_NEW_YORK = ZoneInfo("America/New_York")


def check_request(book: Book, ins: Instrument, order_type: str, side: Side, price: Decimal,
                  trigger: Decimal, protection: Decimal | None, now: datetime) -> None:
    """The API-level checks of a placement or a modification (see the module's docstring)."""
    market, realism = book.market, book.realism
    if book.reject_outside_session and not market.is_open(now):
        raise errors.input_error(errors.MARKET_CLOSED)
    if order_type in ("MARKET", "SL-M"):
        if protection is None or protection == 0:
            raise errors.input_error(errors.MARKET_PROTECTION)
        if protection != -1 and not 0 < protection <= 100:
            raise errors.invalid("market_protection")
    if order_type in ("LIMIT", "SL") and price <= 0:
        raise errors.invalid("price")
    if order_type in ("SL", "SL-M") and trigger <= 0:
        raise errors.invalid("trigger_price")
    option = is_option(ins)
    if order_type == "SL-M" and option:
        raise errors.input_error(errors.SLM_OPTIONS)
    second = market.second_of(now)
    if option and realism.on("option_rules"):
        _check_option(market, ins, order_type, side, price, second)
    if order_type in ("LIMIT", "SL") and realism.on("circuit_limits"):
        quote = market.quote(ins.token, second)
        if not quote.lower_circuit <= price <= quote.upper_circuit:
            raise errors.input_error(errors.CIRCUIT_LIMITS)
    if order_type in ("SL", "SL-M") and realism.on("sl_checks"):
        ltp = market.ltp(ins.token, second)
        if side is Side.BUY and trigger < ltp:
            raise errors.input_error(errors.TRIGGER_BUY)
        if side is Side.SELL and trigger > ltp:
            raise errors.input_error(errors.TRIGGER_SELL)
        if order_type == "SL" and side is Side.BUY and trigger > price:
            raise errors.input_error(errors.TRIGGER_ABOVE_PRICE)
        if order_type == "SL" and side is Side.SELL and trigger < price:
            raise errors.input_error(errors.TRIGGER_BELOW_PRICE)


def check_place(book: Book, req: OrderRequest, now: datetime) -> None:
    """What a place request is refused for beyond ``check_request``: a fresh MIS order after
    its segment's auto square-off time (``mis_square_off``)."""
    if req.product != "MIS" or not book.realism.on("mis_square_off"):
        return
    market = book.market
    ins = market.index.by_symbol(f"{req.exchange}:{req.tradingsymbol}")
    if ins is None or (book.reject_outside_session and not market.is_open(now)):
        return  # the book answers these (unknown symbol, markets closed)
    at = is_past_square_off(ins.exchange, market.trading_date, now)
    if at is None:
        return
    held = sum(p.quantity for p in book.positions.all()
               if p.instrument.token == ins.token and p.product == "MIS")
    if held and (req.side is Side.SELL) == (held > 0) and req.quantity <= abs(held):
        return  # an exit of the position
    raise errors.input_error(errors.MIS_AFTER_SQUARE_OFF.format(time=f"{at:%H:%M}"))


# ----- the auto square-off's time -----
def square_off_time(exchange: str, day: date) -> datetime | None:
    """When the broker squares off MIS positions of ``exchange`` on ``day`` (None: never).
    MCX closes at 23:30 while New York keeps daylight saving time, else at 23:55 (its
    agricultural contracts close earlier and are not told apart)."""
    found = SQUARE_OFF_TIMES.get(exchange)
    if found is not None:
        return ist(day, found)
    if exchange == "MCX":
        summer = datetime(day.year, day.month, day.day, 12, tzinfo=_NEW_YORK).dst()
        return ist(day, time(23, 30) if summer else time(23, 55)) - MCX_BEFORE_CLOSE
    return None


def is_past_square_off(exchange: str, day: date, now: datetime) -> datetime | None:
    """The square-off time of ``exchange`` when ``now`` is at or after it, else None."""
    at = square_off_time(exchange, day)
    return at if at is not None and to_ist(now) >= at else None


def marketable_limit(market: Market, ins: Instrument, side: Side, second: int) -> Decimal:
    """The most aggressive LIMIT price these checks let through: the circuit limit on the
    order's side, for an option no further from the LTP than ``option_rules`` allows."""
    quote = market.quote(ins.token, second)
    buy = side is Side.BUY
    price = quote.upper_circuit if buy else quote.lower_circuit
    ltp, tick = quote.last_price, ins.tick_size
    if is_option(ins) and ltp >= FAR_EXEMPT_BELOW and tick > 0:
        far = ltp * (FAR_BUY if buy else FAR_SELL) / tick
        edge = far.to_integral_value(ROUND_FLOOR if buy else ROUND_CEILING) * tick
        price = min(price, edge) if buy else max(price, edge)
    return price


# ----- options -----
def _check_option(market: Market, ins: Instrument, order_type: str, side: Side,
                  price: Decimal, second: int) -> None:
    if order_type == "MARKET" and is_illiquid(market, ins, second):
        raise errors.input_error(errors.OPTION_MARKET)
    if order_type == "LIMIT":
        ltp = market.ltp(ins.token, second)
        if ltp < FAR_EXEMPT_BELOW:
            return
        if (side is Side.BUY and price > ltp * FAR_BUY) or \
                (side is Side.SELL and price < ltp * FAR_SELL):
            raise errors.input_error(errors.OPTION_FAR_LIMIT)


def underlying(ins: Instrument) -> str | None:
    """The index an index option is written on (a key of INDEX_UNDERLYINGS), else None."""
    if ins.name:
        return ins.name if ins.name in INDEX_UNDERLYINGS else None
    for name in sorted(INDEX_UNDERLYINGS, key=len, reverse=True):
        if ins.tradingsymbol.startswith(name) and \
                _OPTION_TAIL.match(ins.tradingsymbol[len(name):]):
            return name
    return None


def _series_strike(ins: Instrument, name: str) -> tuple[str, Decimal] | None:
    """(expiry code, strike) of an option on ``name``, from Kite's symbol."""
    if not ins.tradingsymbol.startswith(name):
        return None
    found = _OPTION_TAIL.match(ins.tradingsymbol[len(name):])
    return (found.group(1), Decimal(found.group(2))) if found else None


def is_illiquid(market: Market, ins: Instrument, second: int) -> bool:
    """Whether MARKET orders are refused on option ``ins`` (see the module's docstring)."""
    name = underlying(ins)
    if name is None:
        return True  # a stock option
    index = market.index.by_symbol(INDEX_UNDERLYINGS[name])
    mine = _series_strike(ins, name)
    if index is None or mine is None:
        return True  # no index to place the ATM strike with
    expiry, strike = mine
    strikes = set()
    for other in market.index:
        if is_option(other) and underlying(other) == name:
            found = _series_strike(other, name)
            if found is not None and found[0] == expiry:
                strikes.add(found[1])
    chain = sorted(strikes)
    spot = market.ltp(index.token, second)
    atm = min(range(len(chain)), key=lambda k: abs(chain[k] - spot))
    return abs(chain.index(strike) - atm) > ATM_STRIKES
