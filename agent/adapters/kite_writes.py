"""The Kite broker's REST calls, sent off the worker thread.

The worker decides what to send; ``Calls.start`` hands the call to a small pool of
threads and the answer (or the exception) comes back to the worker's inbox as a
``CallDone``, which the worker applies with ``Calls.finish``. So a call whose answer is
held (a placement waiting for kiteconnect's 7 s timeout, a large order book) never holds
up another order: a filled entry's stop goes out on another thread meanwhile.

Two pools: ``kite-writer`` (place, modify, cancel; 4 threads by default) and
``kite-reader`` (the order book with the positions, an order's trades or history, the
start-up reconciliation; 2 threads). The worker starts a call only when its pool has a
free thread (so what it starts is sent now, in the worker's order of urgency, never queued
behind a held call), at most one call per Kite order at a time (``Child.inflight``), and
counts it in its rate windows from before it is sent until after it ends
(``RateWindows.begin``/``end``).

``start``, ``finish``, ``free`` and ``in_flight``: the worker thread only. The pools'
threads run only the kiteconnect call and the hand-back. ``KiteCalls`` (a mixin of
``KiteBroker``, worker thread only) sends a call and judges what a failure means for the
session and the IP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.adapters.kite_access import AccessProblem, AccessRefusal, order_refusal
from agent.adapters.kite_rest import Failure, RateWindows, Timer, classify, describe

if TYPE_CHECKING:
    from agent.adapters.kite_broker import KiteBroker

log = logging.getLogger("agent.adapters.kite_broker")

WRITE_THREADS = 4
READ_THREADS = 2


@dataclass(eq=False)
class Call:
    """One REST call (or ``calls`` in a row, e.g. the order book then the positions) off the
    worker: ``fn`` runs on a pool thread; ``then(result, error, ended)`` on the worker."""

    fn: Callable[[], Any]
    rate: RateWindows
    then: Callable[[Any, Exception | None, float], None]
    write: bool = True
    calls: int = 1
    what: str = ""


@dataclass(frozen=True, slots=True)
class SentWith:
    """What a call was sent with: its number in the broker's sending order and the access
    token the client held then (to judge a session failure or success by)."""

    serial: int
    token: str | None


@dataclass(frozen=True, slots=True)
class CallDone:
    """A call ended on a pool thread: its result or its exception, and when (timer)."""

    call: Call
    result: Any
    error: Exception | None
    ended: float


class Calls:
    """The pools and the count of calls in flight. See the module docstring."""

    def __init__(self, timer: Timer, hand_back: Callable[[CallDone], None], *,
                 writers: int = WRITE_THREADS, readers: int = READ_THREADS) -> None:
        if writers < 1 or readers < 1:
            raise ValueError(f"the broker needs at least one writer and one reader thread, "
                             f"got {writers} and {readers}")
        self.timer = timer
        self._hand_back = hand_back
        self.size = {True: writers, False: readers}
        self.busy = {True: 0, False: 0}
        self._pools = {True: ThreadPoolExecutor(writers, thread_name_prefix="kite-writer"),
                       False: ThreadPoolExecutor(readers, thread_name_prefix="kite-reader")}

    def free(self, write: bool) -> int:
        """Threads of that pool with nothing to do."""
        return self.size[write] - self.busy[write]

    def in_flight(self, write: bool | None = None) -> int:
        """Calls out (of one pool, or of both)."""
        if write is None:
            return self.busy[True] + self.busy[False]
        return self.busy[write]

    def start(self, call: Call) -> None:
        """Send ``call`` now on a free thread (the caller checked ``free``)."""
        call.rate.begin(call.calls)
        self.busy[call.write] += 1
        try:
            self._pools[call.write].submit(self._run, call)
        except RuntimeError:  # the pool is shut down: the broker is closing
            self.busy[call.write] -= 1
            call.rate.end(self.timer.monotonic(), call.calls)
            raise

    def _run(self, call: Call) -> None:
        """A pool thread: the call, then its answer to the worker (whatever happens)."""
        result: Any = None
        error: Exception | None = None
        try:
            result = call.fn()
        except Exception as exc:  # judged on the worker
            error = exc
        finally:
            self._hand_back(CallDone(call, result, error, self.timer.monotonic()))

    def finish(self, done: CallDone) -> None:
        """Worker: the call's place in the windows from its end on; its ``then``."""
        call = done.call
        self.busy[call.write] = max(0, self.busy[call.write] - 1)
        call.rate.end(done.ended, call.calls)
        call.then(done.result, done.error, done.ended)

    def shutdown(self) -> None:
        """Stop taking calls; calls in flight end on their own (their answers dropped)."""
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


