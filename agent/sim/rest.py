"""The Kite Connect v3 REST API of the simulated exchange (aiohttp, loop thread).

Every JSON answer is Kite's envelope with ``Content-Type: application/json``; instruments
are CSV. ``X-Kite-Version: 3`` and ``Authorization: token api_key:access_token`` are
checked on every API route except the token exchange, the instrument dumps and the login
page. Order writes come only from the registered static IPs (``core.access``) and go
through the order rate limiter and the fault switches; every other request through its
family's limiter (``agent.sim.rates``, with the realism rule ``rate_limits``). A place
request is checked whole by ``agent.sim.rules.check_place`` (MIS after the auto square-off)
before the book checks it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from agent import margins
from agent.sim import errors, rates, rest_charges, rest_market, rules, shapes
from agent.sim.core import SimCore
from agent.sim.errors import KiteError
from agent.sim.orders import parse_change, parse_place
from agent.sim.rest_market import CORE, Handler, fail, ok

logger = logging.getLogger(__name__)


def _is_public(request: web.Request) -> bool:
    path = request.path
    if path in ("/session/token", "/instruments"):
        return True
    return path.startswith("/instruments/") and not path.startswith("/instruments/historical/")


@web.middleware
async def kite_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, headers and authentication, and KiteError -> envelope."""
    core = request.app[CORE]
    if request.path in ("/ws", "/connect/login", "/connect/redirect"):
        return await handler(request)
    if request.match_info.http_exception is not None:
        status = request.match_info.http_exception.status
        return fail(KiteError("Route not found" if status == 404 else "Method not allowed",
                              "GeneralException", status))
    try:
        if request.path.startswith("/sim/"):  # the exchange's own controls: no faults
            return await handler(request)
        delay = core.faults.slow
        if delay:
            await asyncio.sleep(delay)
        code = core.faults.take_server_error()
        if code is not None:
            raise errors.server_error(code)
        if not _is_public(request):
            if request.headers.get("X-Kite-Version") != "3":
                raise errors.input_error("Invalid or missing `X-Kite-Version` header.")
            core.sessions.check_header(request.headers.get("Authorization"))
        if core.realism.on("rate_limits"):  # orders count in their handlers (after the IP)
            core.rates.check(rates.family(request.method, request.path))
        return await handler(request)
    except KiteError as err:
        return fail(err)
    except Exception:
        logger.exception("sim REST handler failed on %s %s", request.method, request.path)
        return fail(KiteError("Something unexpected went wrong", "GeneralException", 500))


# ----- session and user -----
async def session_token(request: web.Request) -> web.Response:
    core = request.app[CORE]
    form = await request.post()
    access, public = core.sessions.exchange(str(form.get("api_key", "")),
                                            str(form.get("request_token", "")),
                                            str(form.get("checksum", "")))
    return ok(shapes.session(core.account, core.sessions.api_key, access, public, core.now()))


async def session_delete(request: web.Request) -> web.Response:
    core = request.app[CORE]
    token = request.query.get("access_token", "")
    if request.query.get("api_key") != core.sessions.api_key or not core.sessions.invalidate(token):
        raise errors.token_error()
    return ok(True)


async def user_profile(request: web.Request) -> web.Response:
    return ok(shapes.profile(request.app[CORE].account))


def _margins(core: SimCore) -> dict[str, dict[str, Any]]:
    """Both segments: what the open positions block by ``agent.margins``'s rules (equity
    MIS at 5x, futures SPAN-like 15 %, options bought their premium), at the LTP."""
    second, out = core.second_now(), {}
    for segment in margins.SEGMENTS:
        realised = unrealised = Decimal(0)
        blocked = margins.MarginParts()
        for pos in core.book.positions.all():
            if margins.segment_of(pos.instrument) != segment:
                continue
            ltp = core.market.ltp(pos.instrument.token, second)
            realised += pos.realised
            unrealised += pos.unrealised(ltp)
            blocked += margins.position_margin(pos.instrument, pos.product, pos.quantity, ltp)
        opening = core.account.opening_balance if segment == "equity" else Decimal(0)
        out[segment] = margins.segment_shape(opening, realised, unrealised, blocked)
    return out


