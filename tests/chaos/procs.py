"""The crash test's processes: ``bot.py exchange`` and ``bot.py run``, each in a session of
its own with its output in a file of the run's directory (a pipe nobody drains would stop
a process that talks a lot), and the exchange's clock as the harness sees it.

Every process here is started by the harness and ended by it, by its own id (its process
group): ``AgentRun.kill`` is the crash (SIGKILL), ``AgentRun.stop`` the owner's SIGTERM.
Harness thread only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import requests

from tests.chaos.truth import kite_time
from tests.exchange_proc import ExchangeProcess

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def agent_env() -> dict[str, str]:
    """The environment of ``bot.py run`` and ``login``: the exchange's key and secret, and
    none of the owner's real secrets."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TELEGRAM_BOT_TOKEN", "KITE_ACCESS_TOKEN", "KITE_PROXY")}
    env.update(KITE_API_KEY="simkey", KITE_API_SECRET="simsecret")
    return env


def _end(proc: subprocess.Popen[Any], sig: int) -> None:
    """Send ``sig`` to the process's group (it leads one: ``start_new_session``)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:  # not ours any more (the id was reused): the process only
        proc.send_signal(sig)


class ChaosExchange(ExchangeProcess):
    """``tests.exchange_proc.ExchangeProcess`` with its output in ``workdir`` and its JSON
    line read from ``--info`` (the controls, the login and ``kite()`` are inherited)."""

    def __init__(self, workdir: Path, *args: str, root: Path = ROOT) -> None:
        super().__init__(*args)
        self.workdir = workdir
        self.root = root
        self.log = workdir / "exchange.out"
        self._out: IO[str] | None = None

    def start(self) -> ChaosExchange:
        info = self.workdir / "exchange.json"
        self._out = open(self.log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "bot.py", "exchange", "--port", "0", "--info", str(info),
             *self.args], cwd=self.root, stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        pause = threading.Event()
        while not info.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"bot.py exchange exited with {self.proc.returncode}: "
                                   f"{tail(self.log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bot.py exchange wrote no {info} in {START_TIMEOUT:.0f} s")
            pause.wait(0.05)
        self.info = json.loads(info.read_text(encoding="utf-8"))
        return self

    def stop(self) -> int:
        proc, self.proc = self.proc, None
        code = 0
        if proc is not None:
            if proc.poll() is None:
                _end(proc, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _end(proc, signal.SIGKILL)
                proc.wait()
            code = proc.returncode
        if self._out is not None:
            self._out.close()
            self._out = None
        return code


class ExchangeClock:
    """The exchange's time, read from ``GET /sim/clock`` and carried forward on the
    monotonic clock at its speed (read again every ``resync`` wall seconds)."""

    def __init__(self, exchange: ExchangeProcess, resync: float = 2.0) -> None:
        self.exchange = exchange
        self.resync = resync
        self.speed = 1.0
        self._base = datetime.min
        self._at = 0.0
        self.sync()

    def sync(self) -> None:
        before = time.monotonic()
        answer = self.exchange.clock()
        after = time.monotonic()
        now = kite_time(answer["now"])
        assert now is not None, answer
        self._base, self._at = now, (before + after) / 2
        self.speed = float(answer["speed"])

    def now(self) -> datetime:
        """Naive IST."""
        if time.monotonic() - self._at > self.resync:
            with contextlib.suppress(requests.RequestException, ValueError):
                self.sync()  # else carried forward until the next read works
        return self._base + timedelta(seconds=(time.monotonic() - self._at) * self.speed)

    def wall_seconds(self, exchange_seconds: float) -> float:
        return exchange_seconds / self.speed


class AgentRun:
    """One ``bot.py run`` (of the checkout ``root``) on the run's config and data
    directory; its output goes to ``out`` (the log proper is ``data_dir/logs/agent.log``)."""

    def __init__(self, config: Path, out: Path, root: Path = ROOT) -> None:
        self.out = out
        self._file = open(out, "w", encoding="utf-8")  # noqa: SIM115 (closed in _reap)
        self.proc = subprocess.Popen(
            [sys.executable, str(root / "bot.py"), "run", "--config", str(config)],
            cwd=config.parent, env=agent_env(), stdin=subprocess.DEVNULL, stdout=self._file,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.pid = self.proc.pid
        self.started = time.monotonic()

    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> int:
        """The crash: SIGKILL, nothing flushed, nothing closed."""
        _end(self.proc, signal.SIGKILL)
        return self._reap(STOP_TIMEOUT)

    def stop(self) -> int:
        """The owner's stop: SIGTERM, then SIGKILL if it has not ended in 30 s (-9)."""
        if self.alive():
            _end(self.proc, signal.SIGTERM)
        try:
            return self._reap(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return self.kill()

    def _reap(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._file.close()
        return code


def tail(path: Path, n: int = 20) -> str:
    """The last ``n`` lines of a file ("" when it cannot be read)."""
    try:
        return "".join(path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-n:])
    except OSError:
        return ""
