"""The live broker: the engine's orders through the real kiteconnect client.

``KiteBroker`` implements the port of ``agent.adapters.broker``. The engine thread's calls
(``submit``, ``cancel``, ``modify``) only queue work. The adapter's own worker thread
(``kite-broker``) owns every order's state and the rate windows, and decides what to send
next (``kite_schedule``); it never calls Kite itself: each REST call runs on a small pool
(``kite_writes``: 4 writer threads for place, modify, cancel; 2 reader threads for the
order book, positions, trades, history) and its answer comes back to the worker's inbox.
So an answer held back (a placement waiting out kiteconnect's 7 s timeout) holds up only
its own Kite order. Every change at the broker reaches the engine as an ``OrderUpdate``
through ``post`` (the engine's inbox), keyed by the engine's tag, and after every
order-book poll a ``BrokerSnapshot`` (every order row of the day and the net positions)
through the same ``post`` (``kite_reads``). The feed adapter hands the ticker's order
messages to ``on_order_message`` (any thread). The worker's parts are mixins sharing this
object's state: the schedule, the writes with their retry and dedupe rules
(``kite_actions``), the rows (``kite_book``) and the reads (``kite_reads``); the pure rules
are in ``kite_orders`` and ``kite_rows``. The threads share the client: kiteconnect's
``requests.Session`` pools connections safely.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from agent.adapters.kite_access import AccessRefusal
from agent.adapters.kite_actions import KiteActions
from agent.adapters.kite_book import KiteBook
from agent.adapters.kite_funds import KiteFunds
from agent.adapters.kite_orders import Child, Tracked
from agent.adapters.kite_reads import BrokerError, KiteReads, ReadJob
from agent.adapters.kite_reconcile import Reconciliation
from agent.adapters.kite_rest import (
    ORDER_LIMITS,
    OTHER_LIMITS,
    RateWindows,
    RetryPolicy,
    Timer,
    WallTimer,
)
from agent.adapters.kite_schedule import CancelRequest, KiteSchedule, ModifyRequest, PlaceRequest
from agent.adapters.kite_writes import WRITE_THREADS, CallDone, Calls, KiteCalls, SentWith
from agent.clock import Clock, LiveClock
from agent.events import BrokerSnapshot, OrderUpdate
from agent.margins import Funds
from agent.models import Instrument, Order

__all__ = ["BrokerError", "KiteBroker"]

log = logging.getLogger(__name__)

KITE_MAX_MODIFICATIONS = 25


@dataclass(frozen=True, slots=True)
class _Row:
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Fence:
    done: threading.Event


class _Stop:
    pass


class _Refresh:
    pass


class KiteBroker(KiteSchedule, KiteCalls, KiteActions, KiteBook, KiteReads, KiteFunds):
    """Kite Connect behind the broker port. See the module docstring for the threads.

    ``instruments(token)`` gives the Instrument (tick, lot, freeze quantity) of an order;
    ``post(event)`` delivers ``OrderUpdate``s, ``BrokerSnapshot``s and ``Funds`` to the
    engine (called on the worker thread; must not block); ``on_token_error()`` is called once
    when Kite answers TokenException (the session is dead: halt entries, ask for a login),
    again only after a call has worked since. ``on_access_refused(refusal)`` is called once
    when Kite refuses order calls from this machine's IP (``kite_access``), again only after
    an order call has worked since. ``timer`` measures the waits (rate windows,
    backoff, throttle, polls; default wall time); ``clock`` stamps the updates and the
    snapshots. ``write_threads``: REST writes in flight at once (at least 2, so that an
    entry never takes the last one). ``funds_interval``: seconds between reads of Kite's
    margins posted to the engine as ``Funds`` (``kite_funds``); None: none.
    """

    watched: set[int]

    def __init__(self, kite: Any, instruments: Callable[[int], Instrument | None],
                 post: Callable[[OrderUpdate | BrokerSnapshot | Funds], None], *,
                 market_protection: int = -1,
                 clock: Clock | None = None, timer: Timer | None = None,
                 on_token_error: Callable[[], None] | None = None,
                 on_access_refused: Callable[[AccessRefusal], None] | None = None,
                 poll_interval: float = 3.0, poll_after_write: float = 1.0,
                 modify_interval: float = 2.0, replace_after: int = 20,
                 retry: RetryPolicy | None = None, write_threads: int = WRITE_THREADS,
                 funds_interval: float | None = None,
                 order_limits: tuple[tuple[int, float], ...] = ORDER_LIMITS,
                 other_limits: tuple[tuple[int, float], ...] = OTHER_LIMITS) -> None:
        if market_protection != -1 and not 0 < market_protection <= 100:
            raise ValueError(f"kite.market_protection must be -1 (automatic) or 1..100 (Kite "
                             f"refuses MARKET and SL-M orders without it), got "
                             f"{market_protection}")
        if not 0 < replace_after < KITE_MAX_MODIFICATIONS:
            raise ValueError(f"replace_after must be 1..{KITE_MAX_MODIFICATIONS - 1}, got "
                             f"{replace_after}")
        if write_threads < 2:
            raise ValueError(f"write_threads must be at least 2, got {write_threads}")
        self.watched = set()
        self.kite = kite
        self.market_protection = market_protection
        self.poll_interval, self.poll_after_write = poll_interval, poll_after_write
        self.modify_interval, self.replace_after = modify_interval, replace_after
        self.retry = retry or RetryPolicy()
        self._instruments, self._post = instruments, post
        self.on_token_error, self.on_access_refused = on_token_error, on_access_refused
        self._clock: Clock = clock or LiveClock()
        # An exchange that counts its rate windows on its own (faster) clock: ours shrink
        # alike, so a day at speed N is paced as the day itself (agent.clock.ScaledClock).
        scale = float(getattr(self._clock, "rate_scale", 1.0))
        self.order_rate = RateWindows([(n, s / scale) for n, s in order_limits])
        self.other_rate = RateWindows([(n, s / scale) for n, s in other_limits])
        self.timer: Timer = timer or WallTimer()
        # worker-thread state
        self.orders: dict[str, Tracked] = {}
        self.by_id: dict[str, tuple[Tracked, Child]] = {}
        # an earlier run's tags the engine asked to cancel (True) or change, not seen yet
        self.wanted: dict[str, Any] = {}
        self.reads: list[ReadJob] = []
        self.next_poll = self.timer.monotonic()  # the start-up snapshot
        self.funds_interval = funds_interval
        self.next_funds = self.next_poll  # the first margins read at once
        self.funds_reading = False
        self.poll_again_at = math.inf  # a poll wanted right after the one in progress
        self.poll_failures = 0
        self.polling = False  # an order-book read is out on a reader thread
        self.token_dead = False
        self.sent_calls = 0  # calls sent so far (``SentWith.serial``)
        self.dead_since = SentWith(0, None)  # the call that declared the session dead
        self.judging: SentWith | None = None  # the call whose answer is being applied
        self.ip_refused = False  # order calls refused for the IP, none has worked since
        # the order call whose refusal began the spell told to the owner, and the latest
        # refused one (by sending order: pool threads answer in any order)
        self.refused_since = 0
        self.refused_last: tuple[int, AccessRefusal] | None = None
        self.closing = False
        self._logged: set[str] = set()
        self._fences: list[threading.Event] = []
        # cross-thread
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._abort = threading.Event()
        self.calls = Calls(self.timer, self.put_work, writers=write_threads)
        self._thread = threading.Thread(target=self._run, name="kite-broker", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ the port (engine thread)

    def submit(self, order: Order) -> None:
        """Queue a placement (never blocks). Engine thread."""
        self._put(PlaceRequest(order.tag, order.instrument_token, order.side, order.quantity,
                               order.order_type, order.price, order.trigger_price,
                               order.product))

    def cancel(self, order: Order) -> None:
        """Queue a cancellation of every Kite order under the tag. Engine thread."""
        self._put(CancelRequest(order.tag))

    def modify(self, order: Order, *, price: Decimal | None = None,
               trigger_price: Decimal | None = None, quantity: int | None = None) -> None:
        """Queue a modification; repeated ones coalesce (the latest values win). Engine."""
        self._put(ModifyRequest(order.tag, price, trigger_price, quantity))

    def poll(self) -> list[OrderUpdate]:
        """Nothing (updates arrive through ``post``). Engine thread."""
        return []

    def on_price(self, token: int, price: Decimal, t: datetime) -> None:
        """Nothing: the exchange matches. Engine thread."""

    # ------------------------------------------------------------ other threads

    def on_order_message(self, data: dict[str, Any]) -> None:
        """The ``data`` of a ticker ``{"type": "order"}`` message. Any thread; never blocks."""
        if isinstance(data, dict):
            self._put(_Row(dict(data)))

    def refresh(self) -> None:
        """Read the order book and the positions now (or right after the read in progress)
        and post a ``BrokerSnapshot``: after a feed reconnect, order messages may have been
        missed. Any thread; never blocks."""
        self._put(_Refresh())

    def reconcile(self, timeout: float = 30.0) -> Reconciliation:
        """Our open orders and the positions at the broker (start-up). The open orders are
        tracked from now on (their updates flow, cancel/modify work by tag). Blocks up to
        ``timeout`` s (start-up code, never the engine thread nor the worker). Raises
        ``BrokerError`` if Kite cannot answer (TokenException included), ``TimeoutError``
        after ``timeout``."""
        future: Future[Reconciliation] = Future()
        self._put(ReadJob(self.read_orders_and_positions, self.reconciled, future, calls=2))
        return future.result(timeout)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is handled and nothing is due now (what is
        left waits for time: a throttle, a backoff, the next poll). Any thread."""
        fence = _Fence(threading.Event())
        self._put(fence)
        return fence.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the worker after it has sent what is queued and the writes in flight have
        ended (pending modifications go out at once; a write Kite refuses for now is tried
        again until then); give up after ``timeout`` s. True if it drained. Any thread but
        the worker."""
        if not self._thread.is_alive():
            return True
        self._put(_Stop())
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("kite broker: work still pending after %.1fs at close; abandoned",
                      timeout)
            self._abort.set()
            self._wake.set()
            self._thread.join(1.0)
            return False
        return True

    def put_work(self, item: object) -> None:
        """Hand the worker something to handle (the pools' answers). Any thread."""
        if isinstance(item, CallDone) and not self._thread.is_alive():
            log.debug("kite broker: closed; the answer of %s dropped", item.call.what)
            return
        self._put(item)

    def _put(self, item: object) -> None:
        if not self._thread.is_alive():
            log.warning("kite broker: closed; %s dropped", type(item).__name__)
            if isinstance(item, ReadJob):
                item.future.set_exception(BrokerError("the broker is closed"))
            return
        self._inbox.put(item)
        self._wake.set()

    # ------------------------------------------------------------ the worker

    def _run(self) -> None:
        while not self._abort.is_set():
            self._wake.clear()
            self._drain()
            try:
                did, due, pending = self.step()
            except Exception:
                log.exception("kite broker: worker step failed")
                self._abort.wait(1.0)  # a bug, not Kite: do not spin
                continue
            if did:
                continue
            if self.closing and not pending:
                break
            if not self.calls.in_flight():  # idle means no answer outstanding either
                for fence in self._fences:
                    fence.set()
                self._fences.clear()
            self.timer.wait(self._wake, None if math.isinf(due) else due)
        for fence in self._fences:
            fence.set()
        self._drop_left()
        self.calls.shutdown()
        log.info("kite broker worker stopped")

    def _drop_left(self) -> None:
        """After the loop: what arrived too late is not done; say so."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Fence):
                item.done.set()
            elif isinstance(item, ReadJob):
                item.future.set_exception(BrokerError("the broker is closed"))
            elif not isinstance(item, _Row | _Stop | _Refresh | CallDone):
                log.warning("kite broker: closed; %s dropped", item)

    def _drain(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                self._handle(item)
            except Exception:
                log.exception("kite broker: could not handle %r", item)

    def _handle(self, item: object) -> None:
        if isinstance(item, CallDone):
            self.calls.finish(item)
        elif isinstance(item, _Row):
            self.on_message(item.data)
        elif isinstance(item, PlaceRequest):
            self.queue_place(item)
        elif isinstance(item, CancelRequest):
            self.queue_cancel(item.tag)
        elif isinstance(item, ModifyRequest):
            self.queue_modify(item)
        elif isinstance(item, ReadJob):
            self.reads.append(item)
        elif isinstance(item, _Refresh):
            self.refresh_due()
        elif isinstance(item, _Fence):
            self._fences.append(item.done)
        elif isinstance(item, _Stop):
            self.closing = True