async def user_margins(request: web.Request) -> web.Response:
    margins = _margins(request.app[CORE])
    segment = request.match_info.get("segment")
    if segment is None:
        return ok(margins)
    if segment not in margins:
        raise errors.invalid("segment")
    return ok(margins[segment])


# ----- orders -----
def _order_write(core: SimCore, request: web.Request) -> None:
    """What every order write (place, modify, cancel) goes through first."""
    core.access.check_order_ip(request.remote)
    if core.faults.take_rate_limited():
        raise rates.too_many_requests()
    if core.realism.on("rate_limits") and not core.order_limiter.allow():
        raise rates.too_many_requests()


async def place_order(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    _order_write(core, request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    req = parse_place(request.match_info["variety"], form)
    rules.check_place(core.book, req, core.now())
    if req.autoslice:
        parent, children = core.book.place_autoslice(req, core.now())
        data: dict[str, Any] = {"order_id": parent,
                                "children": [{"order_id": c.order_id} for c in children]}
    else:
        data = {"order_id": core.book.place(req, core.now()).order_id}
    timeout = core.faults.take_send_timeout()
    if timeout is not None:
        logger.info("sim fault: order %s placed, answer withheld", data["order_id"])
        if timeout.drop:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        await asyncio.sleep(timeout.delay)
    return ok(data)


async def modify_order(request: web.Request) -> web.Response:
    core = request.app[CORE]
    _order_write(core, request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    order = core.book.modify(request.match_info["order_id"], parse_change(form), core.now())
    return ok({"order_id": order.order_id})


async def cancel_order(request: web.Request) -> web.Response:
    core = request.app[CORE]
    _order_write(core, request)
    order = core.book.cancel(request.match_info["order_id"], core.now())
    return ok({"order_id": order.order_id})


async def list_orders(request: web.Request) -> web.Response:
    return ok([shapes.order(o) for o in request.app[CORE].book.orders.values()])


async def order_history(request: web.Request) -> web.Response:
    order = request.app[CORE].book.get(request.match_info["order_id"])
    return ok([shapes.order(s) for s in order.history])


async def order_trades(request: web.Request) -> web.Response:
    book = request.app[CORE].book
    order = book.get(request.match_info["order_id"])
    return ok([shapes.trade(t) for t in book.trades if t.order_id == order.order_id])


async def trades(request: web.Request) -> web.Response:
    return ok([shapes.trade(t) for t in request.app[CORE].book.trades])


async def positions(request: web.Request) -> web.Response:
    core = request.app[CORE]
    second = core.second_now()
    rows = [shapes.position(p, core.market.ltp(p.instrument.token, second),
                            core.market.prev_close(p.instrument.token))
            for p in core.book.positions.all()]
    return ok({"net": rows, "day": json.loads(json.dumps(rows))})


# ----- login page -----
async def login_page(request: web.Request) -> web.Response:
    """Kite's login page, already logged in: redirect with a fresh request token."""
    core = request.app[CORE]
    if request.query.get("api_key") != core.sessions.api_key:
        return web.Response(status=400, text="Invalid `api_key`.", content_type="text/plain")
    token = core.sessions.issue_request_token()
    if core.redirect_url:
        query = urlencode({"request_token": token, "action": "login", "type": "login",
                           "status": "success"})
        sep = "&" if "?" in core.redirect_url else "?"
        raise web.HTTPFound(f"{core.redirect_url}{sep}{query}")
    return web.Response(text=f"request_token={token}\n", content_type="text/plain")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/session/token", session_token)
    r.add_delete("/session/token", session_delete)
    r.add_get("/user/profile", user_profile)
    r.add_get("/user/margins", user_margins)
    r.add_get("/user/margins/{segment}", user_margins)
    rest_market.add_routes(app)
    rest_charges.add_routes(app)  # POST /charges/orders: the virtual contract note
    r.add_get("/orders", list_orders)
    r.add_post("/orders/{variety}", place_order)
    r.add_get("/orders/{order_id}", order_history)
    r.add_put("/orders/{variety}/{order_id}", modify_order)
    r.add_delete("/orders/{variety}/{order_id}", cancel_order)
    r.add_get("/orders/{order_id}/trades", order_trades)
    r.add_get("/trades", trades)
    r.add_get("/portfolio/positions", positions)
    r.add_get("/connect/login", login_page)
