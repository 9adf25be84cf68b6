"""StateStore: round trips, one write per save, corrupt files refused and kept."""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tinydb import Query, TinyDB

from agent.clock import SimClock
from agent.timeutil import IST
from storage.plainjson import NotPlainJSON
from storage.state import StateFileCorrupt, StateStore
from tests.storage.snapshots import make_snapshot

CLOCK = SimClock(datetime(2024, 1, 5, 9, 15, 0, tzinfo=IST))


def _store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state.json", clock=CLOCK)


def test_nothing_saved_loads_none(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.load() is None
    assert store.load_section("orders") is None
    assert not store.path.exists()


def test_round_trip_of_realistic_snapshot(tmp_path: Path, snapshot: dict[str, Any]) -> None:
    _store(tmp_path).save(snapshot)
    reopened = _store(tmp_path)
    loaded = reopened.load()
    assert loaded == snapshot
    assert list(loaded) == list(snapshot)  # section order kept
    assert [o["tag"] for o in loaded["orders"]] == [o["tag"] for o in snapshot["orders"]]
    assert reopened.load_section("risk") == snapshot["risk"]
    assert reopened.load_section("positions") == []
    assert reopened.load_section("nope") is None


def test_file_is_queryable_with_plain_tinydb(tmp_path: Path, snapshot: dict[str, Any]) -> None:
    store = _store(tmp_path)
    store.save(snapshot)
    db = TinyDB(store.path)
    sells = db.table("orders").search(Query().side == "SELL")
    assert len(sells) == len(snapshot["orders"]) // 2
    assert db.table("meta").all() == [snapshot["meta"]]
    db.close()


def test_section_kinds_survive_edge_cases(tmp_path: Path) -> None:
    snap = {"empty_list": [], "one": [{"a": 1}], "empty_dict": {}, "nested": {"x": [[1], {}]}}
    store = _store(tmp_path)
    store.save(snap)
    assert store.load() == snap
    store.save({})
    assert store.load() == {}  # saved but empty is not "nothing saved"


def test_save_replaces_everything_in_one_write(tmp_path: Path, monkeypatch) -> None:
    store = _store(tmp_path)
    store.save(make_snapshot(orders=30, tag="old"))
    replaces: list[Any] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda s, d: (replaces.append(d), real_replace(s, d)))
    new = make_snapshot(orders=3, tag="new")
    del new["trades"]
    store.save(new)
    assert replaces == [store.path]  # all sections, one atomic replace
    assert _store(tmp_path).load() == new  # no leftover orders or trades table


def test_crash_during_save_keeps_previous_snapshot(tmp_path: Path, monkeypatch) -> None:
    store = _store(tmp_path)
    old = make_snapshot(tag="old")
    store.save(old)

    def crash(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save(make_snapshot(tag="new"))
    monkeypatch.undo()
    assert _store(tmp_path).load() == old


def test_bad_values_rejected_with_snapshot_path(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save({"risk": {"day_pnl": "0"}})
    before = store.path.read_bytes()
    bad = make_snapshot()
    bad["orders"][1]["average_price"] = Decimal("1520.80")
    with pytest.raises(NotPlainJSON, match=r"snapshot\.orders\[1\]\.average_price: Decimal"):
        store.save(bad)
    with pytest.raises(ValueError, match="section name '_sections'"):
        store.save({"_sections": {}})
    with pytest.raises(TypeError, match=r"section 'orders'\[1\] is a str"):
        store.save({"orders": [{"a": 1}, "b"]})
    with pytest.raises(TypeError, match="section 'risk' is a int"):
        store.save({"risk": 5})
    assert store.path.read_bytes() == before


def test_corrupt_json_refused_with_copy_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    content = b'{"_sections": {"1": {"version": 1, "sections": {}}}, "orders": {"1": {'
    path.write_bytes(content)
    with pytest.raises(StateFileCorrupt) as info:
        StateStore(path, clock=CLOCK)
    copy = tmp_path / "state.json.corrupt-20240105T091500"
    message = str(info.value)
    assert str(path) in message
    assert "invalid JSON at line 1 column" in message
    assert str(copy) in message
    assert info.value.copy == copy
    assert copy.read_bytes() == content
    assert path.read_bytes() == content  # original untouched

    with pytest.raises(StateFileCorrupt):  # a second refusal in the same second
        StateStore(path, clock=CLOCK)
    assert (tmp_path / "state.json.corrupt-20240105T091500-1").read_bytes() == content


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([1, 2], "top level is a JSON list"),
        ({"orders": {"1": {"a": 1}}}, "no '_sections' table"),
        ({"_sections": {"1": {"version": 2, "sections": {}}}}, "format version 2"),
        ({"_sections": {"1": {"version": 1, "sections": {"risk": "dict"}}}},
         "section 'risk' is a dict but its table holds 0 documents"),
        ({"_sections": {"1": {"version": 1, "sections": {"a": "set"}}}}, "'dict' or 'list'"),
        ({"_sections": {"1": {"version": 1, "sections": {}}}, "x": {"1": {}}},
         r"tables \['x'\] are not listed"),
    ],
)
def test_wrong_shape_refused(tmp_path: Path, data: Any, reason: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data))
    with pytest.raises(StateFileCorrupt, match=reason):
        StateStore(path, clock=CLOCK)
    assert json.loads(path.read_text()) == data
    assert (tmp_path / "state.json.corrupt-20240105T091500").exists()


def test_fresh_tinydb_file_is_empty_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"_default": {}}')
    assert StateStore(path, clock=CLOCK).load() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no copies made


def test_zero_length_state_file_is_corrupt_and_kept(tmp_path: Path) -> None:
    """A zero-length state.json is what a crash on a file system that lost the data leaves
    (an atomic write never does): refused with a copy kept, never read as 'nothing saved'."""
    path = tmp_path / "state.json"
    path.touch()
    with pytest.raises(StateFileCorrupt, match="empty") as info:
        StateStore(path, clock=CLOCK)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.copy == tmp_path / "state.json.corrupt-20240105T091500"
    assert info.value.copy.read_bytes() == b"" and path.read_bytes() == b""


def test_creates_data_dir(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "data" / "state.json", clock=CLOCK)
    store.save({"meta": {"day": "2024-01-05"}})
    assert store.load() == {"meta": {"day": "2024-01-05"}}
