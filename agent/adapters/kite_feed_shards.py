"""Which ticker connection carries which instrument (Kite: 3,000 per connection, 3 per key).

Tokens fill the connections in order: a connection is made when the first token needs it,
and more tokens than ``per_connection x max_connections`` raise ``ValueError`` with nothing
changed. Not thread-safe: ``KiteFeed`` calls it under its lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from agent.adapters.kite_feed_conn import TickerConnection


class TokenShards:
    def __init__(self, per_connection: int, max_connections: int,
                 new_connection: Callable[[int], TickerConnection]) -> None:
        self.per_connection, self.max_connections = per_connection, max_connections
        self.connections: list[TickerConnection] = []
        self.owner_of: dict[int, TickerConnection] = {}
        self._new_connection = new_connection

    @property
    def capacity(self) -> int:
        return self.per_connection * self.max_connections

    def ensure_one(self) -> None:
        """At least one connection, even with no instrument (so /add has a socket)."""
        if not self.connections:
            self.connections.append(self._new_connection(0))

    def assign(self, tokens: Iterable[int]) -> dict[TickerConnection, list[int]]:
        """Give the tokens not yet carried to connections with room, all or nothing;
        returns what each connection got."""
        fresh = [t for t in dict.fromkeys(tokens) if t not in self.owner_of]
        total = len(self.owner_of) + len(fresh)
        if total > self.capacity:
            raise ValueError(
                f"{total} instruments exceed the ticker's limit of {self.capacity} "
                f"({self.max_connections} connections x {self.per_connection}); "
                f"nothing was subscribed")
        plan: dict[TickerConnection, list[int]] = {}
        for token in fresh:
            conn = next((c for c in self.connections if len(c.tokens) < self.per_connection),
                        None)
            if conn is None:
                conn = self._new_connection(len(self.connections))
                self.connections.append(conn)
            conn.tokens.add(token)
            self.owner_of[token] = conn
            plan.setdefault(conn, []).append(token)
        return plan

    def remove(self, tokens: Iterable[int]) -> dict[TickerConnection, list[int]]:
        """Forget tokens (unknown ones are ignored); returns what each connection lost.
        An emptied connection stays (idle sockets only carry heartbeats)."""
        plan: dict[TickerConnection, list[int]] = {}
        for token in dict.fromkeys(tokens):
            conn = self.owner_of.pop(token, None)
            if conn is not None:
                conn.tokens.discard(token)
                plan.setdefault(conn, []).append(token)
        return plan


def checked_tokens(tokens: Iterable[int]) -> list[int]:
    """The tokens as a list; TypeError/ValueError naming the bad ones."""
    if isinstance(tokens, (str, bytes, int)):
        raise TypeError(f"instrument tokens must be an iterable of ints, got {tokens!r}")
    checked = list(tokens)
    bad = [t for t in checked if type(t) is not int or not 0 < t < 1 << 32]
    if bad:
        raise ValueError(f"instrument tokens must be positive 32-bit ints, got {bad[:5]!r}")
    return checked
