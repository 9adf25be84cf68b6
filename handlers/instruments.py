"""Where the live agent's instruments come from: the simulator, a configured dump file,
the day's Kite dump (downloaded with the day's token), or the bundled sample.

Main thread at start-up; the 08:45 refresh on a scheduler thread.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agent.adapters.kite_client import kite_client
from agent.instruments import (
    BUNDLED_DUMP,
    InstrumentIndex,
    from_kite_rows,
    load_dump,
    resolve_configured,
)
from agent.models import Instrument
from agent.session import KiteSession
from agent.settings import Settings

log = logging.getLogger(__name__)


def live_index(settings: Settings, session: KiteSession, sim: Any = None) -> InstrumentIndex:
    if sim is not None:
        return InstrumentIndex(sim.instruments)
    if settings.kite.instruments_file:
        return InstrumentIndex(load_dump(Path(settings.kite.instruments_file)))
    token = session.access_token()
    if token:
        kite = kite_client(session.api_key, settings.kite.root, proxy=settings.kite_proxy,
                           access_token=token)
        try:
            rows = kite.instruments()
            index = InstrumentIndex(from_kite_rows(rows))
            log.info("instruments dump downloaded: %d instruments", len(index))
            return index
        except Exception as exc:
            log.error("cannot download the instruments dump (%s: %s)", type(exc).__name__, exc)
    log.warning("no instruments dump (no login yet, and kite.instruments_file is not set): "
                "using the bundled sample of %s; symbols outside it need inline token, "
                "tick_size and lot_size", BUNDLED_DUMP.name)
    return InstrumentIndex(load_dump(BUNDLED_DUMP))


def resolve(settings: Settings, index: InstrumentIndex) -> list[Instrument]:
    """The configured instruments (raises InstrumentsError naming every unknown symbol)."""
    return resolve_configured(settings.instruments, lambda: index)
