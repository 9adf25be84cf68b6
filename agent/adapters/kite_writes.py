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
        def judged(result: Any, error: Exception | None, ended: float) -> None:
            if error is None:
                self.answered()
                if self.ip_refused and rate is self.order_rate:
                    log.info("kite broker: Kite accepts order calls from this IP again")
                    self.ip_refused = False
            then(result, error, ended)

        self.calls.start(Call(lambda: fn(**kw), rate, judged, write, calls, what))

    def answered(self: KiteBroker) -> None:
        """A call worked: a session thought dead is alive again."""
        if self.token_dead:
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
        if self.token_dead:
            return
        self.token_dead = True
        log.error("kite broker: Kite session expired (%s): login needed", detail)
        if self.on_token_error is not None:
            try:
                self.on_token_error()
            except Exception:
                log.exception("kite broker: on_token_error failed")

    def access_refused(self: KiteBroker, refusal: AccessRefusal) -> None:
        if self.ip_refused:
            return
        self.ip_refused = True
        log.error("kite broker: %s", refusal.text())
        if self.on_access_refused is not None:
            try:
                self.on_access_refused(refusal)
            except Exception:
                log.exception("kite broker: on_access_refused failed")
