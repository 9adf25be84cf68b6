"""``python bot.py exchange`` in a process of its own, for tests of the real clients.

    with ExchangeProcess("--speed", "1", "--date", "2026-12-07T10:00") as ex:
        kite = ex.kite()                      # the real KiteConnect, logged in by the login
        ex.faults(server_errors={"n": 2})     # page's redirect, as a person would
        ex.realism(disable=["partial_fills"])

The process prints its JSON line on stdout; the test waits for that line (with a timeout,
on a reader thread), never for a fixed time. ``stop`` sends SIGTERM and expects exit 0.
Test thread only.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from kiteconnect import KiteConnect

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0


class ExchangeProcess:
    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> ExchangeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "bot.py", "exchange", "--port", "0", *self.args], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.proc.kill()
            raise RuntimeError("bot.py exchange printed nothing") from None
        if not line:
            _, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"bot.py exchange failed to start: {err}")
        self.info = json.loads(line)
        return self

    @property
    def rest_root(self) -> str:
        return str(self.info["rest_root"])

    @property
    def ws_root(self) -> str:
        return str(self.info["ws_root"])

    @property
    def api_key(self) -> str:
        return str(self.info["api_key"])

    def request_token(self) -> str:
        """What a person gets from the login page: the redirect's request_token."""
        answer = requests.get(self.info["login_url"], params={"api_key": self.api_key, "v": 3},
                              allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return parse_qs(urlparse(answer.headers["Location"]).query)["request_token"][0]

    def kite(self, timeout: float | None = 10) -> KiteConnect:
        kite = KiteConnect(self.api_key, root=self.rest_root, timeout=timeout)
        kite.generate_session(self.request_token(), api_secret=self.info["api_secret"])
        return kite

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.rest_root}/sim/{path}"
        answer = (requests.post(url, json=body, timeout=10) if body is not None
                  else requests.get(url, timeout=10))
        data = answer.json()
        if answer.status_code != 200:
            raise ValueError(data.get("message"))
        return data["data"]

    def faults(self, **spec: Any) -> Any:
        return self.control("faults", spec)

    def realism(self, **change: list[str]) -> list[str]:
        return list(self.control("realism", change)["in_force"])

    def access(self, **change: Any) -> Any:
        return self.control("access", change)

    def clock(self) -> dict[str, Any]:
        return dict(self.control("clock"))

    def stop(self) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        return proc.returncode

    def __enter__(self) -> ExchangeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
