"""The agent's state on Redis: the same snapshot sections as ``state.json`` (``storage/
state.py``), one hash ``state:{account}`` with a field per section (JSON) and ``_sections``
(their kinds and the format version), replaced whole in one MULTI/EXEC transaction: either
the previous snapshot or the new one is there, never a mix.

``RedisStateStore`` has ``StateStore``'s interface (``path``, ``load``, ``load_section``,
``save``, ``refuse``), so ``EnginePersistence`` and the storage writer use it unchanged and
a restart on Redis resumes exactly as one on TinyDB (the same restart tests run on both).
A hash that cannot be used is copied to ``state:{account}:corrupt-<time>`` and refused
with ``StateFileCorrupt`` naming the field, exactly like a bad ``state.json``.

Threads: ``save`` on the storage writer thread; ``load``, ``load_section`` and ``refuse`` at
start-up; ``summary`` (the heartbeat's) any thread.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import RedisError

from agent.clock import Clock, LiveClock
from storage.plainjson import check_plain_json
from storage.redis_conn import RedisUnavailable, describe
from storage.redis_keys import Keys
from storage.state import FORMAT_VERSION, SECTIONS_TABLE, StateFileCorrupt, _section_kind

log = logging.getLogger(__name__)


class RedisStateStore:
    """The state hash of one account. See the module doc."""

    def __init__(self, client: redis.Redis, keys: Keys, *, url: str = "",
                 clock: Clock | None = None) -> None:
        self._client = client
        self._keys = keys
        self._url = url
        self._clock = clock or LiveClock()
        self.path = Path(f"{keys.root}/state")  # what messages name
        self._summary_lock = threading.Lock()
        self._summary: dict[str, Any] = {}

    def load(self) -> dict[str, Any] | None:
        """All sections as saved, or None when nothing has been saved. Start-up thread."""
        raw = self._read()
        if not raw:
            return None
        kinds = self._kinds(raw)
        out = {}
        for name, kind in kinds.items():
            value = self._section(raw, name)
            if (kind == "dict") != isinstance(value, dict) or (
                    kind == "list" and not isinstance(value, list)):
                self.refuse(f"section {name!r} is not a {kind}")
            out[name] = value
        return out

    def load_section(self, name: str) -> Any | None:
        """One section as saved, or None if it was not saved."""
        saved = self.load()
        return None if saved is None else saved.get(name)

    def save(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the whole state with ``snapshot`` in one transaction. Writer thread.
        ValueError/TypeError name a section that is not plain JSON; RedisError when Redis
        cannot take it (the writer keeps the snapshot and retries)."""
        kinds = {name: _section_kind(name, value) for name, value in snapshot.items()}
        check_plain_json(dict(snapshot), str(self.path), "snapshot")
        fields = {name: json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                  for name, value in snapshot.items()}
        fields[SECTIONS_TABLE] = json.dumps({"version": FORMAT_VERSION, "sections": kinds})
        with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.state)
            pipe.hset(self._keys.state, mapping=fields)
            pipe.execute()
        self._remember(snapshot)

    def summary(self) -> dict[str, Any]:
        """What the heartbeat tells of the last saved state: open positions and the day's
        realized P&L (gross, charges, net). Any thread."""
        with self._summary_lock:
            return dict(self._summary)

    def refuse(self, problem: str) -> None:
        """Raise ``StateFileCorrupt`` for ``problem`` after copying the hash aside (to
        ``state:{account}:corrupt-<time>``). Start-up thread."""
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%S")
        copy = self._keys.state_copy(stamp)
        try:
            self._client.copy(self._keys.state, copy, replace=True)
        except RedisError as exc:
            log.error("state %s is corrupt (%s); copying it failed: %s", self.path, problem,
                      exc)
            raise StateFileCorrupt(self.path, problem, None, describe(exc)) from None
        log.error("state %s is corrupt (%s); copy kept at %s", self.path, problem, copy)
        raise StateFileCorrupt(self.path, problem, Path(copy))

    # ---------------------------------------------------------------- inside

    def _read(self) -> dict[str, bytes]:
        try:
            raw = self._client.hgetall(self._keys.state)
        except RedisError as exc:
            raise RedisUnavailable(self._url or str(self.path),
                                   f"the state cannot be read ({describe(exc)})") from None
        return {k.decode("utf-8", "replace"): v for k, v in raw.items()}

    def _kinds(self, raw: dict[str, bytes]) -> dict[str, str]:
        doc = self._section(raw, SECTIONS_TABLE)
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            self.refuse(f"{SECTIONS_TABLE}: format version "
                        f"{doc.get('version') if isinstance(doc, dict) else None!r}, "
                        f"expected {FORMAT_VERSION}")
        kinds = doc.get("sections")
        if not isinstance(kinds, dict) or any(k not in ("dict", "list")
                                               for k in kinds.values()):
            self.refuse(f"{SECTIONS_TABLE}: 'sections' must map names to 'dict' or 'list'")
        unlisted = sorted(set(raw) - set(kinds) - {SECTIONS_TABLE})
        if unlisted:
            self.refuse(f"fields {unlisted} are not listed in {SECTIONS_TABLE!r}")
        return dict(kinds)

    def _section(self, raw: dict[str, bytes], name: str) -> Any:
        if name not in raw:
            self.refuse(f"section {name!r} is listed but missing")
        try:
            return json.loads(raw[name])
        except ValueError as exc:
            self.refuse(f"section {name!r} is not JSON ({exc})")
        raise AssertionError("unreachable: refuse() raises")  # pragma: no cover

    def _remember(self, snapshot: Mapping[str, Any]) -> None:
        def amount(rows: Any, key: str) -> Decimal:
            total = Decimal(0)
            for row in rows if isinstance(rows, list) else []:
                try:
                    total += Decimal(str(row.get(key, "0")))
                except (InvalidOperation, AttributeError):
                    continue
            return total

        trades, books = snapshot.get("trades", []), snapshot.get("positions", [])
        gross, charges = amount(trades, "pnl"), amount(trades, "charges")
        open_ = [b for b in books if isinstance(b, dict) and b.get("quantity")]
        meta = snapshot.get("meta") if isinstance(snapshot.get("meta"), dict) else {}
        with self._summary_lock:
            self._summary = {
                "day": meta.get("day"), "running": meta.get("running"),
                "trades": len(trades) if isinstance(trades, list) else 0,
                "positions": [{"symbol": b.get("symbol"), "quantity": b.get("quantity")}
                              for b in open_],
                "realized": str(gross), "charges": str(charges), "net": str(gross - charges),
                "saved_at": meta.get("saved_at")}