class KiteCalls:
    """Sending and judging calls, for ``KiteBroker``'s worker (a mixin; worker thread
    only)."""

    def send(self: KiteBroker, rate: RateWindows, fn: Callable[..., Any],
             then: Callable[[Any, Exception | None, float], None], *, write: bool = True,
             calls: int = 1, what: str = "", **kw: Any) -> None:
        """Start one REST call on a pool thread; ``then(result, error, ended)`` runs on the
        worker when it ends. Counted in ``rate`` from now until after its end."""
        self.sent_calls += 1
        sent = SentWith(self.sent_calls, getattr(self.kite, "access_token", None))

        def judged(result: Any, error: Exception | None, ended: float) -> None:
            self.judging = sent
            try:
                if error is None:
                    self.answered(sent)
                    if rate is self.order_rate:
                        self.order_call_worked(sent)
                then(result, error, ended)
            finally:
                self.judging = None

        self.calls.start(Call(lambda: fn(**kw), rate, judged, write, calls, what))

    def answered(self: KiteBroker, sent: SentWith) -> None:
        """A call worked: a session thought dead is alive again, if the call was sent after
        the failure that declared it dead (an older call's late answer proves nothing)."""
        if self.token_dead and sent.serial > self.dead_since.serial:
            log.info("kite broker: Kite answers again")
            self.token_dead = False

    def failure(self: KiteBroker, exc: Exception, *, order_call: bool = True
                ) -> tuple[Failure, str]:
        """What a failed call means, and the text to report: a dead session tells the owner
        once; an order call (place, modify, cancel) refused for the IP says so plainly and
        tells the owner once (reads work from any IP)."""
        kind = classify(exc)
        if kind is None:
            log.exception("kite broker: unexpected error from kiteconnect", exc_info=exc)
            kind = Failure.REFUSED
        if kind is Failure.TOKEN:
            self.token_lost(describe(exc))
            return kind, describe(exc)
        refusal = order_refusal(exc) if kind is Failure.REFUSED and order_call else None
        if refusal is not None and refusal.problem is AccessProblem.IP_NOT_ALLOWED:
            self.access_refused(refusal)
            return kind, refusal.text()
        return kind, describe(exc)

    def token_lost(self: KiteBroker, detail: str) -> None:
        """A TokenException: the owner is told once per dead session. A call sent with a
        token since replaced (the owner logged in meanwhile) says nothing about the new one;
        a call sent with the current token while an older token is the dead one starts a new
        dead period, even when the success that ended the last one is still in flight."""
        sent = self.judging or SentWith(self.sent_calls, getattr(self.kite, "access_token", None))
        if sent.token != getattr(self.kite, "access_token", None):
            log.debug("kite broker: a call sent with a replaced token failed (%s)", detail)
            return
        if self.token_dead and self.dead_since.token == sent.token:
            return
        self.token_dead = True
        self.dead_since = sent
        log.error("kite broker: Kite session expired (%s): login needed", detail)
        if self.on_token_error is not None:
            try:
                self.on_token_error()
            except Exception:
                log.exception("kite broker: on_token_error failed")

    def order_call_worked(self: KiteBroker, sent: SentWith) -> None:
        """An order call worked: the IP spell it was sent after is over. If an order call
        sent after this one was refused already (its answer came first), a new spell began
        there: the owner is told again."""
        if not self.ip_refused or sent.serial < self.refused_since:
            return
        last = self.refused_last
        if last is not None and last[0] > sent.serial:
            self.ip_refused = False
            self.access_refused(last[1], last[0])
            return
        log.info("kite broker: Kite accepts order calls from this IP again")
        self.ip_refused = False

    def access_refused(self: KiteBroker, refusal: AccessRefusal, serial: int | None = None
                       ) -> None:
        """An order call refused for the IP (``serial``: its sending number; by default
        the call being judged): the owner is told once per spell."""
        if serial is None:
            serial = self.judging.serial if self.judging is not None else self.sent_calls
        if self.refused_last is None or serial > self.refused_last[0]:
            self.refused_last = (serial, refusal)
        if self.ip_refused:
            return
        self.ip_refused = True
        self.refused_since = serial
        log.error("kite broker: %s", refusal.text())
        if self.on_access_refused is not None:
            try:
                self.on_access_refused(refusal)
            except Exception:
                log.exception("kite broker: on_access_refused failed")
