"""The Kite ticker WebSocket of the simulated exchange.

``ws://host:port/ws?api_key=...&access_token=...``: a bad token is refused at the handshake
with HTTP 403, and so is every handshake of a key without market data (the Personal plan;
Kite answers it like a dead token), a fourth connection of the API key with 429 (as Kite
does). Text messages ``{"a": "subscribe" | "unsubscribe" | "mode", "v": ...}`` manage
subscriptions (new ones stream in quote mode, as KiteTicker assumes); binary frames carry
ticks (``encoder``); a 1-byte heartbeat goes out after a second of wall time with nothing
else; every order change goes to every connection as ``{"type": "order", "data": {...}}``
(each interim status, and a partial fill or a modification as status UPDATE:
``agent.sim.lifecycle``, ``agent.sim.matching``).
Each connection has a writer task fed by a queue so frames keep their order. Loop thread
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from agent.sim import encoder, errors, shapes
from agent.sim.core import SimCore
from agent.sim.market import Quote
from agent.sim.orders import SimOrder

logger = logging.getLogger(__name__)

MAX_QUEUE = 5_000  # messages waiting for a slow client before ticks are dropped


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    request: web.Request
    modes: dict[int, str] = field(default_factory=dict)  # token -> mode, insertion ordered
    queue: asyncio.Queue[bytes | str] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class TickerHub:
    """Every open ticker connection and what it subscribed."""

    def __init__(self, core: SimCore, max_connections: int = 3,
                 max_subscriptions: int = 3_000, heartbeat_interval: float = 1.0) -> None:
        self.core = core
        self.max_connections = max_connections
        self.max_subscriptions = max_subscriptions
        self.heartbeat_interval = heartbeat_interval
        self.connections: list[Connection] = []
        core.hub = self
        core.book.listeners.append(self.broadcast_order)

    # ----- the handshake and the read side -----
    async def handle(self, request: web.Request) -> web.StreamResponse:
        core = self.core
        api_key = request.query.get("api_key", "")
        access_token = request.query.get("access_token", "")
        if not core.sessions.is_valid(api_key, access_token):
            body = errors.token_error().envelope()
            return web.json_response(body, status=403)
        if not core.access.market_data:  # the Personal plan: as bare as a dead token's
            body = errors.token_error("Authentication failed.").envelope()
            return web.json_response(body, status=403)
        if len(self.connections) >= self.max_connections:
            body = errors.network_error(errors.TOO_MANY_REQUESTS, 429).envelope()
            return web.json_response(body, status=429, reason="TooManyRequests")
        ws = web.WebSocketResponse(compress=False, autoping=True, timeout=2.0)
        await ws.prepare(request)
        conn = Connection(ws, request)
        conn.writer = asyncio.create_task(self._write(conn))
        self.connections.append(conn)
        logger.info("sim ticker: connection opened (%d open)", len(self.connections))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            if conn in self.connections:
                self.connections.remove(conn)
            conn.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.writer
            logger.info("sim ticker: connection closed (%d open)", len(self.connections))
        return ws

    def _on_text(self, conn: Connection, text: str) -> None:
        try:
            message = json.loads(text)
            action, value = message["a"], message["v"]
            if action == "mode":
                mode, tokens = value[0], [int(t) for t in value[1]]
                if mode not in encoder.MODES:
                    raise ValueError(mode)
            else:
                mode, tokens = encoder.MODE_QUOTE, [int(t) for t in value]
        except (ValueError, KeyError, TypeError, IndexError):
            self._send_text(conn, {"type": "error", "data": f"Invalid message: {text[:200]}"})
            return
        known = [t for t in tokens if self.core.market.index.by_token(t) is not None]
        if action == "unsubscribe":
            for token in known:
                conn.modes.pop(token, None)
            return
        if action not in ("subscribe", "mode"):
            self._send_text(conn, {"type": "error", "data": f"Unknown action: {action}"})
            return
        fresh = [t for t in known if t not in conn.modes]
        room = max(0, self.max_subscriptions - len(conn.modes))
        if len(fresh) > room:
            dropped = fresh[room:]
            known = [t for t in known if t not in set(dropped)]
            self._send_text(conn, {"type": "error", "data": errors.SUBSCRIPTION_LIMIT.format(
                limit=self.max_subscriptions, dropped=len(dropped))})
        changed = []
        for token in known:
            if action == "mode" or token not in conn.modes:
                conn.modes[token] = mode
                changed.append(token)
        if changed:  # Kite answers a subscription with the instruments' current state
            second = self.core.second_now()
            quotes = {t: self.core.market.quote(t, second) for t in changed}
            self._send_frame(conn, [encoder.packet(quotes[t], conn.modes[t]) for t in changed])

    # ----- the write side -----
    def _enqueue(self, conn: Connection, message: bytes | str, droppable: bool) -> None:
        if droppable and conn.queue.qsize() >= MAX_QUEUE:
            return
        conn.queue.put_nowait(message)

    def _send_frame(self, conn: Connection, packets: list[bytes]) -> None:
        if packets:
            self._enqueue(conn, encoder.frame(packets), droppable=True)

    def _send_text(self, conn: Connection, payload: dict[str, Any]) -> None:
        self._enqueue(conn, json.dumps(payload), droppable=False)

    async def _write(self, conn: Connection) -> None:
        faults, ws = self.core.faults, conn.ws
        while not ws.closed:
            try:
                message = await asyncio.wait_for(conn.queue.get(), self.heartbeat_interval)
            except TimeoutError:
                message = encoder.HEARTBEAT
            if faults.silenced:
                continue
            try:
                if isinstance(message, str):
                    await ws.send_str(message)
                else:
                    await ws.send_bytes(message)
            except (ConnectionError, RuntimeError):
                return

    def send_step(self, second: int) -> None:
        """Stream one tick step (session second) to every subscriber."""
        if not self.connections:
            return
        quotes: dict[int, Quote] = {}
        for conn in self.connections:
            packets = []
            for token, mode in conn.modes.items():
                q = quotes.get(token)
                if q is None:
                    q = quotes[token] = self.core.market.quote(token, second)
                packets.append(encoder.packet(q, mode))
            self._send_frame(conn, packets)

    def broadcast_order(self, order: SimOrder) -> None:
        """Book listener: every order change to every connection of the user."""
        if not self.connections:
            return
        data = shapes.order_update(order, self.core.account, self.core.sessions.api_secret)
        for conn in self.connections:
            self._send_text(conn, {"type": "order", "data": data})

    # ----- faults and shutdown -----
    def drop_all(self) -> None:
        """Abort every connection's TCP stream (an unclean close)."""
        for conn in list(self.connections):
            conn.abort()

    async def close_all(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close()
