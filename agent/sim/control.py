"""The simulated exchange's own control routes, for tests and its owner (never Kite's).

    GET  /sim/clock     {"now": ISO time, "speed": N, "rate_clock": "wall"|"exchange"}
    POST /sim/faults    {"server_errors": {"n": 2, "code": 503}, "silence": true, ...}
    POST /sim/realism   {"disable": ["partial_fills"], "enable": [...]} -> the rules in force
    POST /sim/access    {"market_data": false, "static_ips": ["203.0.113.9"] | null}
    GET  /connect/redirect   the page the login redirects to (its address carries the
                             request_token, as the app's redirect URL does at Kite)

They answer plain JSON (``{"status": "success", "data": ...}``) without Kite's
authentication: the exchange listens on loopback, for its owner. A bad body is a 400 naming
what was wrong. Loop thread only (the switches themselves are locked).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from agent.sim import errors
from agent.sim.core import SimCore
from agent.sim.faults import Faults
from agent.sim.rest_market import CORE, ok

# name -> the Faults method and its keyword arguments (with defaults)
FAULTS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "drop_sockets": ("drop_sockets", ()),
    "silence": ("silence", ("on",)),
    "rate_limit_burst": ("rate_limit_burst", ("n",)),
    "server_errors": ("server_errors", ("n", "code")),
    "slow_responses": ("slow_responses", ("seconds",)),
    "timeout_after_send": ("timeout_after_send", ("n", "delay", "drop")),
    "expire_tokens": ("expire_tokens", ()),
    "hold_pending": ("hold_pending", ("n", "seconds")),
    "clear": ("clear", ()),
}


def apply_faults(faults: Faults, spec: Any) -> list[str]:
    """Switch the faults named in ``spec`` (a JSON object: name -> true or an object of
    keyword arguments). Raises ValueError naming the first bad entry; nothing is switched
    unless every entry is good."""
    if not isinstance(spec, dict) or not spec:
        raise ValueError('expected a JSON object such as {"server_errors": {"n": 2}}')
    calls: list[Callable[[], object]] = []
    for name, args in spec.items():
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        method, params = FAULTS[name]
        if args is True or args is None:
            kwargs: dict[str, Any] = {}
        elif isinstance(args, dict) and set(args) <= set(params):
            kwargs = dict(args)
        else:
            raise ValueError(f"{name}: expected true or an object with "
                             f"{', '.join(params) or 'no keys'}, got {json.dumps(args)}")
        calls.append(lambda m=method, k=kwargs: getattr(faults, m)(**k))
    for call in calls:
        try:
            call()
        except TypeError as exc:
            raise ValueError(str(exc)) from None
    return list(spec)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise errors.input_error("expected a JSON body") from None


async def clock(request: web.Request) -> web.Response:
    core: SimCore = request.app[CORE]
    return ok({"now": core.clock.now().isoformat(), "speed": core.clock.speed,
               "rate_clock": core.rate_clock})


async def faults(request: web.Request) -> web.Response:
    core: SimCore = request.app[CORE]
    try:
        switched = apply_faults(core.faults, await _body(request))
    except ValueError as exc:
        raise errors.input_error(str(exc)) from None
    return ok({"switched": switched})


async def realism(request: web.Request) -> web.Response:
    core: SimCore = request.app[CORE]
    body = await _body(request)
    if not isinstance(body, dict) or not set(body) <= {"disable", "enable"}:
        raise errors.input_error('expected {"disable": [names], "enable": [names]}')
    try:
        core.realism.disable(*body.get("disable", []))
        core.realism.enable(*body.get("enable", []))
    except (ValueError, TypeError) as exc:
        raise errors.input_error(str(exc)) from None
    return ok({"in_force": list(core.realism.names())})


async def access(request: web.Request) -> web.Response:
    core: SimCore = request.app[CORE]
    body = await _body(request)
    if not isinstance(body, dict) or not set(body) <= {"market_data", "static_ips"}:
        raise errors.input_error('expected {"market_data": bool, "static_ips": [ips] | null}')
    try:
        if "market_data" in body:
            if not isinstance(body["market_data"], bool):
                raise ValueError("market_data: expected true or false")
            core.access.set_market_data(body["market_data"])
        if "static_ips" in body:
            core.access.register_ips(body["static_ips"])
    except (ValueError, TypeError, AttributeError) as exc:
        raise errors.input_error(str(exc)) from None
    return ok({"market_data": core.access.market_data})


async def redirect_page(request: web.Request) -> web.Response:
    token = request.query.get("request_token", "")
    return web.Response(text=f"Logged in to the simulated exchange (request_token={token}).\n"
                             "Paste this page's address into /login or `bot.py login`.\n",
                        content_type="text/plain")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/sim/clock", clock)
    r.add_post("/sim/faults", faults)
    r.add_post("/sim/realism", realism)
    r.add_post("/sim/access", access)
    r.add_get("/connect/redirect", redirect_page)
