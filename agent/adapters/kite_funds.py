"""The Kite broker's money reads: ``kite.margins()`` and Kite's virtual contract note
(``kite.get_virtual_contract_note``), on the reader pool, in the "other" rate window like
every read.

- ``read_contract_note(orders)`` (any thread): the charges Kite computes for executed
  orders, by order tag, in a future (agent/contract_note.py reads the answer).

- ``read_funds()`` (any thread): one read now, its ``Funds`` in a future (``/funds``).
- With ``funds_interval`` set (the live agent: 30 s), a read every ``funds_interval``
  seconds of the broker's timer, posted to the engine as a ``Funds`` event (the margin
  alert's refresh, never per tick). A failed read is logged once until one works again,
  and tried at the next interval.

``read_funds`` may be called from any thread; the rest runs on the worker (a mixin of
``KiteBroker``, whose attributes hold the state).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from agent.adapters.kite_reads import ReadJob
from agent.adapters.kite_schedule import Candidate
from agent.contract_note import NoteOrder, NoteTotal, note_totals
from agent.margins import Funds, funds_from_kite

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")


class KiteFunds:
    """The funds reads of ``KiteBroker`` (a mixin)."""

    def read_funds(self: KiteBroker) -> Future[Funds]:
        """Kite's margins now, as ``Funds`` (``BrokerError`` when Kite cannot answer).
        Any thread; never blocks."""
        future: Future[Funds] = Future()
        self._put(ReadJob(self.kite.margins,
                          lambda data: funds_from_kite(data, self._clock.now()), future))
        return future

    def read_contract_note(self: KiteBroker, orders: Sequence[NoteOrder]
                           ) -> Future[dict[str, NoteTotal]]:
        """Kite's charges of these executed orders (by tag; an order whose answer does not
        match it is left out), or ``BrokerError`` when Kite cannot answer. Any thread;
        never blocks."""
        future: Future[dict[str, NoteTotal]] = Future()
        asked = tuple(orders)
        params = [o.params() for o in asked]
        self._put(ReadJob(lambda: self.kite.get_virtual_contract_note(params),
                          lambda data: note_totals(asked, data), future))
        return future

    def funds_candidates(self: KiteBroker) -> Iterator[Candidate]:
        """The periodic read, when one is due (worker thread)."""
        if self.funds_interval is None or self.funds_reading or self.closing:
            return
        yield Candidate(self.next_funds, self.other_rate, 1, self._read_funds_now, False,
                        needed=False)

    def _read_funds_now(self: KiteBroker) -> None:
        self.funds_reading = True
        self.send(self.other_rate, self.kite.margins,
                  lambda result, error, ended: self._funds_done(result, error),
                  write=False, what="margins")

    def _funds_failed(self: KiteBroker, text: str) -> None:
        """A warning once while reads fail (the margin alert works on older funds)."""
        if "funds" not in self._logged:
            self._logged.add("funds")
            log.warning("kite broker: %s", text)

    def _funds_done(self: KiteBroker, result: Any, error: Exception | None) -> None:
        self.funds_reading = False
        interval = self.funds_interval or math.inf
        self.next_funds = self.timer.monotonic() + interval
        if error is not None:
            _, text = self.failure(error, order_call=False)
            self._funds_failed(f"margins read failed ({text}); tried again every "
                               f"{interval:g}s")
            return
        try:
            funds = funds_from_kite(result, self._clock.now())
        except ValueError as exc:
            self._funds_failed(f"margins answer not understood ({exc})")
            return
        if "funds" in self._logged:
            self._logged.discard("funds")
            log.info("kite broker: margins read again")
        try:
            self._post(funds)
        except Exception:
            log.exception("kite broker: posting the funds failed")
