"""After a run: the exchange's truth through a ``KiteConnect`` of its own, and the agent's
books from its data directory. Both are also written to the run's directory as JSON (the
raw rows), for a look afterwards. Harness thread only.
"""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from kiteconnect import exceptions as kex

from tests.chaos.truth import AgentBooks, Truth, books_from_state, truth_from_rows
from tests.exchange_proc import ExchangeProcess

RETRIES = 20


def _call(fn: Any, *args: Any) -> Any:
    """One read; a 429 (the exchange counts our reads too) is waited out and tried again."""
    pause = threading.Event()
    for attempt in range(RETRIES):
        try:
            return fn(*args)
        except kex.NetworkException:
            if attempt == RETRIES - 1:
                raise
            pause.wait(0.2 * (attempt + 1))  # a bounded backoff against a rate window
    raise AssertionError("unreachable")


def exchange_truth(exchange: ExchangeProcess, close: datetime, save: Path | None) -> Truth:
    """Every order of the account with its history, every trade, the net positions. Read
    after the agent has stopped; the exchange's rate limits are switched off first (ours
    are reads of a finished day, not the agent's traffic)."""
    with contextlib.suppress(ValueError):  # without the rule, _call waits out the 429s
        exchange.realism(disable=["rate_limits"])
    kite = exchange.kite()
    orders = _call(kite.orders)
    histories = {str(o["order_id"]): _call(kite.order_history, o["order_id"]) for o in orders}
    trades = _call(kite.trades)
    net = _call(kite.positions)["net"]
    if save is not None:
        save.write_text(json.dumps({"orders": orders, "histories": histories, "trades": trades,
                                    "net": net}, default=str, indent=1), encoding="utf-8")
    return truth_from_rows(orders, histories, trades, net, close=close)


def saved_truth(path: Path, close: datetime) -> Truth:
    """The truth a run saved (``truth.json``), read again: to judge it anew."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return truth_from_rows(rows["orders"], rows["histories"], rows["trades"], rows["net"],
                           close=close)


def agent_books(data_dir: Path, redis_url: str = "", account: str = "") -> AgentBooks:
    """The agent's final state (``state.json`` through ``storage.state.StateStore``, or the
    state hash on Redis through ``RedisStateStore``: the readers the agent itself restores
    from); empty books when it never saved one."""
    from storage.state import StateStore

    if redis_url:
        from storage.redis_conn import connect
        from storage.redis_keys import Keys
        from storage.redis_state import RedisStateStore

        client = connect(redis_url)
        try:
            return books_from_state(RedisStateStore(client, Keys(account)).load())
        finally:
            client.close()
    path = data_dir / "state.json"
    if not path.exists():
        return books_from_state(None)
    return books_from_state(StateStore(path).load())
