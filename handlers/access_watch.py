"""The live agent's view of its Kite access: login, market-data plan, static IP.

Kite refuses for three reasons that look alike (``agent.adapters.kite_access``); the owner
hears which one, with what to do, instead of a bare "login needed" or a generic rejection:

- the morning ``login_check`` (scheduler thread) asks Kite: is the token valid, does the
  key get market data, are order calls accepted from this IP (live mode only);
- a ticker handshake refused with 403 (reactor thread) is told apart from a dead token on a
  thread of its own: a valid profile with refused quotes means no market-data plan;
- an order call refused for the IP (the broker's worker thread) is reported once per
  refused spell (a spell ends when an order call works again).

Each problem is alerted once until Kite's answer changes. Any thread may call the public
methods; HTTP runs on the caller's thread or, for the ticker, on a short-lived thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from agent.adapters.kite_access import (
    AccessProblem,
    AccessRefusal,
    AccessReport,
    CheckResult,
    probe_access,
)
from agent.clock import Clock
from agent.events import AlertKind, LoggedIn, LoginNeeded, Notification
from agent.session import KiteSession

log = logging.getLogger(__name__)


class AccessWatch:
    """``kite()`` builds a REST client with the current token; ``put`` is the engine's
    inbox; ``notify`` sends an alert; ``quote_key`` is an "EXCHANGE:SYMBOL" to ask an LTP
    of; ``orders``: live mode (order calls matter)."""

    def __init__(self, session: KiteSession, kite: Callable[[], Any],
                 put: Callable[[object], None], notify: Callable[[Notification], None],
                 clock: Clock, *, quote_key: str, orders: bool) -> None:
        self.session, self._kite, self._put, self._notify = session, kite, put, notify
        self.clock, self.quote_key, self.orders = clock, quote_key, orders
        self._lock = threading.Lock()
        self._told: set[AccessProblem] = set()
        self.last_report: AccessReport | None = None

    def login_check(self) -> AccessReport | None:
        """The morning job: token, market data, order calls. None when there is no token."""
        if not self.session.check():
            self._put(LoginNeeded("no valid access token before the session"))
            return None
        report = probe_access(self._kite(), self.quote_key, orders=self.orders)
        self.last_report = report
        for check in report.checks:
            log.info("Kite access: %s", check.line())
        if report.has(AccessProblem.LOGIN):
            self.session.drop_token()
            self._put(LoginNeeded("Kite refused the access token at the morning check"))
            return report
        self._put(LoggedIn(self.session.user_id))
        for name, problem in (("market data", AccessProblem.NO_MARKET_DATA),
                              ("order calls", AccessProblem.IP_NOT_ALLOWED)):
            check = next((c for c in report.checks if c.name == name), None)
            if check is None:
                continue
            if check.refusal is not None:
                self.refused(check.refusal)
            elif check.result is CheckResult.OK:
                self._clear(problem)
        return report

    def ticker_refused(self) -> None:
        """The ticker's handshake got 403 (reactor thread): find out why off that thread."""
        threading.Thread(target=self._diagnose_ticker, name="kite-access", daemon=True).start()

    def _diagnose_ticker(self) -> None:
        try:
            report = probe_access(self._kite(), self.quote_key, orders=False)
        except Exception:  # the diagnosis must never hide the refusal itself
            log.exception("Kite access: the ticker's refusal could not be diagnosed")
            report = None
        if report is not None and report.has(AccessProblem.NO_MARKET_DATA):
            refusal = next(r for r in report.refusals
                           if r.problem is AccessProblem.NO_MARKET_DATA)
            self.refused(refusal)
            return
        self._put(LoginNeeded("the ticker refused the access token"))

    def refused(self, refusal: AccessRefusal, *, repeat: bool = False) -> None:
        """Tell the owner, once until it clears; ``repeat``: again (the broker's worker
        reports each refused spell once, a spell ends when an order call works)."""
        with self._lock:
            if refusal.problem in self._told and not repeat:
                return
            self._told.add(refusal.problem)
        log.error("Kite access: %s", refusal.text())
        self._notify(Notification(AlertKind.KITE_ACCESS, refusal.text(), self.clock.now(),
                                  data={"problem": refusal.problem.value}))

    def _clear(self, problem: AccessProblem) -> None:
        with self._lock:
            was = problem in self._told
            self._told.discard(problem)
        if was:
            log.info("Kite access: %s is fine again", problem.value)
