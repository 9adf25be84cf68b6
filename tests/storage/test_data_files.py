"""Issue 13: data files that are directories, unreadable, on a read-only or full disk, or
whose fields are wrong: each is one ``DataFileError`` naming the path (the start stops with
it), or, for ``prefs.json`` and ``session.json`` content, a documented fallback that names
the file and the field.

The tests run as root, where ``chmod 000`` does not stop a read: an unreadable file is
played by a directory in its place (``EISDIR``) or a parent that is a file (``ENOTDIR``),
and a read-only or full disk by ``os.replace`` / ``os.write`` raising ``EROFS`` /
``ENOSPC`` (monkeypatched). What root cannot reproduce: a real ``EACCES`` from a
permission bit; ``storage.errors.os_problem`` words it as "permission denied" like the rest.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.session import KiteSession, checked_session
from handlers.args import ALERT_MODES
from storage import prefs as prefs_module
from storage.datadir import prepare_data_dir
from storage.errors import DataFileError
from storage.hookup import EnginePersistence
from storage.lock import DataDirLock
from storage.prefs import Prefs
from storage.session_file import SessionFile
from storage.state import StateStore


def _failing(code: int) -> Any:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))
    return fail


# ---------------------------------------------------------------- the data directory


def test_a_data_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(DataFileError, match="data_dir is a file, not a directory") as info:
        prepare_data_dir(tmp_path / "data")
    assert info.value.path == tmp_path / "data"


def test_a_data_dir_under_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "parent").write_text("x")
    with pytest.raises(DataFileError, match="cannot be made") as info:
        prepare_data_dir(tmp_path / "parent" / "data")
    assert str(info.value).startswith(str(tmp_path / "parent" / "data"))


@pytest.mark.parametrize(("code", "words"), [(errno.EROFS, "the file system is read-only"),
                                             (errno.ENOSPC, "the disk is full")])
def test_a_read_only_or_full_disk_stops_the_start(tmp_path: Path, monkeypatch, code: int,
                                                  words: str) -> None:
    monkeypatch.setattr(os, "replace", _failing(code))
    with pytest.raises(DataFileError, match=f"cannot write in the data directory: {words}"):
        prepare_data_dir(tmp_path / "data")
    assert os.listdir(tmp_path / "data") == []  # no probe or temporary file left


# ---------------------------------------------------------------- state.json and the lock


def test_a_directory_in_place_of_state_json_is_named_and_starts_no_thread(tmp_path) -> None:
    (tmp_path / "state.json").mkdir()
    with pytest.raises(DataFileError, match=r"state\.json: cannot be read: is a directory"):
        EnginePersistence(tmp_path, lambda message: None)
    assert not [t for t in threading.enumerate() if t.name == "storage-writer"]


def test_state_json_under_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("x")
    with pytest.raises(DataFileError, match="cannot be made a directory"):
        StateStore(tmp_path / "data" / "state.json")


def test_a_directory_in_place_of_the_lock_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "agent.lock").mkdir()
    with pytest.raises(DataFileError, match=r"agent\.lock: the lock file cannot be opened: is "
                                            "a directory"):
        DataDirLock(tmp_path).acquire()


def test_a_lock_that_cannot_be_written_is_let_go(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("storage.lock.os.write", _failing(errno.ENOSPC))
    with pytest.raises(DataFileError, match=r"agent\.lock: the lock file cannot be written: "
                                            "the disk is full"):
        DataDirLock(tmp_path).acquire()
    monkeypatch.undo()
    with DataDirLock(tmp_path):  # not left held
        pass


# ---------------------------------------------------------------- prefs.json


@pytest.mark.parametrize(("content", "field"), [
    ({"alerts": {"stop_moved": "loud"}}, "alerts.stop_moved: expected one of on, silent, off"),
    ({"alerts": {"error": 5}}, "alerts.error: expected one of on, silent, off, got 5"),
    ({"day_override": {"day": "monday", "running": False}}, "day_override.day: expected a "),
    ({"day_override": {"day": "2026-11-23", "running": "no"}},
     "day_override.running: expected true or false"),
    ({"day_override": {"running": False}}, "day_override.day: missing"),
])
def test_a_bad_prefs_field_is_named_and_the_file_moved_aside(tmp_path: Path, content,
                                                             field: str) -> None:
    raw = json.dumps(content).encode()
    (tmp_path / "prefs.json").write_bytes(raw)
    prefs = Prefs.in_dir(tmp_path)
    assert prefs.section("alerts") == {} and prefs.section("day_override") == {}
    assert prefs.problem.startswith(f"{tmp_path / 'prefs.json'}: {field}"), prefs.problem
    assert prefs.quarantined is not None and prefs.quarantined.read_bytes() == raw


def test_good_prefs_are_not_touched(tmp_path: Path) -> None:
    content = {"alerts": {"stop_moved": "silent", "error": "off"},
               "day_override": {"day": "2026-11-23", "running": False}}
    (tmp_path / "prefs.json").write_text(json.dumps(content))
    prefs = Prefs.in_dir(tmp_path)
    assert prefs.problem == "" and prefs.quarantined is None
    assert prefs.section("day_override") == content["day_override"]


def test_a_directory_in_place_of_prefs_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "prefs.json").mkdir()
    with pytest.raises(DataFileError, match=r"prefs\.json: cannot be read: is a directory"):
        Prefs.in_dir(tmp_path)


def test_the_alert_modes_checked_are_the_commands_modes() -> None:
    assert tuple(prefs_module.ALERT_MODES) == tuple(ALERT_MODES)


# ---------------------------------------------------------------- session.json


@pytest.mark.parametrize(("data", "field"), [
    ({"access_token": "t", "user_id": "AB", "issued_at": "yesterday"}, "issued_at: expected"),
    ({"access_token": "t", "issued_at": "2026-11-23T08:00:00"}, "issued_at: expected"),
    ({"access_token": 5, "issued_at": "2026-11-23T08:00:00+05:30"}, "access_token: expected"),
    ({"issued_at": "2026-11-23T08:00:00+05:30"}, "access_token: missing"),
    ({"access_token": "t", "user_id": 7, "issued_at": "2026-11-23T08:00:00+05:30"},
     "user_id: expected text"),
])
def test_a_bad_session_field_means_a_new_login_named(tmp_path: Path, caplog, data,
                                                     field: str) -> None:
    """A session whose fields cannot be used is no session (the documented fallback: a new
    login), logged naming the file and the field; the start goes on and the token's
    lifecycle calls (``access_token``, ``issued_at``) answer instead of raising."""
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.ERROR):
        session = KiteSession("key", "secret", SessionFile(path), root="http://127.0.0.1:9",
                              login_base="http://127.0.0.1:9/login")
    assert session.access_token() is None and session.issued_at() is None
    assert f"{path}: {field}" in caplog.text


def test_a_good_session_is_kept() -> None:
    data = {"access_token": "t", "user_id": "AB", "issued_at": "2026-11-23T08:00:00+05:30"}
    assert checked_session(data, "x") == data


def test_a_directory_in_place_of_session_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "session.json").mkdir()
    with pytest.raises(DataFileError, match=r"session\.json: cannot be read: is a directory"):
        SessionFile.in_dir(tmp_path).load()
