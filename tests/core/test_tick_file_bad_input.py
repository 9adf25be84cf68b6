"""Issue 13: bad tick files never end ``bot.py backtest`` in a traceback.

Each bad input is given twice: inline in a small file (parsed in the backtest's process)
and after 4 MB of good rows (a file that large is parsed in a child process). Either way
the answer is the same: a skipped row named by its line number and the run goes on, or
exit 1 with one line on stderr naming the file and what is wrong.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from agent.adapters import replay
from agent.backtest import backtest_command

ROOT = Path(__file__).resolve().parents[2]
HEADER = b"timestamp,instrument_token,last_price,last_traded_quantity,volume_traded\n"
CONFIG = """\
defaults: {interval: 5, percentage: 0.5, trade_side: both, lots: 1}
instruments:
  - {symbol: "NSE:EXAMPLE", token: 1001, tick_size: 0.05, lot_size: 50}
"""


def _rows(day: str, start_second: int, count: int, per_second: int) -> bytes:
    out = []
    for i in range(count):
        s = 9 * 3600 + 15 * 60 + start_second + i // per_second
        out.append(f"{day}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d},1001,"
                   f"{100 + (i % 40) * 0.05:.2f},1,{i + 1}\n")
    return "".join(out).encode()


SMALL_PREFIX = _rows("2026-11-23", 0, 3, 1)
# Enough rows of one session (5 a second) for a file over replay.PARALLEL_BYTES.
BIG_PREFIX = _rows("2026-11-23", 0, 104_000, 5)
assert len(HEADER + BIG_PREFIX) >= replay.PARALLEL_BYTES
# The rows after the prefix: a later day, so the same in both files.
GOOD_TAIL = [b"2026-11-24T09:15:01,1001,100.05,1,5\n", b"2026-11-24T09:15:02,1001,100.10,1,6\n"]
SIZES = ("small", "4MB")


def _prefix(size: str) -> bytes:
    return SMALL_PREFIX if size == "small" else BIG_PREFIX


def _prefix_lines(size: str) -> int:
    return 1 + _prefix(size).count(b"\n")  # the header and the prefix rows


def _run(tmp_path: Path, data: bytes, capsys, *extra: str, name: str = "ticks.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    code = backtest_command(path, config, ROOT / "schedules.yaml", as_json="--json" in extra,
                            chart_dir=_after(extra, "--chart"), verbose="--verbose" in extra)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err, path


def _after(args: tuple[str, ...], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _file(size: str, *tail: bytes) -> bytes:
    return HEADER + _prefix(size) + b"".join(tail)


# ---------------------------------------------------------------- rows skipped by line

SKIPPED = [
    ("undecodable byte", b"2026-11-24T09:15:00,1001,100\xff.5,1,5\n",
     "not UTF-8: byte 0xff at column 29"),
    ("latin-1 text", b"2026-11-24T09:15:00,1001,100,1,5,caf\xe9\n",
     "not UTF-8: byte 0xe9 at column 37"),
    ("NUL bytes", b"2026-11-24T09:15:00,1001,10\x000,1,5\n", "bad last_price '10\\x000'"),
    ("line over 128 KiB", b"2026-11-24T09:15:00,1001," + b"1" * 140_000 + b",1,5\n",
     "line longer than 128 KiB (131,072 bytes)"),
    ("quoted field over 128 KiB", b'2026-11-24T09:15:00,1001,100,1,5,"' + b"x" * 200_000
     + b'"\n', "line longer than 128 KiB (131,072 bytes)"),
    ("price of 5,000 digits", b"2026-11-24T09:15:00,1001," + b"9" * 5000 + b",1,5\n",
     "bad last_price '" + "9" * 40 + "'... (5,000 characters): 5,000 characters, at most 24"),
    ("price 1e309", b"2026-11-24T09:15:00,1001,1e309,1,5\n",
     "bad last_price '1e309': above 100000000 (Rs 10 crore)"),
    ("price above 10 crore", b"2026-11-24T09:15:00,1001,100000000.05,1,5\n",
     "bad last_price '100000000.05': above 100000000 (Rs 10 crore)"),
    ("price NaN", b"2026-11-24T09:15:00,1001,NaN,1,5\n", "bad last_price 'NaN'"),
    ("quantity superscript two", "2026-11-24T09:15:00,1001,100,\u00b2,5\n".encode(),
     "bad quantity '\u00b2'"),
    ("quantity in Arabic-Indic digits", "2026-11-24T09:15:00,1001,100,1,\u0663\n".encode(),
     "bad quantity '\u0663'"),
    ("quantity 2^63", b"2026-11-24T09:15:00,1001,100,9223372036854775808,5\n",
     "bad quantity '9223372036854775808': over 2^63 - 1"),
    ("volume of 30 digits", b"2026-11-24T09:15:00,1001,100,1," + b"9" * 30 + b"\n",
     "bad quantity '" + "9" * 30 + "': over 2^63 - 1"),
    ("quoted quantity 2^64", b'2026-11-24T09:15:00,1001,100,1,"18446744073709551616"\n',
     "bad quantity '18446744073709551616': over 2^63 - 1"),
    ("year 1", b"0001-01-01T09:15:00,1001,100,1,5\n",
     "bad timestamp '0001-01-01T09:15:00': year 1, outside 1970 to 2199"),
    ("year 1 with an offset", b"0001-01-01T00:00:00+05:31,1001,100,1,5\n",
     "bad timestamp '0001-01-01T00:00:00+05:31': outside the years 1970 to 2199"),
    ("year 9999 at -23:59", b"9999-12-31T23:59:59-23:59,1001,100,1,5\n",
     "bad timestamp '9999-12-31T23:59:59-23:59': outside the years 1970 to 2199"),
    ("year 9999", b"9999-12-31T09:15:00,1001,100,1,5\n",
     "bad timestamp '9999-12-31T09:15:00': year 9999, outside 1970 to 2199"),
    ("offset +24:00", b"2026-11-24T09:15:00+24:00,1001,100,1,5\n",
     "bad timestamp '2026-11-24T09:15:00+24:00'"),
    ("token over 2^63", b"2026-11-24T09:15:00,99999999999999999999,100,1,5\n",
     "bad instrument_token '99999999999999999999': outside 0 to 2^63 - 1"),
    ("too few cells", b"2026-11-24T09:15:00,1001\n", "expected 5 columns, got 2"),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("bad", "message"), [c[1:] for c in SKIPPED],
                         ids=[c[0] for c in SKIPPED])
def test_a_bad_row_is_skipped_with_its_line_number(tmp_path, capsys, size, bad,
                                                   message) -> None:
    code, out, err, path = _run(tmp_path, _file(size, GOOD_TAIL[0], bad, GOOD_TAIL[1]),
                                capsys, "--json")
    assert code == 0, err
    line = _prefix_lines(size) + 2
    assert f"{path}:{line}: {message} (skipped)\n" in err
    rows = json.loads(out)["summary"]["rows"]
    read = _prefix_lines(size) - 1 + 3
    assert rows == {"read": read, "bad": 1, "stale": 0, "outside_session": 0,
                    "accepted": read - 1}


def test_edge_values_that_are_good_are_accepted(tmp_path, capsys) -> None:
    tail = [b"2026-11-24T09:15:00,1001,100000000,9223372036854775807,0\n",
            b"2026-11-24T09:15:01,1001,0.05, 7 ,\n",
            b"2026-11-24T09:15:02+05:30,1001,1E+2,,9223372036854775807\n",
            b"2026-11-25T09:15:00+23:59,1001,100,,\n"]  # 2026-11-24 14:46 in IST
    code, out, err, _ = _run(tmp_path, _file("small", *tail), capsys, "--json")
    assert code == 0 and "skipped" not in err, err
    assert json.loads(out)["summary"]["rows"]["accepted"] == 3 + 4


# ---------------------------------------------------------------- files refused: exit 1


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _gzip(data: bytes, size: str) -> bytes:
    # Stored (level 0) for the big file, so that the compressed file is over 4 MB too.
    return gzip.compress(data, compresslevel=0 if size == "4MB" else 6, mtime=0)


@pytest.mark.parametrize("size", SIZES)
def test_utf16_and_utf32_files_are_refused_by_their_byte_order_mark(tmp_path, capsys,
                                                                    size) -> None:
    text = _file(size, *GOOD_TAIL).decode()
    for encoding, name in (("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"),
                           ("utf-32", "UTF-32")):
        data = text.encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        code, _, err, path = _run(tmp_path, data, capsys)
        assert code == 1
        assert _one_error_line(err) == (f"error: {path}: byte order mark: {name} is not "
                                        "supported, save as UTF-8")
    code, _, err, path = _run(tmp_path, text.encode("utf-16-le"), capsys)  # no mark
    assert code == 1 and "NUL bytes in the header" in _one_error_line(err)


@pytest.mark.parametrize("size", SIZES)
def test_a_utf8_byte_order_mark_is_skipped(tmp_path, capsys, size) -> None:
    code, out, err, _ = _run(tmp_path, b"\xef\xbb\xbf" + _file(size, *GOOD_TAIL), capsys,
                             "--json")
    assert code == 0, err
    assert json.loads(out)["summary"]["rows"]["accepted"] == _prefix_lines(size) - 1 + 2


@pytest.mark.parametrize("size", SIZES)
def test_truncated_gzip_is_an_error_naming_the_last_line_read(tmp_path, capsys,
                                                              size) -> None:
    whole = _gzip(_file(size, *GOOD_TAIL), size)
    code, _, err, path = _run(tmp_path, whole[:-20], capsys, name="ticks.csv.gz")
    assert code == 1
    line = _one_error_line(err)
    assert line.startswith(f"error: {path}: truncated gzip: the compressed data ends early "
                           "(after line ")
    # The same answer from the other parser.
    if size == "4MB":
        with pytest.raises(replay.TickFileError) as here:
            list(replay.TickFile(path, parallel_bytes=1 << 62))
        assert line == f"error: {here.value}"


@pytest.mark.parametrize("size", SIZES)
def test_corrupt_gzip_is_an_error(tmp_path, capsys, size) -> None:
    whole = bytearray(_gzip(_file(size, *GOOD_TAIL), size))
    whole[-8:-4] = bytes(4)  # the CRC
    code, _, err, path = _run(tmp_path, bytes(whole), capsys, name="ticks.csv.gz")
    assert code == 1
    assert _one_error_line(err).startswith(f"error: {path}: corrupt gzip: CRC check failed")
    garbled = bytearray(gzip.compress(_file(size, *GOOD_TAIL), mtime=0))
    garbled[len(garbled) // 2:len(garbled) // 2 + 64] = b"\xff" * 64
    if size == "4MB":  # compressed, the file is small: pad it with a column of noise
        noisy = b"".join(row.rstrip(b"\n") + b",%08x\n" % (hash(row) & 0xFFFFFFFF)
                         for row in _file(size, *GOOD_TAIL).splitlines(keepends=True))
        garbled = bytearray(gzip.compress(noisy, compresslevel=1, mtime=0))
        garbled[len(garbled) // 2:len(garbled) // 2 + 64] = b"\xff" * 64
    code, _, err, path = _run(tmp_path, bytes(garbled), capsys, name="ticks.csv.gz")
    assert code == 1  # garbage in deflate data: an error, or a stream that ends early
    assert re.match(rf"error: {re.escape(str(path))}: (corrupt gzip: .*|truncated gzip: the "
                    r"compressed data ends early) \((after line \d+|in the header)\)$",
                    _one_error_line(err))
    code, _, err, path = _run(tmp_path, _file(size, *GOOD_TAIL), capsys, name="plain.gz")
    assert code == 1
    assert _one_error_line(err) == (f"error: {path}: corrupt gzip: Not a gzipped file "
                                    "(b'ti') (in the header)")


@pytest.mark.parametrize("size", SIZES)
def test_gzip_is_known_by_its_magic_bytes_too(tmp_path, capsys, size) -> None:
    code, out, err, _ = _run(tmp_path, _gzip(_file(size, *GOOD_TAIL), size), capsys,
                             "--json", name="ticks.csv")
    assert code == 0, err
    assert json.loads(out)["summary"]["rows"]["accepted"] == _prefix_lines(size) - 1 + 2


def test_a_directory_or_a_missing_file_is_an_error(tmp_path, capsys) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    for target, why in ((tmp_path, "is a directory, not a tick file"),
                        (Path("/dev/null"), "not a regular file")):
        code = backtest_command(target, tmp_path / "config.yaml", ROOT / "schedules.yaml",
                                as_json=False, chart_dir=None)
        assert code == 1
        assert _one_error_line(capsys.readouterr().err) == f"error: {target}: {why}"


@pytest.mark.parametrize("size", SIZES)
def test_empty_header_only_and_binary_files(tmp_path, capsys, size) -> None:
    code, out, err, _ = _run(tmp_path, HEADER, capsys, "--json")
    assert code == 0 and json.loads(out)["summary"]["rows"]["read"] == 0
    code, _, err, path = _run(tmp_path, b"", capsys)
    assert code == 1 and "empty file" in _one_error_line(err)
    code, _, err, path = _run(tmp_path, b"\n" + HEADER, capsys)
    assert code == 1 and "the first line is blank" in _one_error_line(err)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * (20_000 if size == "4MB" else 1)
    code, _, err, path = _run(tmp_path, png, capsys)
    assert code == 1 and _one_error_line(err).startswith(f"error: {path}: ")
    code, _, err, path = _run(tmp_path, b"x" * 200_000 + b"\n" + _prefix(size), capsys)
    assert code == 1
    assert _one_error_line(err) == (f"error: {path}: the header line is longer than 128 KiB "
                                    "(not a tick file?)")


@pytest.mark.parametrize("size", SIZES)
def test_a_bad_chart_directory_is_an_error_before_the_run(tmp_path, capsys, size) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    for chart, why in ((afile, "is a file, not a directory"),
                       (afile / "sub" / "charts", f"{afile} is a file, not a directory")):
        code, out, err, _ = _run(tmp_path, _file(size, *GOOD_TAIL), capsys, "--chart",
                                 str(chart))
        assert code == 1 and out == ""
        assert _one_error_line(err) == f"error: --chart {chart}: {why}"
