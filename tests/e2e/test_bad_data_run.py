"""Issue 13, ``python bot.py run`` on bad data (``feed: sim`` as tests/e2e/test_run.py): a
state file with a wrong-typed field, a zero-length one, a directory where a file should be,
a ``data_dir`` that is a file, a full or read-only disk. Each ends the process within
seconds with exit status 1 and one line naming the file and the field, no traceback, and
the data directory's lock released, so the next start is not refused. (Before, the bad
fields printed a traceback and hung for ever holding the lock: the storage writer is a
non-daemon thread.) A ``session.json`` that is not a session means a new login: the agent
starts and says which field was wrong."""

from __future__ import annotations

import copy
import json
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from storage.lock import DataDirLock
from storage.state import StateStore
from tests.e2e.test_run import CONFIG
from tests.storage.engine_state import engine_snapshot

ROOT = Path(__file__).resolve().parents[2]
BOT = str(ROOT / "bot.py")
TIMEOUT = 60  # seconds; a start that fails takes about one

# Runs bot.py with os.replace failing (errno in argv[1]) for every path, or for paths
# ending in argv[2] when given: a read-only or full disk, at start or later.
FAILING_REPLACE = """\
import errno, os, runpy, sys
code, suffix = int(sys.argv[1]), sys.argv[2]
real = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith(suffix):
        raise OSError(code, os.strerror(code), str(dst))
    return real(src, dst, *args, **kwargs)
os.replace = replace
sys.argv = [sys.argv[3], *sys.argv[4:]]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def good_state() -> dict[str, Any]:
    return engine_snapshot()


def _world(tmp_path: Path, state: dict[str, Any] | None = None) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    if state is not None:
        StateStore(data / "state.json").save(state)
    return data


def _run(tmp_path: Path, *prefix: str) -> tuple[int, str, str]:
    argv = [*prefix, BOT, "run", "--config", str(tmp_path / "config.yaml")]
    if not prefix:
        argv.insert(0, sys.executable)
    done = subprocess.run(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=TIMEOUT)
    return done.returncode, done.stdout, done.stderr


def _refused(tmp_path: Path, expected: str, *prefix: str) -> str:
    """Run, and check the refusal: exit 1, one ``error:`` line starting with ``expected``,
    no traceback, the lock free. Returns the error line."""
    code, out, err = _run(tmp_path, *prefix)
    assert code == 1, out[-2000:] + err[-2000:]
    assert "Traceback" not in out + err, out[-2000:] + err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err[-2000:]
    assert errors[0].startswith(f"error: {expected}"), errors[0]
    data = tmp_path / "data"
    if data.is_dir() and not (data / "agent.lock").is_dir():
        with DataDirLock(data):  # released: the next start is not refused
            pass
    return errors[0]


def _change(*path: Any) -> Callable[[dict[str, Any]], None]:
    *where, key, value = path

    def change(snap: dict[str, Any]) -> None:
        target = snap
        for step in where:
            target = target[step]
        if value is None:
            del target[key]
        else:
            target[key] = value

    return change


@pytest.mark.parametrize(("change", "field"), [
    (_change("meta", "seq", "abc"), "meta.seq: expected a whole number >= 0, got 'abc'"),
    (_change("settings", "defaults", "percentage", "abc"), "settings.defaults.percentage: "),
    (_change("settings", "defaults", "interval", 7), "settings.defaults.interval: "),
    (_change("orders", 3, "tag", None), "orders[3].tag: missing"),
    (_change("trades", 0, "pnl", "NaN"), "trades[0].pnl: expected a finite number"),
], ids=["seq-text", "param-text", "interval-7", "order-without-tag", "pnl-nan"])
def test_a_wrong_field_in_state_json_stops_the_start_by_name(tmp_path, good_state, change,
                                                             field: str) -> None:
    bad = copy.deepcopy(good_state)
    change(bad)
    data = _world(tmp_path, bad)
    original = (data / "state.json").read_bytes()
    line = _refused(tmp_path, f"{data / 'state.json'}: {field}")
    assert "a copy was kept at" in line
    copies = list(data.glob("state.json.corrupt-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == original
    assert (data / "state.json").read_bytes() == original


def test_a_zero_length_state_json_is_corrupt_not_empty(tmp_path) -> None:
    data = _world(tmp_path)
    (data / "state.json").write_bytes(b"")
    _refused(tmp_path, f"{data / 'state.json'}: the file is empty")
    assert [p.name for p in data.glob("state.json.corrupt-*")]
    assert (data / "state.json").read_bytes() == b""


@pytest.mark.parametrize("name", ["state.json", "prefs.json", "agent.lock"])
def test_a_directory_in_place_of_a_data_file_is_named(tmp_path, name: str) -> None:
    data = _world(tmp_path)
    (data / name).mkdir()
    _refused(tmp_path, f"{data / name}: ")


def test_a_data_dir_that_is_a_file_is_named(tmp_path) -> None:
    data = _world(tmp_path)
    shutil.rmtree(data)
    data.write_text("oops")
    _refused(tmp_path, f"{data}: data_dir is a file, not a directory")


@pytest.mark.parametrize(("code", "words"), [(28, "the disk is full"),
                                             (30, "the file system is read-only")])
def test_a_full_or_read_only_disk_stops_the_start_by_name(tmp_path, code: int,
                                                          words: str) -> None:
    data = _world(tmp_path)
    _refused(tmp_path, f"{data}: cannot write in the data directory: {words}",
             sys.executable, "-c", FAILING_REPLACE, str(code), "")


def test_a_state_that_cannot_be_saved_any_more_ends_with_status_1(tmp_path) -> None:
    """The disk fills while the agent runs: it goes on (the writer retries and alerts);
    stopped, it exits 1 naming the state file it could not save."""
    _world(tmp_path)
    argv = [sys.executable, "-c", FAILING_REPLACE, "28", "state.json", BOT, "run",
            "--config", str(tmp_path / "config.yaml")]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failed = threading.Event()
    seen: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "state write to" in line and "failed" in line:
                failed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert failed.wait(TIMEOUT), "".join(seen[-30:])
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(TIMEOUT)
        reader.join(5)
    errors = [line for line in seen if line.startswith("error: ")]
    assert code == 1, "".join(seen[-30:])
    assert errors and errors[-1].startswith(
        f"error: {tmp_path / 'data' / 'state.json'}: the last state was not saved"), errors
    with DataDirLock(tmp_path / "data"):
        pass


SESSION_CONFIG = """\
mode: paper
feed: kite
data_dir: ./data
kite:
  root: http://127.0.0.1:9
  ws_root: ws://127.0.0.1:9/ws
  login_url: http://127.0.0.1:9/connect/login
  instruments_file: {dump}
instruments: ["NSE:ADANIPORTS"]
"""


def test_a_session_json_that_is_not_a_session_means_a_new_login(tmp_path) -> None:
    """``issued_at`` not a date: the agent starts without a token (a new login is needed,
    as for any unreadable session.json), says which field was wrong, and stops cleanly."""
    dump = ROOT / "agent" / "sim" / "data" / "instruments_nse.csv"
    (tmp_path / "config.yaml").write_text(SESSION_CONFIG.format(dump=dump), encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "session.json").write_text(json.dumps(
        {"access_token": "abc", "user_id": "AB1234", "issued_at": "yesterday"}))
    env = {"PATH": "/usr/bin:/bin", "KITE_API_KEY": "key", "KITE_API_SECRET": "secret"}
    proc = subprocess.Popen([sys.executable, BOT, "run", "--config", "config.yaml"],
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = threading.Event()
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "agent running" in line:
                running.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert running.wait(TIMEOUT), "".join(seen[-30:])
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(TIMEOUT)
        reader.join(5)
    text = "".join(seen)
    assert code == 0, text[-3000:]
    assert "Traceback" not in text
    assert (f"{tmp_path / 'data' / 'session.json'}: issued_at: expected an ISO date and time"
            in text), text[-3000:]
