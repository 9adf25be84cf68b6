"""AtomicJSONStorage and atomic_write_bytes: crash safety, strict values, batching."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tinydb import Query, TinyDB

from storage.atomic import (
    AtomicJSONStorage,
    StorageFileCorrupt,
    atomic_write_bytes,
    read_json_file,
)
from storage.plainjson import NotPlainJSON, check_plain_json, dumps_line


def _db(path: Path) -> TinyDB:
    return TinyDB(path, storage=AtomicJSONStorage)


def test_written_file_is_plain_tinydb(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    _db(path).table("orders").insert_multiple([{"tag": "a", "qty": 1}, {"tag": "b", "qty": 2}])
    plain = TinyDB(path)  # TinyDB's own JSONStorage reads what we wrote
    assert plain.table("orders").search(Query().tag == "b") == [{"tag": "b", "qty": 2}]
    plain.close()


def test_missing_file_is_empty_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    db = _db(path)
    assert db.tables() == set()
    assert db.table("x").all() == []
    assert not path.exists()


def test_zero_length_file_is_corrupt_not_empty(tmp_path: Path) -> None:
    """An atomic write never leaves a zero-length file: one is what a crash on a file
    system that lost the data leaves, so it is refused rather than read as nothing saved."""
    path = tmp_path / "db.json"
    path.touch()
    with pytest.raises(StorageFileCorrupt, match="empty"):
        read_json_file(path)
    assert path.read_bytes() == b""


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"t": {"1": {"a": 1}', "invalid JSON at line 1 column 21"),
        (b'{"t": {}}\n\n  x', "invalid JSON at line 3 column 3"),
        (b"   ", "invalid JSON at line 1 column 4"),
        (b"[1, 2]", "the top level is a JSON list"),
        (b'{"t": [1]}', "table 't' is not a JSON object"),
        (b'{"t": {"x": {}}}', "entry 'x' is not a numbered document"),
        (b'{"t": {"1": 5}}', "entry '1' is not a numbered document"),
        (b'\xff\xfe{"t": {}}', "not UTF-8 text"),
    ],
)
def test_unreadable_file_raises_with_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(content)
    with pytest.raises(StorageFileCorrupt, match=reason) as info:
        _db(path).tables()
    assert str(path) in str(info.value)
    assert path.read_bytes() == content


def test_crash_before_replace_keeps_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "db.json"
    db = _db(path)
    db.insert({"v": "old"})
    before = path.read_bytes()

    def crash(src, dst):
        assert Path(src).read_bytes().startswith(b'{"_default"')  # temp was fully written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        db.insert({"v": "new"})
    assert path.read_bytes() == before
    assert _db(path).all() == [{"v": "old"}]
    assert [p.name for p in tmp_path.iterdir()] == ["db.json"]  # temp file cleaned up


def test_write_order_is_fsync_replace_fsync_dir(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "db.json"
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        calls.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src, dst) -> None:
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_bytes(path, b"{}")
    assert calls == ["fsync file", "replace", "fsync dir"]
    assert path.read_bytes() == b"{}"


def test_permissions_kept_and_new_files_private(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.json"
    atomic_write_bytes(fresh, b"{}")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    shared = tmp_path / "shared.json"
    shared.write_bytes(b"{}")
    shared.chmod(0o640)
    atomic_write_bytes(shared, b'{"a": {}}')
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640


def test_non_json_value_rejected_with_key_path_and_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    db = _db(path)
    db.table("orders").insert({"tag": "a", "price": "1.5"})
    before = path.read_bytes()
    with pytest.raises(NotPlainJSON, match=r"orders\['2'\]\.price: Decimal value") as info:
        db.table("orders").insert({"tag": "b", "price": Decimal("1.5")})
    assert isinstance(info.value, TypeError)
    assert str(path) in str(info.value)
    with pytest.raises(TypeError, match=r"orders\['\d+'\]\.fill\.at: datetime value.*isoformat"):
        db.table("orders").insert({"fill": {"at": datetime(2024, 1, 5, 9, 15)}})
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("value", "path", "hint"),
    [
        ({"a": [1, (2, 3)]}, r"x\.a\[1\]", "use a list"),
        ({"a": {1: "one"}}, r"x\.a\[1\]", "keys must be str"),
        ({"a": float("nan")}, r"x\.a", "NaN"),
        ({"a": [[1.5, float("-inf")]]}, r"x\.a\[0\]\[1\]", "infinities"),
        ([{"ok": 1}, {"b": {"c": b"raw"}}], r"x\[1\]\.b\.c", "bytes value"),
        ({"a": {"my key": {1.5}}}, r"x\.a\['my key'\]", "set value"),
        (Decimal("2"), r"x:", "Decimals as str"),
    ],
)
def test_check_plain_json_names_path(value, path: str, hint: str) -> None:
    with pytest.raises(NotPlainJSON, match=f"^where: {path}.*{hint}"):
        check_plain_json(value, "where", "x")


def test_plain_values_and_subclasses_pass() -> None:
    from enum import StrEnum

    class Side(StrEnum):
        BUY = "BUY"

    value = {"s": Side.BUY, "n": None, "b": True, "i": 3, "f": 1.5, "l": [{"k": "v"}]}
    check_plain_json(value, "w")
    assert json.loads(dumps_line(value, "w")) == {**value, "s": "BUY"}


def test_batch_is_one_file_write(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "db.json"
    db = _db(path)
    storage = db.storage
    assert isinstance(storage, AtomicJSONStorage)
    replaces: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda s, d: (replaces.append(d), real_replace(s, d)))
    with storage.batch():
        for name in ("a", "b", "c"):
            db.table(name).insert_multiple([{"n": i} for i in range(5)])
        assert not path.exists()  # nothing on disk until the batch ends
        assert len(db.table("b")) == 5  # reads inside the batch see the batch
    assert len(replaces) == 1
    assert storage.file_writes == 1
    assert sorted(_db(path).tables()) == ["a", "b", "c"]


def test_failed_batch_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    db = _db(path)
    db.insert({"v": 1})
    before = path.read_bytes()
    storage = db.storage
    assert isinstance(storage, AtomicJSONStorage)
    with pytest.raises(RuntimeError, match="boom"), storage.batch():
        db.insert({"v": 2})
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError, match="do not nest"), storage.batch(), storage.batch():
        pass


def test_dumps_in_pieces_writes_the_text_json_dumps_writes() -> None:
    import json
    import random

    from storage.atomic import dumps_in_pieces

    rng = random.Random(7)

    def value(depth: int) -> object:
        kind = rng.randrange(8 if depth else 5)
        if kind == 0:
            return rng.choice([None, True, False])
        if kind == 1:
            return rng.randint(-10**12, 10**12)
        if kind == 2:
            return rng.uniform(-1e6, 1e6)
        if kind == 3:
            return rng.choice(["", "NIFTY 50", "₹ \"quoted\"\n", "\u0000ctrl"])
        if kind == 4:
            return []
        if kind == 5:
            return [value(depth - 1) for _ in range(rng.randrange(4))]
        if kind == 6:
            return {f"k{i}é": value(depth - 1) for i in range(rng.randrange(4))}
        return {i: value(depth - 1) for i in range(rng.randrange(3))}  # int keys

    for _ in range(500):
        data = {"t": {str(i): value(4) for i in range(rng.randrange(4))}, "x": value(5)}
        assert dumps_in_pieces(data) == json.dumps(data, ensure_ascii=False, allow_nan=False)
    large = {"t": {str(i): {"n": i, "v": [value(2) for _ in range(3)]} for i in range(450)},
             "l": [value(3) for _ in range(401)], "k": {i: i for i in range(300)}}
    assert dumps_in_pieces(large) == json.dumps(large, ensure_ascii=False, allow_nan=False)
    with pytest.raises(ValueError):
        dumps_in_pieces({"a": 1, "b": [1.0, float("nan")]})
