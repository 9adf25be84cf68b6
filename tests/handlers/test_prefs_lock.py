"""storage/prefs.py (atomic small settings) and storage/lock.py (one agent per data dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from storage.lock import DataDirLock, DataDirLocked
from storage.plainjson import NotPlainJSON
from storage.prefs import Prefs

ROOT = Path(__file__).resolve().parents[2]


def test_prefs_persist_across_instances_and_keep_other_sections(tmp_path: Path) -> None:
    prefs = Prefs.in_dir(tmp_path)
    assert prefs.get("alerts", "stop_moved", "on") == "on"
    prefs.set("alerts", "stop_moved", "silent")
    prefs.update("ui", {"keyboard": True})
    again = Prefs.in_dir(tmp_path)
    assert again.section("alerts") == {"stop_moved": "silent"}
    assert again.get("ui", "keyboard") is True
    assert json.loads((tmp_path / "prefs.json").read_text()) == {
        "alerts": {"stop_moved": "silent"}, "ui": {"keyboard": True}}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_prefs_reject_a_non_json_value_and_change_nothing(tmp_path: Path) -> None:
    prefs = Prefs.in_dir(tmp_path)
    prefs.set("alerts", "error", "on")
    with pytest.raises(NotPlainJSON, match=r"alerts\.limit.*Decimal"):
        prefs.set("alerts", "limit", Decimal(1))
    assert Prefs.in_dir(tmp_path).section("alerts") == {"error": "on"}
    assert prefs.section("alerts") == {"error": "on"}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"alerts": 3}'])
def test_a_corrupt_prefs_file_is_moved_aside_not_overwritten(tmp_path: Path, content: bytes,
                                                             caplog) -> None:
    (tmp_path / "prefs.json").write_bytes(content)
    prefs = Prefs.in_dir(tmp_path)
    assert prefs.section("alerts") == {}
    assert prefs.quarantined == tmp_path / "prefs.json.corrupt-1"
    assert prefs.quarantined.read_bytes() == content
    assert "moved it to" in caplog.text
    prefs.set("alerts", "error", "off")
    assert Prefs.in_dir(tmp_path).get("alerts", "error") == "off"


def test_a_second_lock_on_the_same_dir_names_the_holder_pid(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(DataDirLocked, match=f"PID {os.getpid()}") as caught:
            DataDirLock(tmp_path).acquire()
        assert caught.value.pid == os.getpid()
        assert "agent.lock" in str(caught.value)
    finally:
        first.release()
    with DataDirLock(tmp_path) as again:  # free once released
        assert again.held


def test_a_lock_held_by_another_process_is_refused_then_freed_when_it_exits(
        tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from storage.lock import DataDirLock; "
            "lock = DataDirLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); "
            "sys.stdin.readline()")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(DataDirLocked) as caught:
            DataDirLock(tmp_path).acquire()
        assert caught.value.pid == child.pid
        assert f"PID {child.pid}" in str(caught.value)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    with DataDirLock(tmp_path) as lock:  # the dead holder's lock is gone
        assert lock.held
        assert (tmp_path / "agent.lock").read_text().strip() == str(os.getpid())
