"""Our answers have every field of Zerodha's samples, with the same JSON types.

For every sample in tests/data/kite-mocks of a kind the simulator serves, the answer of the
same kind (taken through the real client's raw ``_get``/``_post``, before it converts
anything) must carry each field the sample has, recursively, with the same JSON type. A
null is allowed only where a sample has null. In a list of objects the fields every sample
element has are required; a field only some have is optional but type-checked when present.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect

from agent.sim.server import SimExchange
from tests.kite_mocks import mock_text
from tests.sim.conftest import ADANIPORTS, BANKNIFTY_CE, INTERIM, Recorder, settled

QUOTE_KEY = "NSE:INFY"  # the instrument Zerodha's quote samples use


def sample(name: str) -> Any:
    text = mock_text(name)
    if name.endswith(".csv"):
        return text
    data = json.loads(text)
    return data.get("data", data) if isinstance(data, dict) and "status" in data else data


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


@dataclass
class Schema:
    kinds: set[str] = field(default_factory=set)
    nullable: bool = False
    fields: dict[str, Schema] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    items: Schema | None = None
    tuple_items: list[Schema] | None = None  # arrays of arrays: checked by position


def infer(values: list[Any]) -> Schema:
    schema = Schema()
    present = [v for v in values if v is not None]
    schema.nullable = len(present) < len(values)
    schema.kinds = {kind(v) for v in present}
    objects = [v for v in present if isinstance(v, dict)]
    if objects:
        keys = set().union(*objects)
        schema.required = set.intersection(*(set(o) for o in objects))
        schema.fields = {k: infer([o[k] for o in objects if k in o]) for k in keys}
    arrays = [v for v in present if isinstance(v, list)]
    elements = [e for a in arrays for e in a]
    if elements and all(isinstance(e, list) for e in elements):
        width = len(elements[0])
        schema.tuple_items = [infer([e[i] for e in elements]) for i in range(width)]
    elif elements:
        schema.items = infer(elements)
    return schema


def check(schema: Schema, value: Any, path: str = "$") -> list[str]:
    if value is None:
        return [] if schema.nullable or not schema.kinds else [f"{path}: null, sample has a value"]
    if schema.kinds and kind(value) not in schema.kinds:
        return [f"{path}: {kind(value)}, sample has {sorted(schema.kinds)}"]
    problems: list[str] = []
    if isinstance(value, dict):
        for key in sorted(schema.required - set(value)):
            problems.append(f"{path}.{key}: missing")
        for key, sub in sorted(schema.fields.items()):
            if key in value:
                problems += check(sub, value[key], f"{path}.{key}")
    if isinstance(value, list):
        for i, item in enumerate(value):
            if schema.tuple_items is not None:
                if len(item) != len(schema.tuple_items):
                    problems.append(f"{path}[{i}]: {len(item)} items, sample has "
                                    f"{len(schema.tuple_items)}")
                    continue
                for j, (sub, part) in enumerate(zip(schema.tuple_items, item, strict=True)):
                    problems += check(sub, part, f"{path}[{i}][{j}]")
            elif schema.items is not None:
                problems += check(schema.items, item, f"{path}[{i}]")
    return problems


def assert_like(sample_value: Any, ours: Any) -> None:
    assert ours, "nothing to compare: the answer is empty"
    problems = check(infer([sample_value]), ours)
    assert not problems, "\n".join(problems)


def test_the_checker_itself_catches_missing_fields_and_wrong_types() -> None:
    schema = infer([[{"a": 1, "b": None, "c": [["x", 1]]}, {"a": 2, "b": "s", "d": True}]])
    assert check(schema, [{"a": 3, "b": None, "c": [["y", 2.5]]}]) == []
    assert check(schema, [{"b": 1}]) == ["$[0].a: missing", "$[0].b: number, sample has "
                                                             "['string']"]
    assert check(schema, [{"a": None, "b": "s", "c": [[1, 1]], "d": "no"}]) == [
        "$[0].a: null, sample has a value", "$[0].c[0][0]: number, sample has ['string']",
        "$[0].d: string, sample has ['boolean']"]


@pytest.fixture(scope="module")
def activity(sim: SimExchange, kite: KiteConnect) -> dict[str, str]:
    """Orders of every kind, so that orders, trades and positions are not empty."""
    filled = kite.place_order("regular", "NSE", "ADANIPORTS", "BUY", 2, "MIS", "MARKET",
                              market_protection=-1, tag="shape1")
    floor = kite.quote("NSE:ADANIPORTS")["NSE:ADANIPORTS"]["lower_circuit_limit"]
    rest = kite.place_order("regular", "NSE", "ADANIPORTS", "BUY", 2, "MIS", "LIMIT",
                            price=floor)  # rests: the lowest price the circuit band allows
    settled(kite, rest)  # a modify before the order is OPEN is refused ("being processed")
    kite.modify_order("regular", rest, price=floor + 1)
    settled(kite, rest)
    settled(kite, filled, lambda row: row["status"] == "COMPLETE")
    return {"filled": filled, "resting": rest}


@pytest.mark.parametrize(("name", "route"), [
    ("profile.json", "user.profile"),
    ("margins.json", "user.margins"),
    ("positions.json", "portfolio.positions"),
    ("orders.json", "orders"),
    ("trades.json", "trades"),
])
def test_plain_routes(kite: KiteConnect, activity: dict[str, str], name: str,
                      route: str) -> None:
    assert_like(sample(name), kite._get(route))


@pytest.mark.parametrize(("name", "segment"), [("margins_equity.json", "equity"),
                                               ("margin_commodity.json", "commodity")])
def test_segment_margins(kite: KiteConnect, name: str, segment: str) -> None:
    assert_like(sample(name), kite._get("user.margins.segment", url_args={"segment": segment}))


def test_order_history_and_order_trades(kite: KiteConnect, activity: dict[str, str]) -> None:
    for order_id in activity.values():
        assert_like(sample("order_info.json"),
                    kite._get("order.info", url_args={"order_id": order_id}))
    assert_like(sample("order_trades.json"),
                kite._get("order.trades", url_args={"order_id": activity["filled"]}))


@pytest.mark.parametrize(("name", "route"), [("quote.json", "market.quote"),
                                             ("ltp.json", "market.quote.ltp"),
                                             ("ohlc.json", "market.quote.ohlc")])
def test_quotes(kite: KiteConnect, name: str, route: str) -> None:
    ours = kite._get(route, params={"i": ["NSE:ADANIPORTS", "NFO:BANKNIFTY18JAN23500CE"]})
    assert len(ours) == 2
    for value in ours.values():
        assert_like(sample(name)[QUOTE_KEY], value)


@pytest.mark.parametrize(("name", "oi"), [("historical_minute.json", 0),
                                          ("historical_oi.json", 1)])
def test_historical(kite: KiteConnect, name: str, oi: int) -> None:
    ours = kite._get("market.historical",
                     url_args={"instrument_token": BANKNIFTY_CE, "interval": "minute"},
                     params={"from": "2024-01-12 09:15:00", "to": "2024-01-12 09:30:00",
                             "oi": oi})
    assert len(ours["candles"]) == 16
    assert_like(sample(name), ours)


def test_session_and_order_writes(sim: SimExchange, kite: KiteConnect) -> None:
    fresh = KiteConnect(sim.api_key, root=sim.rest_root)
    token = sim.issue_request_token()
    checksum = hashlib.sha256((sim.api_key + token + sim.api_secret).encode()).hexdigest()
    session = fresh._post("api.token", params={"api_key": sim.api_key, "request_token": token,
                                               "checksum": checksum})
    assert_like(sample("generate_session.json"), session)
    floor = kite.quote("NSE:ADANIPORTS")["NSE:ADANIPORTS"]["lower_circuit_limit"]
    placed = kite._post("order.place", url_args={"variety": "regular"}, params={
        "exchange": "NSE", "tradingsymbol": "ADANIPORTS", "transaction_type": "BUY",
        "quantity": 1, "product": "MIS", "order_type": "LIMIT", "price": floor})
    assert_like(sample("order_response.json"), placed)
    args = {"variety": "regular", "order_id": placed["order_id"]}
    settled(kite, placed["order_id"])  # Kite refuses a change while it is being processed
    assert_like(sample("order_modify.json"),
                kite._put("order.modify", url_args=args, params={"price": floor + 1}))
    settled(kite, placed["order_id"])
    assert_like(sample("order_cancel.json"), kite._delete("order.cancel", url_args=args))
    fresh.access_token = session["access_token"]
    assert fresh._delete("api.token.invalidate", params={
        "api_key": sim.api_key, "access_token": session["access_token"]}) is True
    assert sample("session_logout.json") is True


def test_instrument_dump_columns(sim: SimExchange) -> None:
    ours = requests.get(f"{sim.rest_root}/instruments", timeout=5)
    assert ours.headers["Content-Type"].startswith("text/csv")
    header = next(csv.reader(io.StringIO(ours.text)))
    for name in ("instruments_all.csv", "instruments_nse.csv"):
        assert header == next(csv.reader(io.StringIO(sample(name))))


def test_websocket_order_messages_are_postbacks(ticker: tuple[Any, Recorder],
                                                kite: KiteConnect) -> None:
    _, rec = ticker
    order_id = kite.place_order("regular", "NSE", "ADANIPORTS", "SELL", 1, "MIS", "MARKET",
                                market_protection=-1)
    assert rec.wait_for(lambda: any(o["order_id"] == order_id and o["status"] == "COMPLETE"
                                    for o in rec.orders))
    ours = [o for o in rec.orders if o["order_id"] == order_id]
    postback = sample("postback.json")
    at_exchange = [o for o in ours if o["status"] not in INTERIM]
    for update in at_exchange:
        assert_like(postback, update)
    # on its way to the exchange the message has every field, the exchange's still null
    exchange_fields = {"exchange_order_id", "exchange_timestamp", "exchange_update_timestamp"}
    for update in ours[:len(ours) - len(at_exchange)]:
        assert set(postback) <= set(update) and update["status"] in INTERIM
        assert {k: update[k] for k in exchange_fields} == dict.fromkeys(exchange_fields)
        assert_like({k: v for k, v in postback.items() if k not in exchange_fields},
                    {k: v for k, v in update.items() if k not in exchange_fields})
    assert [o["status"] for o in ours][:4] == [*INTERIM[:3], "OPEN"]
    assert ours[-1]["instrument_token"] == ADANIPORTS
