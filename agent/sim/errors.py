"""Kite-style API errors of the simulated exchange, and the texts it uses.

A ``KiteError`` becomes the Kite error envelope
``{"status": "error", "message": ..., "error_type": ..., "data": null}`` with its HTTP code;
the real kiteconnect client raises ``kiteconnect.exceptions.<error_type>`` from it.

Where a text comes from (so nobody mistakes an invented one for Kite's own):

- documented (Kite docs or Zerodha staff on the Kite forum, quoted verbatim):
  ``TOO_MANY_REQUESTS``, ``MAX_MODIFICATIONS``, ``MARKET_PROTECTION``, ``FREEZE`` (pattern),
  ``AUTOSLICE_MINIMUM`` (pattern), ``TRIGGER_TICK`` (NSE code 16316), ``TOKEN_INVALID``,
  ``INVALID_SESSION``, the ``Invalid `field`.`` pattern and the ``tag`` length text
  (documented with 8, Kite's limit is now 20);
- reported by users (not in Kite's docs): ``INSUFFICIENT_PERMISSION`` (a key without the
  market-data plan), ``IP_NOT_ALLOWED`` (an order call from an unregistered IP; the
  report quotes ``IP (2402:...) is not allowed``, the rest of the text is ours);
- Zerodha's support pages (support.zerodha.com), their sentence used as the API's text
  (the API's own wording is not published): ``OPTION_MARKET`` ("order rejected ... place
  around the theoretical price": "Zerodha doesn't allow market orders in illiquid index
  options and stock option contracts"), ``OPTION_FAR_LIMIT`` ("limit orders far away from
  LTP are rejected"), ``MIS_AFTER_SQUARE_OFF`` ("intraday auto square-off timings": "Fresh
  orders for MIS/CO order types ... after the auto square-off time is not allowed");
- reported by users or third parties (not in Kite's docs): ``CIRCUIT_LIMITS``
  (tradingqna.com/t/193460), ``TRIGGER_BUY``/``TRIGGER_SELL`` (listed as Zerodha's messages
  by stocksdeveloper.in), ``TRIGGER_ABOVE_PRICE``/``TRIGGER_BELOW_PRICE`` (webnotes.in and
  rmoneyindia);
- the order lifecycle (``agent.sim.lifecycle``, ``agent.sim.matching``):
  ``LPP_CANCELLED`` is Kite's status message for an SL cancelled by the exchange outside the
  LPP range (kite.trade/forum/discussion/13838, and the title of Zerodha's support page
  "price-out-of-lpp-range"); ``ORDER_UNKNOWN`` is the OrderException a modify got
  milliseconds after the placement (forum comment/48691, quoted without its id);
  ``MODIFY_BEING_PROCESSED`` is known from public third-party Kite code that retries on it
  (and webnotes.in); ``CANCEL_BEING_PROCESSED`` appears as
  ``kiteconnect.exceptions.InputException`` in a user's script and in third-party logs
  (that Kite refuses cancels so is otherwise UNVERIFIED);
- modelled on Kite's style but invented here: ``PRICE_TICK``, ``LOT_SIZE``,
  ``SLM_OPTIONS``, ``ORDER_NOT_FOUND``, ``NOT_MODIFIABLE``, ``NOT_CANCELLABLE``,
  ``MARKET_CLOSED``, ``SUBSCRIPTION_LIMIT``, ``HISTORICAL_RANGE`` (the pattern of the 60-day
  minute cap's text, a user report, with the other intervals' caps), ``SQUARED_OFF`` and
  ``SQUARE_OFF_CANCELLED`` (the status messages of the broker's own square-off).
"""

from __future__ import annotations

TOO_MANY_REQUESTS = "Too many requests"
MAX_MODIFICATIONS = "Maximum allowed order modifications exceeded."
MARKET_PROTECTION = ("Market orders without market protection are not allowed via API. "
                     "Please set market protection or use a Limit order.")
FREEZE = ("The order quantity {quantity} ({lots} lots) is higher than the maximum quantity of "
          "{freeze} ({freeze_lots} lots) allowed by the exchanges. Please reduce the order "
          "quantity or use iceberg orders. [Read more.](https://support.zerodha.com/category/"
          "trading-and-markets/margin-leverage-and-product-and-order-types/articles/"
          "what-does-the-error-rms-rule-check-freeze-quantity-for-fo-including-square-off-"
          "order-mean)")
