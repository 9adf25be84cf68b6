"""What ``KiteFeed.status()`` reports: frozen snapshots, any thread."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """One WebSocket. ``state`` is a ``ConnState`` value ("open", "retrying", ...)."""

    index: int
    state: str
    instruments: int
    attempts: int
    connects: int
    drops: int
    watchdog_drops: int
    reason: str  # why the last attempt ended ("" while the first one lasts)
    frame_age_seconds: float | None  # wall seconds since its last frame


@dataclass(frozen=True, slots=True)
class FeedCounters:
    """Totals since the feed was made. ``frames`` counts binary and text frames."""

    frames: int = 0
    ticks: int = 0
    heartbeats: int = 0
    bad_packets: int = 0
    text_frames: int = 0
    order_messages: int = 0  # order updates handed to on_order_message (repeats dropped)
    ticker_errors: int = 0  # {"type": "error"} text messages
    reconnects: int = 0  # successful connects after a connection's first
    drops: int = 0  # open sockets lost (watchdog drops included)
    watchdog_drops: int = 0


@dataclass(frozen=True, slots=True)
class FeedState:
    """``connected``: every connection is open. ``frame_age_seconds``: wall seconds since the
    last frame on any connection. ``exchange_lag_seconds``: receipt time minus exchange
    timestamp of the last tick that had one (both on the agent's clock)."""

    connected: bool
    login_needed: bool
    instruments: int
    connections: tuple[ConnectionStatus, ...]
    frame_age_seconds: float | None
    exchange_lag_seconds: float | None
    counters: FeedCounters

    @property
    def detail(self) -> str:
        if self.login_needed:
            return "login needed"
        parts = [f"{len(self.connections)} connection(s), {self.instruments} instruments"]
        if self.frame_age_seconds is not None:
            parts.append(f"last frame {self.frame_age_seconds:.1f} s ago")
        if self.counters.reconnects:
            parts.append(f"{self.counters.reconnects} reconnect(s)")
        return ", ".join(parts)

