"""The live agent's instrument list: where it came from (the simulator, a configured dump
file, the day's Kite dump downloaded with the day's token, or the bundled sample until a
login), when it was loaded, and the configured symbols it could not resolve yet.

A configured symbol the list cannot resolve is *pending*, with why ("waiting for login",
"not in today's instrument list (loaded 08:45)"): the agent starts without it and tries
again whenever a list loads (a login, the 08:45 refresh). A restart the same day first
takes the definitions today's saved state kept of the instruments it traded (they came
from the day's list), so those trade on before a login. Only a list that no login can
change (the simulator's, ``kite.instruments_file``) makes an unknown symbol a start-up
error. The Kite dump counts as today's when it was downloaded today at or after the
``instruments_refresh`` time; a login downloads it when it is not.

Threads: ``open`` on the main thread at start-up; ``download`` and ``resolve_pending`` on
the thread of a login or of the 08:45 job (one at a time: a lock); the rest any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Any

from agent.adapters.kite_client import kite_client
from agent.clock import Clock
from agent.events import Job
from agent.instruments import (
    BUNDLED_DUMP,
    InstrumentIndex,
    InstrumentsError,
    NotListed,
    from_kite_rows,
    load_dump,
    resolve_one,
)
from agent.models import Instrument
from agent.session import KiteSession
from agent.settings import InstrumentConfig, Settings
from agent.timeutil import ist

log = logging.getLogger(__name__)

WAITING_FOR_LOGIN = "waiting for login"
WAITING_FOR_LIST = "waiting for today's instrument list"


class ListKind(StrEnum):
    SIM = "sim"  # the in-process simulator's instruments
    FILE = "file"  # kite.instruments_file
    KITE = "kite"  # Kite's dump, downloaded with a token
    SAMPLE = "sample"  # the bundled sample: no dump could be downloaded yet


class DayInstruments:
    """The index the agent resolves symbols with (``index``: one object for the process,
    added to as lists load) and the configured symbols still pending."""

    def __init__(self, settings: Settings, session: KiteSession, sim: Any = None, *,
                 clock: Clock, kite_factory: Callable[..., Any] = kite_client) -> None:
        self.settings, self.session, self.sim, self.clock = settings, session, sim, clock
        self._factory = kite_factory
        self.index = InstrumentIndex()
        self.kind = ListKind.SAMPLE
        self.loaded_at: datetime | None = None  # when the Kite dump in use was downloaded
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[InstrumentConfig, str]] = {}  # symbol -> (cfg, why)
        refresh = settings.schedule.jobs.get(Job.INSTRUMENTS_REFRESH.value)
        self.refresh_time: time = refresh or time(8, 45)

    @property
    def fixed(self) -> bool:
        """A list no login can change (the simulator's, a configured file)."""
        return self.kind in (ListKind.SIM, ListKind.FILE)

    def open(self, saved: Sequence[Instrument] = ()) -> list[Instrument]:
        """Start-up (main thread): load the list, resolve the configured instruments.
        ``saved``: the definitions today's saved state kept (resolved from the day's list
        earlier today): while no list of today is loaded they come first, so a restart
        trades (and restores) what it traded even before a login. Raises
        ``InstrumentsError`` naming every unknown symbol when the list is fixed; otherwise
        the unknown ones are pending and the rest is returned."""
        s = self.settings
        if self.sim is not None:
            self._use(self.sim.instruments, ListKind.SIM)
        elif s.kite.instruments_file:
            self._use(load_dump(Path(s.kite.instruments_file)), ListKind.FILE)
        elif not self.download():
            self._use(load_dump(BUNDLED_DUMP), ListKind.SAMPLE)
            log.warning("no instruments dump yet (%s): using the bundled sample %s until a "
                        "login loads the day's list", "no login" if self.session.access_token()
                        is None else "the download failed", BUNDLED_DUMP.name)
        found: list[Instrument] = []
        problems: list[str] = []
        today = InstrumentIndex(() if self.current() else saved)
        for cfg in s.instruments:
            try:
                found.append(self._from_saved(cfg, today) or resolve_one(cfg, self.index))
            except InstrumentsError as exc:
                problems.append(str(exc))
                self._pending[cfg.symbol.upper()] = (cfg, self._why(exc))
        if problems and self.fixed:
            raise InstrumentsError("; ".join(problems))
        if self._pending:
            log.warning("instruments not traded yet: %s", "; ".join(
                f"{symbol}: {why}" for symbol, why in self.pending()))
        return found

    def _from_saved(self, cfg: InstrumentConfig, today: InstrumentIndex) -> Instrument | None:
        """A configured symbol from today's saved definitions (None: not among them)."""
        saved = today.by_symbol(cfg.symbol)
        if saved is None:
            return None
        try:
            ins = resolve_one(cfg, today)
        except InstrumentsError as exc:  # a configured token it contradicts: the list decides
            log.warning("%s: today's saved definition is not used (%s)", cfg.symbol, exc)
            return None
        log.info("%s: resolved from today's saved state (the list in use is %s)", ins.symbol,
                 self.origin())
        self.index.add(saved)  # /add finds it traded
        return ins

    def download(self) -> bool:
        """Download Kite's dump with the current token and add it to the index (HTTP:
        never on the loop or the engine thread). False without a token or on failure."""
        if self.fixed:
            return False
        token = self.session.access_token()
        if token is None:
            return False
        kite = self._factory(self.session.api_key, self.settings.kite.root,
                             proxy=self.settings.kite_proxy, access_token=token)
        try:
            rows = kite.instruments()
            fresh = from_kite_rows(rows)
        except Exception as exc:
            log.error("cannot download the instruments dump (%s: %s)", type(exc).__name__, exc)
            return False
        self._use(fresh, ListKind.KITE)
        log.info("instruments dump downloaded: %d instruments (%d known)", len(fresh),
                 len(self.index))
        return True

    def _use(self, instruments: Any, kind: ListKind) -> None:
        with self._lock:
            for ins in instruments:
                self.index.add(ins)
            self.kind = kind
            self.loaded_at = self.clock.now() if kind is ListKind.KITE else None

    def current(self, now: datetime | None = None) -> bool:
        """Today's list is in use: a fixed list, or Kite's dump downloaded today at or
        after the instruments_refresh time."""
        now = now or self.clock.now()
        loaded = self.loaded_at
        return self.fixed or (loaded is not None and loaded.date() == now.date()
                              and loaded >= ist(now.date(), self.refresh_time))

    def resolve_pending(self) -> tuple[list[Instrument], list[tuple[str, str]]]:
        """Try the pending symbols against the index as it is now: the ones it resolves
        (no longer pending) and the ones still pending, with why."""
        resolved: list[Instrument] = []
        with self._lock:
            for symbol, (cfg, _) in list(self._pending.items()):
                try:
                    resolved.append(resolve_one(cfg, self.index))
                except InstrumentsError as exc:
                    self._pending[symbol] = (cfg, self._why(exc))
                else:
                    del self._pending[symbol]
        return resolved, self.pending()

    def pending(self) -> list[tuple[str, str]]:
        """The configured symbols not traded yet, each with why (config order)."""
        with self._lock:
            return [(cfg.symbol, why) for cfg, why in self._pending.values()]

    def _why(self, exc: InstrumentsError) -> str:
        if not isinstance(exc, NotListed):
            return str(exc)
        if self.current():
            return f"not in {self.origin()}"
        return WAITING_FOR_LOGIN if self.session.access_token() is None else WAITING_FOR_LIST

    def origin(self, now: datetime | None = None) -> str:
        """The list in use, in words: "today's instrument list (loaded 08:45)"."""
        now = now or self.clock.now()
        loaded = self.loaded_at
        if self.kind is ListKind.SIM:
            return "the simulated exchange's instrument list"
        if self.kind is ListKind.FILE:
            return f"kite.instruments_file ({Path(self.settings.kite.instruments_file).name})"
        if self.kind is ListKind.SAMPLE or loaded is None:
            return "the bundled sample list" + (" (no login yet)" if self.session
                                                .access_token() is None else "")
        if self.current(now):
            return f"today's instrument list (loaded {loaded:%H:%M})"
        if loaded.date() == now.date():
            return f"the instrument list loaded {loaded:%H:%M}"
        return f"the instrument list of {loaded.day} {loaded:%b}"

    def reload_hint(self, now: datetime | None = None) -> str:
        """What would load a newer list ("" when the list is today's or fixed)."""
        now = now or self.clock.now()
        if self.current(now):
            return ""
        if (self.session.access_token() is not None
                and now < ist(now.date(), self.refresh_time)):
            return f"today's is loaded at {self.refresh_time:%H:%M}"
        return "/login reloads it" if self.kind is ListKind.KITE else "/login loads today's"

    def not_listed(self, symbol: str, now: datetime | None = None) -> str:
        """Why ``/add SYMBOL`` cannot find it: "NSE:XYZ: not in today's instrument list
        (loaded 08:45)", with what would load a newer list."""
        hint = self.reload_hint(now)
        return f"{symbol}: not in {self.origin(now)}" + (f"; {hint}" if hint else "")