AUTOSLICE_MINIMUM = "Quantity should be greater than or equal to {minimum} for order slicing."
TRIGGER_TICK = "16316 : The trigger price is not a multiple of tick size"
PRICE_TICK = "The price is not a multiple of tick size"
LOT_SIZE = "Quantity {quantity} should be a multiple of the lot size {lot}."
SLM_OPTIONS = ("SL-M orders are not allowed for option contracts by the exchange. "
               "Place an SL (stoploss-limit) order instead.")
TRIGGER_BUY = ("Trigger price for stoploss buy orders should be higher than the "
               "last traded price.")
TRIGGER_SELL = ("Trigger price for stoploss sell orders should be lower than the "
                "last traded price.")
TRIGGER_ABOVE_PRICE = "Trigger price can't be higher than price."
TRIGGER_BELOW_PRICE = "Trigger price can't be lesser than price."
OPTION_MARKET = ("Zerodha doesn't allow market orders in illiquid index options and stock "
                 "option contracts")
OPTION_FAR_LIMIT = ("Limit orders that are placed far away from the LTP are restricted to "
                    "avoid freak trades.")
CIRCUIT_LIMITS = "Price exceeds circuit limits for the instrument"
MIS_AFTER_SQUARE_OFF = ("Fresh orders for MIS/CO order types after the auto square-off time "
                        "({time}) is not allowed.")
SQUARED_OFF = "Squared off by the broker: intraday (MIS) auto square-off at {time}."
SQUARE_OFF_CANCELLED = "Cancelled by the broker: intraday (MIS) auto square-off at {time}."
HISTORICAL_RANGE = "interval exceeds max limit: {days} days"
TAG = "`tag` should be max 20 characters"
TAG_CHARS = "`tag` should be alphanumeric"
INVALID = "Invalid `{field}`."
ORDER_NOT_FOUND = "Couldn't find that `order_id`."
NOT_MODIFIABLE = "Order cannot be modified as it is {status}."
NOT_CANCELLABLE = "Order cannot be cancelled as it is {status}."
MODIFY_BEING_PROCESSED = "Order cannot be modified as it is being processed. Try later."
CANCEL_BEING_PROCESSED = "Order cannot be cancelled as it is being processed. Try later."
ORDER_UNKNOWN = "The order for ID ({order_id}) does not exist"
LPP_CANCELLED = ("The order was cancelled by the exchange because the price is outside the "
                 "current allowed limit price protection range")
MARKET_CLOSED = "Markets are closed right now. Use GTT for placing long standing orders instead."
TOKEN_INVALID = "Token is invalid or has expired."
INVALID_SESSION = "Incorrect `api_key` or `access_token`."
INSUFFICIENT_PERMISSION = "Insufficient permission for that call."
IP_NOT_ALLOWED = "IP ({ip}) is not allowed to place orders for this app."
SUBSCRIPTION_LIMIT = ("Subscription limit exceeded: a connection can subscribe to at most "
                      "{limit} instruments; {dropped} were ignored.")


class KiteError(Exception):
    """An error the API answers with instead of data. Raised and caught in the sim thread."""

    def __init__(self, message: str, error_type: str = "InputException",
                 http_status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.http_status = http_status

    def envelope(self) -> dict[str, object]:
        return {"status": "error", "message": self.message, "error_type": self.error_type,
                "data": None}


def input_error(message: str) -> KiteError:
    return KiteError(message, "InputException", 400)


def invalid(field: str) -> KiteError:
    return input_error(INVALID.format(field=field))


def token_error(message: str = INVALID_SESSION) -> KiteError:
    return KiteError(message, "TokenException", 403)


def permission_error(message: str) -> KiteError:
    return KiteError(message, "PermissionException", 403)


def network_error(message: str, http_status: int = 503) -> KiteError:
    return KiteError(message, "NetworkException", http_status)


def server_error(http_status: int) -> KiteError:
    """What an injected server fault answers: 500 general, 502-504 network."""
    if http_status == 500:
        return KiteError("Something unexpected went wrong", "GeneralException", 500)
    text = {502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout"}
    return network_error(text.get(http_status, "Request failed"), http_status)
