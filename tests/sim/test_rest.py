"""Every REST route through the real kiteconnect client, including each rejection."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from agent.sim import errors
from agent.sim.server import KITE_ORDER_LIMITS, SimExchange
from tests.sim.conftest import ADANIPORTS, BANKNIFTY_CE, NIFTY, kite_for, settled

OPTION = "BANKNIFTY18JAN23500CE"


def ltp(kite: KiteConnect, symbol: str = "NSE:ADANIPORTS") -> Decimal:
    return Decimal(str(kite.ltp(symbol)[symbol]["last_price"]))


def on_grid(price: Decimal, tick: str = "0.05") -> Decimal:
    return (price / Decimal(tick)).quantize(Decimal(1)) * Decimal(tick)


def place(kite: KiteConnect, **kw: object) -> str:
    args: dict[str, object] = {"variety": "regular", "exchange": "NSE",
                               "tradingsymbol": "ADANIPORTS", "transaction_type": "BUY",
                               "quantity": 1, "product": "MIS", "order_type": "MARKET"}
    args.update(kw)
    if args["order_type"] in ("MARKET", "SL-M"):
        args.setdefault("market_protection", -1)
    return kite.place_order(**args)


def last(kite: KiteConnect, order_id: str) -> dict:
    return kite.order_history(order_id)[-1]


# ----- session -----
def test_login_flow_checksum_and_logout(sim: SimExchange) -> None:
    kite = KiteConnect(sim.api_key, root=sim.rest_root)
    request_token = sim.issue_request_token()
    with pytest.raises(kex.TokenException, match="checksum"):
        kite.generate_session(request_token, "not-the-secret")
    session = kite.generate_session(request_token, sim.api_secret)
    assert kite.access_token == session["access_token"] and len(session["access_token"]) == 32
    assert session["api_key"] == sim.api_key and isinstance(session["login_time"], datetime)
    assert kite.profile()["user_id"] == session["user_id"]
    with pytest.raises(kex.TokenException, match="Token is invalid or has expired"):
        KiteConnect(sim.api_key, root=sim.rest_root).generate_session(request_token,
                                                                      sim.api_secret)
    assert kite.invalidate_access_token() is True
    with pytest.raises(kex.TokenException) as caught:
        kite.profile()
    assert caught.value.code == 403


def test_the_kite_version_header_and_the_authorization_are_checked(sim: SimExchange,
                                                                   kite: KiteConnect) -> None:
    auth = {"Authorization": f"token {sim.api_key}:{kite.access_token}"}
    answer = requests.get(f"{sim.rest_root}/user/profile", headers=auth, timeout=5)
    assert answer.status_code == 400 and answer.json()["error_type"] == "InputException"
    answer = requests.get(f"{sim.rest_root}/user/profile", timeout=5,
                          headers={"X-Kite-Version": "3", "Authorization": "token a:b"})
    assert (answer.status_code, answer.json()["error_type"]) == (403, "TokenException")
    assert answer.headers["Content-Type"].startswith("application/json")
    answer = requests.get(f"{sim.rest_root}/no/such/route", timeout=5)
    assert answer.status_code == 404 and answer.json()["status"] == "error"


def test_the_login_page_redirects_with_a_request_token(sim: SimExchange) -> None:
    sim.redirect_url = "http://127.0.0.1:9/callback?app=1"
    try:
        url = f"{sim.login_url}?api_key={sim.api_key}&v=3"
        answer = requests.get(url, allow_redirects=False, timeout=5)
        refused = requests.get(f"{sim.login_url}?api_key=wrong&v=3", timeout=5)
    finally:
        sim.redirect_url = None
    assert answer.status_code == 302 and refused.status_code == 400
    found = re.fullmatch(r"http://127\.0\.0\.1:9/callback\?app=1&request_token=(\w+)"
                         r"&action=login&type=login&status=success", answer.headers["Location"])
    assert found is not None
    session = KiteConnect(sim.api_key, root=sim.rest_root).generate_session(found[1],
                                                                           sim.api_secret)
    assert session["access_token"]


# ----- user and market data -----
def test_profile_and_margins(kite: KiteConnect) -> None:
    assert kite.profile()["broker"] == "ZERODHA"
    margins = kite.margins()
    assert set(margins) == {"equity", "commodity"}
    assert kite.margins("equity")["available"]["opening_balance"] == 1_000_000
    assert kite.margins("commodity")["enabled"] is True
    with pytest.raises(kex.InputException):
        kite.margins("crypto")


def test_instruments_dump_and_per_exchange(sim: SimExchange, kite: KiteConnect) -> None:
    everything = kite.instruments()
    assert len(everything) == len(sim.instruments) == 100
    nfo = kite.instruments("NFO")
    assert nfo and {i["exchange"] for i in nfo} == {"NFO"}
    option = next(i for i in nfo if i["tradingsymbol"] == OPTION)
    assert (option["lot_size"], option["expiry"], option["strike"]) == (40, date(2018, 1, 25),
                                                                       23500.0)


def test_quote_ltp_and_ohlc(kite: KiteConnect) -> None:
    keys = ["NSE:ADANIPORTS", f"NFO:{OPTION}", "NSE:NIFTY 50", "NSE:NOSUCH"]
    quotes = kite.quote(*keys)
    assert set(quotes) == set(keys[:3])
    q = quotes["NSE:ADANIPORTS"]
    assert q["instrument_token"] == ADANIPORTS and isinstance(q["timestamp"], datetime)
    assert q["ohlc"]["low"] <= q["last_price"] <= q["ohlc"]["high"]
    assert q["depth"]["buy"][0]["price"] < q["depth"]["sell"][0]["price"]
    assert Decimal(str(q["last_price"])) % Decimal("0.05") == 0
    assert quotes[f"NFO:{OPTION}"]["oi"] > 0 and quotes["NSE:NIFTY 50"]["volume"] >= 0
    assert set(kite.ltp("NSE:ADANIPORTS", str(NIFTY))) == {"NSE:ADANIPORTS", str(NIFTY)}
    ohlc = kite.ohlc("NSE:ADANIPORTS")["NSE:ADANIPORTS"]
    assert set(ohlc) == {"instrument_token", "last_price", "ohlc"}
    assert ohlc["ohlc"]["close"] == q["ohlc"]["close"]


def test_historical_minute_candles_with_and_without_oi(sim: SimExchange,
                                                       kite: KiteConnect) -> None:
    now = sim.clock.now().replace(tzinfo=None)
    candles = kite.historical_data(ADANIPORTS, "2024-01-11 09:00:00", now, "minute")
    friday = [c for c in candles if c["date"].date() == date(2024, 1, 12)]
    today = [c for c in candles if c["date"].date() == date(2024, 1, 15)]
    assert len(friday) == 375 and today and not [c for c in candles if c["date"].weekday() > 4]
    assert today[-1]["date"] <= sim.clock.now()
    with_oi = kite.historical_data(BANKNIFTY_CE, now - timedelta(days=1), now, "minute",
                                   oi=True)
    assert with_oi and with_oi[0]["oi"] > 0
    five = kite.historical_data(ADANIPORTS, "2024-01-12 09:15:00", "2024-01-12 15:30:00",
                                "5minute")
    assert len(five) == 75 and five[0]["high"] == max(c["high"] for c in friday[:5])
    day = kite.historical_data(ADANIPORTS, "2024-01-12", "2024-01-12", "day")
    assert len(day) == 1 and day[0]["close"] == friday[-1]["close"]
    with pytest.raises(kex.InputException):
        kite.historical_data(ADANIPORTS, now, now, "7minute")


# ----- orders -----
def test_market_order_trades_and_positions(kite: KiteConnect) -> None:
    before = {p["tradingsymbol"]: p["quantity"] for p in kite.positions()["net"]}
    order_id = place(kite, tradingsymbol="CDSL", quantity=3, tag="mkt1")
    done = settled(kite, order_id, lambda row: row["status"] == "COMPLETE")
    history = kite.order_history(order_id)
    assert [h["status"] for h in history][-2:] == ["OPEN", "COMPLETE"]
    assert done["tag"] == "mkt1" and done["filled_quantity"] == 3
    trades = kite.order_trades(order_id)  # one per depth level it took
    assert sum(t["quantity"] for t in trades) == 3
    assert {t["transaction_type"] for t in trades} == {"BUY"}
    paid = sum(Decimal(str(t["average_price"])) * t["quantity"] for t in trades)
    assert abs(paid / 3 - Decimal(str(done["average_price"]))) < Decimal("0.0001")
    assert {t["trade_id"] for t in trades} <= {t["trade_id"] for t in kite.trades()}
    net = {p["tradingsymbol"]: p for p in kite.positions()["net"]}
    assert net["CDSL"]["quantity"] == before.get("CDSL", 0) + 3
    assert order_id in {o["order_id"] for o in kite.orders()}


def test_limit_modify_cancel(kite: KiteConnect) -> None:
    price = on_grid(ltp(kite) * Decimal("0.9"))
    order_id = place(kite, order_type="LIMIT", price=float(price))
    assert settled(kite, order_id)["status"] == "OPEN"
    assert kite.modify_order("regular", order_id, price=float(price - 1), quantity=2) == order_id
    settled(kite, order_id)
    mine = next(o for o in kite.orders() if o["order_id"] == order_id)
    assert (mine["price"], mine["quantity"], mine["modified"]) == (float(price - 1), 2, True)
    assert kite.cancel_order("regular", order_id) == order_id
    assert settled(kite, order_id)["status"] == "CANCELLED"
    with pytest.raises(kex.OrderException):
        kite.cancel_order("regular", order_id)
    with pytest.raises(kex.InputException, match="Couldn't find"):
        kite.order_history("999")


def test_stoploss_orders_wait_for_their_trigger(kite: KiteConnect) -> None:
    price = ltp(kite)
    sl = place(kite, order_type="SL", trigger_price=float(on_grid(price * Decimal("1.1"))),
               price=float(on_grid(price * Decimal("1.11"))))
    slm = place(kite, order_type="SL-M", transaction_type="SELL",
                trigger_price=float(on_grid(price * Decimal("0.9"))))
    assert settled(kite, sl)["status"] == settled(kite, slm)["status"] == "TRIGGER PENDING"
    kite.cancel_order("regular", sl)
    kite.cancel_order("regular", slm)


def test_order_rejections_map_to_kites_exceptions(kite: KiteConnect) -> None:
    with pytest.raises(kex.InputException) as caught:
        place(kite, market_protection=0)
    assert str(caught.value) == errors.MARKET_PROTECTION and caught.value.code == 400
    option_ltp = float(ltp(kite, f"NFO:{OPTION}"))  # LIMIT: no MARKET orders on options
    with pytest.raises(kex.InputException, match="higher than the maximum quantity of 900"):
        place(kite, exchange="NFO", tradingsymbol=OPTION, quantity=920, order_type="LIMIT",
              price=option_ltp)
    with pytest.raises(kex.InputException, match="SL-M orders are not allowed"):
        place(kite, exchange="NFO", tradingsymbol=OPTION, quantity=40, order_type="SL-M",
              trigger_price=float(ltp(kite, f"NFO:{OPTION}") + 10))
    with pytest.raises(kex.InputException, match="`tag` should be max 20 characters"):
        place(kite, tag="x" * 21)
    off_tick = place(kite, order_type="LIMIT", price=float(on_grid(ltp(kite) * Decimal("0.9"))
                                                           + Decimal("0.02")))
    assert (settled(kite, off_tick)["status"], last(kite, off_tick)["status_message"]) == (
        "REJECTED", errors.PRICE_TICK)
    off_lot = place(kite, exchange="NFO", tradingsymbol=OPTION, quantity=50,
                    order_type="LIMIT", price=option_ltp)
    assert settled(kite, off_lot)["status"] == "REJECTED"
    assert "lot size 40" in last(kite, off_lot)["status_message"]


def test_the_26th_modification_raises_network_exception(kite: KiteConnect) -> None:
    price = on_grid(ltp(kite) * Decimal("0.9"))  # 25 rupees lower stays in the circuit band
    order_id = place(kite, order_type="LIMIT", price=float(price))
    settled(kite, order_id)
    for i in range(25):
        kite.modify_order("regular", order_id, price=float(price - i))
        settled(kite, order_id)  # a modify while the last is processed would be refused
    with pytest.raises(kex.NetworkException, match="Maximum allowed order modifications"):
        kite.modify_order("regular", order_id, price=float(price))
    kite.cancel_order("regular", order_id)


def test_kites_order_rate_limit_answers_429(fresh_sim: Callable[..., SimExchange]) -> None:
    assert KITE_ORDER_LIMITS == ((10, 1.0), (400, 60.0), (5_000, 86_400.0))
    sim = fresh_sim(order_rate_limits=((3, 60.0),))  # Kite's shape, slow enough for CI
    kite = kite_for(sim)
    for _ in range(3):
        place(kite)
    with pytest.raises(kex.NetworkException) as caught:
        place(kite)
    assert (str(caught.value), caught.value.code) == ("Too many requests", 429)
    assert len(kite.orders()) == 3


def test_on_its_own_clock_the_rate_window_counts_exchange_seconds(
        fresh_sim: Callable[..., SimExchange]) -> None:
    """``rate_clock="exchange"``: three orders a minute of exchange time; at speed 6000 a
    minute passes in 10 ms of wall time, so the fourth order, refused at once, passes once
    that much real time has gone by (never on real seconds: a minute is not waited here)."""
    sim = fresh_sim(order_rate_limits=((3, 60.0),), speed=6000, rate_clock="exchange")
    kite = kite_for(sim)
    first = sim.clock.now()
    for _ in range(3):
        place(kite)
    refused = 0
    for _ in range(1_000):  # about 10 ms of wall time is needed; each try takes ~1 ms
        try:
            place(kite)
            break
        except kex.NetworkException as exc:
            assert exc.code == 429
            refused += 1
    assert sim.clock.now() - first >= timedelta(seconds=60)  # a minute of exchange time
    assert len(kite.orders()) == 4 and refused < 1_000


def test_an_explicit_instrument_list_is_served_as_a_kite_dump() -> None:
    from agent.models import Instrument

    items = [Instrument(408065, "NSE", "INFY", Decimal("0.05"), segment="NSE", name="INFOSYS"),
             Instrument(256265, "NSE", "NIFTY 50", Decimal("0.05"), segment="INDICES")]
    with SimExchange(items, start=date(2024, 1, 15), speed=60) as sim:
        kite = kite_for(sim)
        dump = kite.instruments()
        assert [(i["instrument_token"], i["tradingsymbol"]) for i in dump] == [
            (408065, "INFY"), (256265, "NIFTY 50")]
        assert Decimal(str(kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"])) > 0
        assert sim.ltp("NSE:INFY") % Decimal("0.05") == 0


def test_a_missing_instruments_file_is_named(tmp_path: Path) -> None:
    from agent.instruments import InstrumentsError

    with pytest.raises(InstrumentsError, match=r"nope\.csv"):
        SimExchange(tmp_path / "nope.csv")
    with pytest.raises(InstrumentsError, match="12345"):
        SimExchange(base_prices={12345: 10})
