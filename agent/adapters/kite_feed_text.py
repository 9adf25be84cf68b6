"""Text frames of the Kite ticker: order updates to the broker adapter, the rest logged.

``{"type": "order", "data": {...}}`` goes to ``on_order_message(data)``. Kite sends every
order update to every connection of the API key, so with several connections the same
bytes arrive more than once: an exact repeat of one of the last 256 order messages is
dropped (an identical update carries nothing new; the broker adapter is idempotent anyway).
``{"type": "error", ...}`` is logged as a warning, ``{"type": "message", ...}`` at INFO.
Reactor thread only (counters may be read from any thread).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

SEEN_ORDER_MESSAGES = 256


class TextFrames:
    def __init__(self, on_order_message: Callable[[dict[str, Any]], None] | None) -> None:
        self._on_order_message = on_order_message
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self.frames = 0  # every text frame
        self.order_messages = 0  # order updates handed on (repeats not counted)
        self.errors = 0  # {"type": "error"} messages

    def handle(self, payload: bytes | str) -> None:
        self.frames += 1
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("Kite ticker sent a text frame that is not JSON: %r", raw[:200])
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "order":
            data = message.get("data")
            if isinstance(data, dict) and self._first_time(raw):
                self.order_messages += 1
                self._deliver(data)
        elif kind == "error":
            self.errors += 1
            logger.warning("Kite ticker error: %s", message.get("data"))
        elif kind == "message":
            logger.info("Kite ticker message: %s", message.get("data"))
        else:
            logger.debug("Kite ticker text frame ignored: %r", raw[:200])

    def _deliver(self, data: dict[str, Any]) -> None:
        if self._on_order_message is None:
            return
        try:
            self._on_order_message(data)
        except Exception:  # the broker adapter's bug must not break the reactor thread
            logger.exception("Kite feed: on_order_message failed")

    def _first_time(self, raw: bytes) -> bool:
        if raw in self._seen:
            return False
        self._seen[raw] = None
        if len(self._seen) > SEEN_ORDER_MESSAGES:
            self._seen.popitem(last=False)
        return True
