"""Twisted's global reactor, as KiteTicker uses it: started once, never stopped.

KiteTicker runs on ``twisted.internet.reactor``, a process-wide singleton that can be run
once and can NEVER be restarted after it stops. So, in the agent and in tests alike:

- the reactor runs in one daemon thread, started by :func:`ensure_reactor_running` (or by
  a ``KiteTicker.connect(threaded=True)`` elsewhere: both notice a running reactor);
- nobody calls ``reactor.stop()`` or ``KiteTicker.stop()`` (which stops the reactor);
  connections are ended with ``KiteTicker.close()`` or by aborting their transport;
- Twisted is not thread-safe: KiteTicker's ``connect``, ``subscribe``, ``set_mode``,
  ``unsubscribe`` and ``close`` run in the reactor thread only. Other threads hand work
  over with :func:`in_reactor` (fire and forget) or :func:`call_in_reactor` (wait for the
  result).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_start_lock = threading.Lock()


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def ensure_reactor_running(timeout: float = 10.0) -> None:
    """Start the reactor in a daemon thread unless it already runs. Any thread.

    Raises RuntimeError when the reactor was stopped (it cannot run again in this process)
    or does not come up within ``timeout`` seconds.
    """
    reactor = _reactor()
    with _start_lock:
        if reactor.running:
            return
        if getattr(reactor, "_startedBefore", False):
            raise RuntimeError("Twisted's reactor was stopped and can never run again in this "
                               "process: something called reactor.stop() or KiteTicker.stop()")
        running = threading.Event()
        reactor.callWhenRunning(running.set)
        thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                  name="twisted-reactor", daemon=True)
        thread.start()
        if not running.wait(timeout):
            raise RuntimeError(f"Twisted's reactor did not start within {timeout} s")


def is_reactor_thread() -> bool:
    """True on the running reactor's own thread."""
    from twisted.python import threadable

    return bool(_reactor().running and threadable.isInIOThread())


def in_reactor(fn: Callable[..., Any], *args: Any) -> None:
    """Queue ``fn(*args)`` to run in the reactor thread (also when called from it). Any
    thread; the reactor must be running."""
    _reactor().callFromThread(fn, *args)


def call_in_reactor(fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
    """Run ``fn(*args)`` in the reactor thread and return its result (or raise its error).

    On the reactor thread itself it runs at once. ``TimeoutError`` after ``timeout``.
    """
    if is_reactor_thread():
        return fn(*args)
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the waiting thread
            future.set_exception(exc)

    _reactor().callFromThread(run)
    return future.result(timeout)
