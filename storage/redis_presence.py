"""Who is running on a shared Redis: one agent per account, and its heartbeat.

``AgentPresence.start`` takes ``lock:{account}`` (``SET NX`` with a TTL, its value
``host:pid:nonce``), so a second agent with the same account is refused, as a second agent on one
data directory is (``storage/lock.py``). A holder that died on this host (a ``kill -9``:
its PID is gone) is taken over at once, so a crash-only restart never waits; a holder on
another host blocks until its lock expires (``HEARTBEAT_TTL`` seconds after its last
renewal).

A thread (``redis-heartbeat``) renews the lock and writes the heartbeat every
``interval`` seconds: ``agent:{account}`` (expiring: present means alive) and
``agent-info:{account}`` (kept: account, mode, host, pid, the time, and the last saved
state's positions and day P&L, so ``bot.py status --redis URL`` shows the last word of a
dead agent too). A Redis that does not answer is logged (the storage writer tells the
owner); the next beat tries again. ``stop`` ends the thread, removes the alive marker and
gives the lock back.

Threads: ``start`` and ``stop`` on the main thread; the beats on ``redis-heartbeat``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from redis.exceptions import RedisError

from agent.clock import Clock, LiveClock
from storage.redis_conn import describe
from storage.redis_keys import AGENTS, HEARTBEAT_TTL, Keys

log = logging.getLogger(__name__)

# Renew only a lock that is still ours (another host may have taken an expired one).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class AccountLocked(RuntimeError):
    """Another agent runs with this account on this Redis."""

    def __init__(self, account: str, holder: str, ttl: int) -> None:
        self.account, self.holder = account, holder
        super().__init__(
            f"another agent ({holder}) is running with storage.account {account!r} on this "
            f"Redis (its lock expires in {max(ttl, 0)} s unless renewed). Stop it first, or "
            "give this agent its own account: two agents on one account would trade twice.")


def info_key(keys: Keys) -> str:
    return f"agent-info:{keys.account}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AgentPresence:
    """The account lock and the heartbeat. See the module doc."""

    def __init__(self, client: redis.Redis, keys: Keys, mode: str,
                 summary: Callable[[], dict[str, Any]], *, interval: float = 10.0,
                 clock: Clock | None = None) -> None:
        self._client, self._keys, self._mode = client, keys, mode
        self._summary = summary
        self._interval = interval
        self._clock = clock or LiveClock()
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take the account's lock (AccountLocked otherwise), beat once, start beating."""
        self._take_lock()
        self.beat()
        self._thread = threading.Thread(target=self._run, name="redis-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            self.beat(alive=False)
            self._client.eval(_RELEASE, 1, self._keys.lock, self.me)
        except RedisError as exc:
            log.warning("redis: the lock of %s could not be given back (%s): it expires in "
                        "%d s", self._keys.account, describe(exc), HEARTBEAT_TTL)

    def beat(self, *, alive: bool = True) -> None:
        """Write the heartbeat (and renew the lock). Raises RedisError."""
        now: datetime = self._clock.now()
        info = {"account": self._keys.account, "mode": self._mode, "host": self.me,
                "at": now.isoformat(), "alive": alive, **self._summary()}
        with self._client.pipeline(transaction=True) as pipe:
            pipe.sadd(AGENTS, self._keys.account)
            pipe.set(info_key(self._keys), json.dumps(info))
            if alive:
                pipe.set(self._keys.heartbeat, now.isoformat(), ex=HEARTBEAT_TTL)
                pipe.eval(_RENEW, 1, self._keys.lock, self.me, HEARTBEAT_TTL)
            else:
                pipe.delete(self._keys.heartbeat)
            pipe.execute()

    def _take_lock(self) -> None:
        lock = self._keys.lock
        if self._client.set(lock, self.me, nx=True, ex=HEARTBEAT_TTL):
            return
        holder = (self._client.get(lock) or b"").decode()
        host, pid = [*holder.split(":"), "", ""][:2]
        dead = host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))
        if holder == self.me or dead:
            log.warning("redis: taking over the lock of %s from %s (no longer running)",
                        self._keys.account, holder)
            self._client.set(lock, self.me, ex=HEARTBEAT_TTL)
            return
        raise AccountLocked(self._keys.account, holder or "unknown", self._client.ttl(lock))

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except RedisError as exc:
                if not failing:
                    log.warning("redis: heartbeat of %s failed (%s); trying again every "
                                "%g s", self._keys.account, describe(exc), self._interval)
                failing = True
                continue
            if failing:
                log.info("redis: heartbeat of %s works again", self._keys.account)
                failing = False
