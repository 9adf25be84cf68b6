"""A local Kite-compatible exchange (REST + ticker WebSocket) for demos and tests.

``from agent.sim import SimExchange``; see ``agent.sim.server``. The pure parts (market,
book, encoder) import without aiohttp being touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.sim.server import SimExchange

__all__ = ["SimExchange"]


def __getattr__(name: str) -> Any:
    if name == "SimExchange":
        from agent.sim.server import SimExchange

        return SimExchange
    raise AttributeError(f"module 'agent.sim' has no attribute {name!r}")
