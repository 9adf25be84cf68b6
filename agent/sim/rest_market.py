"""Market-data routes of the simulated exchange: instrument dumps, quotes, candles.

Also the pieces every route shares (the app key of the core, the success envelope). Loop
thread only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from agent.models import Instrument
from agent.sim import errors, rates, shapes
from agent.sim.core import SimCore
from agent.sim.errors import KiteError
from agent.sim.market import MinuteCandle
from agent.timeutil import IST

CORE = web.AppKey("core", SimCore)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
INTERVALS = {"minute": 1, "3minute": 3, "5minute": 5, "10minute": 10, "15minute": 15,
             "30minute": 30, "60minute": 60, "day": 0}


def ok(data: Any) -> web.Response:
    return web.json_response({"status": "success", "data": data})


def fail(err: KiteError) -> web.Response:
    return web.json_response(err.envelope(), status=err.http_status)


async def instruments(request: web.Request) -> web.Response:
    text = request.app[CORE].instruments_csv
    exchange = request.match_info.get("exchange")
    if exchange is not None:
        rows = list(csv.reader(io.StringIO(text)))
        col = rows[0].index("exchange")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(
            [rows[0]] + [r for r in rows[1:] if len(r) > col and r[col] == exchange])
        text = buf.getvalue()
    return web.Response(text=text, content_type="text/csv")


def _requested(core: SimCore, request: web.Request) -> dict[str, Instrument]:
    found = {}
    for key in request.query.getall("i", []):
        ins = (core.market.index.by_token(int(key)) if key.isdigit()
               else core.market.index.by_symbol(key))
        if ins is not None:
            found[key] = ins
    return found


async def quote(request: web.Request) -> web.Response:
    core = request.app[CORE]
    core.access.check_market_data()
    second, kind = core.second_now(), request.match_info.get("kind", "")
    data = {}
    for key, ins in _requested(core, request).items():
        q = core.market.quote(ins.token, second)
        if kind == "ltp":
            data[key] = {"instrument_token": ins.token, "last_price": shapes.num(q.last_price)}
        elif kind == "ohlc":
            data[key] = {"instrument_token": ins.token, "last_price": shapes.num(q.last_price),
                         "ohlc": shapes.ohlc(q)}
        else:
            data[key] = shapes.quote(q)
    return ok(data)


def _parse_time(raw: str, field: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(raw, fmt).replace(tzinfo=IST)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and field == "to":  # a date alone covers its whole day
            parsed = parsed.replace(hour=23, minute=59, second=59)
        return parsed
    raise errors.invalid(field)


async def historical(request: web.Request) -> web.Response:
    core = request.app[CORE]
    core.access.check_market_data()
    interval = request.match_info["interval"]
    if interval not in INTERVALS:
        raise errors.invalid("interval")
    token = request.match_info["token"]
    ins = core.market.index.by_token(int(token)) if token.isdigit() else None
    if ins is None:
        raise errors.invalid("instrument_token")
    start = _parse_time(request.query.get("from", ""), "from")
    end = _parse_time(request.query.get("to", ""), "to")
    if end < start:
        raise errors.input_error("Invalid `from` and `to` dates: `from` is after `to`.")
    if core.realism.on("rate_limits"):
        rates.check_historical_range(interval, start, end)
    minutes = core.market.minute_candles(ins.token, start, end.replace(second=59), core.now())
    with_oi = request.query.get("oi") in ("1", "true")
    rows = [shapes.candle(c, with_oi) for c in _aggregate(minutes, INTERVALS[interval])]
    return ok({"candles": rows})


def _aggregate(minutes: list[MinuteCandle], size: int) -> list[MinuteCandle]:
    """Minute candles into ``size``-minute candles on the session grid (0: day candles)."""
    if size == 1:
        return minutes
    groups: dict[datetime, list[MinuteCandle]] = {}
    for c in minutes:
        if size == 0:
            key = c.start.replace(hour=0, minute=0)
        else:
            opened = c.start.replace(hour=9, minute=15)
            offset = int((c.start - opened).total_seconds()) // 60 // size * size
            key = opened + timedelta(minutes=offset)
        groups.setdefault(key, []).append(c)
    return [MinuteCandle(k, g[0].open, max(c.high for c in g), min(c.low for c in g),
                         g[-1].close, sum(c.volume for c in g), g[-1].oi)
            for k, g in groups.items()]


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/instruments", instruments)
    r.add_get("/instruments/historical/{token}/{interval}", historical)
    r.add_get("/instruments/{exchange}", instruments)
    r.add_get("/quote", quote)
    r.add_get("/quote/{kind}", quote)
