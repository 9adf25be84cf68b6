"""Connecting to Redis (``storage.backend: redis``): one client with its connection pool per
agent, shared by the storage writer, the readers and the heartbeat (redis-py's client is
thread-safe; each command takes a pooled connection).

The password comes from REDIS_PASSWORD (never from the config file, never logged); URLs
in messages are shown without one. A Redis that cannot be reached at start is
``RedisUnavailable``, naming the URL: the start-up prints it and exits 1, like a data file
that cannot be used. Later losses are the storage writer's business (it queues, retries
with a backoff and tells the owner, lost and back). Any thread.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.exceptions import RedisError

from storage.errors import DataFileError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0  # seconds to open a connection
COMMAND_TIMEOUT = 5.0  # seconds for one command's answer


def shown_url(url: str) -> str:
    """``url`` without a password (a user name stays)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class RedisUnavailable(DataFileError):
    """Redis cannot be used at start: the message names the URL (without a password)."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = shown_url(url)
        self.problem = problem
        Exception.__init__(self, f"Redis at {self.url}: {problem}")


def describe(exc: BaseException) -> str:
    """A short, password-free reason for a Redis error."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def connect(url: str, password: str = "", *, name: str = "kite-agent") -> redis.Redis:
    """A client for ``url`` (redis://, rediss://, unix://) that answers PING; raises
    ``RedisUnavailable`` otherwise. No retries inside the client: the callers decide."""
    kwargs: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT,
                              "socket_timeout": COMMAND_TIMEOUT, "health_check_interval": 15,
                              "client_name": name}
    if password:
        kwargs["password"] = password
    try:
        client = redis.Redis.from_url(url, **kwargs)
    except (ValueError, RedisError) as exc:
        raise RedisUnavailable(url, f"not a usable URL ({describe(exc)})") from None
    try:
        client.ping()
    except RedisError as exc:
        client.close()
        raise RedisUnavailable(url, f"cannot be reached ({describe(exc)}); is redis-server "
                               "running there, and REDIS_PASSWORD right?") from None
    log.info("storage: Redis at %s answers", shown_url(url))
    return client
