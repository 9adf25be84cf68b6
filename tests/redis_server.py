"""A real ``redis-server`` for the tests (issue 16): started on a free loopback port in a
temporary directory, with persistence off, and stopped at the end. No fake Redis stands
in for it. When the binary is not installed the tests that need it skip, saying so
(``.ci/run`` installs the Debian package ``redis-server`` first, so CI never skips).
Test thread only."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

SKIP_REASON = ("redis-server is not installed: the Redis backend's tests skip (install the "
               "Debian package redis-server; .ci/run does)")


def binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server(port: int | None = None, *, password: str = "",
                 unix_socket: bool = False) -> Iterator[RedisServer]:
    """A running server; ``.url`` (redis://127.0.0.1:PORT/0, or unix:// with
    ``unix_socket``); ``stop()``/``start()`` to take it away and bring it back."""
    server = RedisServer(port or free_port(), password, unix_socket)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


class RedisServer:
    def __init__(self, port: int, password: str, unix_socket: bool) -> None:
        self.port, self.password = port, password
        self.dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self.socket = self.dir / "redis.sock" if unix_socket else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.socket is not None:
            return f"unix://{self.socket}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, password=self.password or None)

    def start(self) -> None:
        exe = binary()
        assert exe is not None, SKIP_REASON
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
                "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.socket is not None:
            args += ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.exceptions.AuthenticationError:
                return  # up, and asking for the password
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)  # polling a server's start, not a race in the code tested

    def stop(self) -> None:
        """Stop the server, saving its data first (``SHUTDOWN SAVE``), so ``start`` brings
        it back as a Redis with persistence would be after a restart."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.client().shutdown(save=True)
            except redis.exceptions.RedisError:
                self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
