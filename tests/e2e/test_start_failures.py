"""Issue 13, the composition root: a start that fails at any point gives back everything it
took (no storage-writer, engine or broker thread left, the data directory's lock released,
nothing saved over the files); a state that cannot be saved at the end is reported by
name; one bad candle file or record does not stop the day report."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.calendar import load_schedule
from agent.events import AlertKind, Notification, SetParam
from agent.settings import Mode, Settings
from agent.sim import SimExchange
from bot import DEFAULT_SCHEDULES
from handlers.run_cli import demo_settings
from handlers.runtime import AgentProcess, RuntimeOptions
from storage.lock import DataDirLock
from storage.state import StateFileCorrupt, StateStore

DAY = date(2026, 11, 23)  # a Monday
AGENT_THREADS = ("storage-writer", "engine", "kite-broker", "sim-jobs")


@pytest.fixture(scope="module")
def sim():
    exchange = SimExchange(start=DAY, speed=60).start()
    yield exchange
    exchange.stop()


def _settings(data_dir: Path, mode: Mode = Mode.PAPER) -> Settings:
    return dataclasses.replace(demo_settings(load_schedule(DEFAULT_SCHEDULES), data_dir),
                               mode=mode)


def _process(settings: Settings, sim: SimExchange) -> AgentProcess:
    return AgentProcess(settings, sim=sim, options=RuntimeOptions(stdin=io.StringIO(),
                                                                  stdout=io.StringIO()))


def _ours(before: set[threading.Thread]) -> list[str]:
    """The agent's threads started since ``before`` that are still alive."""
    return [t.name for t in threading.enumerate()
            if t not in before and t.is_alive() and t.name.startswith(AGENT_THREADS)]


def _lock_is_free(data_dir: Path) -> bool:
    with DataDirLock(data_dir):
        return True


def test_a_bad_state_file_stops_the_start_and_gives_everything_back(sim, tmp_path) -> None:
    StateStore(tmp_path / "state.json").save({"meta": {"version": 1, "seq": "abc"}})
    before = set(threading.enumerate())
    original = (tmp_path / "state.json").read_bytes()
    proc = _process(_settings(tmp_path), sim)
    with pytest.raises(StateFileCorrupt, match=r"state\.json: meta\.seq: expected a whole"):
        proc.open()
    assert _ours(before) == []
    assert _lock_is_free(tmp_path)
    assert (tmp_path / "state.json").read_bytes() == original  # nothing saved over it
    proc.close()  # a second close is harmless


def test_a_failure_after_the_broker_started_stops_the_broker_too(sim, tmp_path,
                                                                 monkeypatch) -> None:
    """Live mode: the broker's worker is running by the time the chat is built; any
    exception from there on (here a made-up one) still takes it down with the writer."""
    def broken_chat(self: AgentProcess) -> Any:
        assert self.broker is not None and self.broker._thread.is_alive()
        raise RuntimeError("the chat could not be built")

    monkeypatch.setattr(AgentProcess, "_chat", broken_chat)
    before = set(threading.enumerate())
    proc = _process(_settings(tmp_path, Mode.LIVE), sim)
    with pytest.raises(RuntimeError, match="the chat could not be built"):
        proc.open()
    assert _ours(before) == []
    assert _lock_is_free(tmp_path)
    assert not (tmp_path / "state.json").exists()  # a failed start saves nothing


def test_a_state_that_cannot_be_saved_at_the_end_is_named(sim, tmp_path, monkeypatch) -> None:
    """A full disk while running: the writer keeps retrying (alerts are its business);
    at the end the process says which file lost its last state and why."""
    proc = _process(_settings(tmp_path), sim)
    proc.open()
    real_replace = os.replace

    def full_disk(src: Any, dst: Any) -> None:
        if str(dst).endswith("state.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    proc.runner.start()
    assert proc.runner.call(SetParam("percentage", Decimal("0.3"))).ok  # a change to save
    proc.close()
    assert proc.close_problem.startswith(f"{tmp_path / 'state.json'}: the last state was not "
                                         "saved"), proc.close_problem
    assert "No space left on device" in proc.close_problem
    assert _lock_is_free(tmp_path)


def test_bad_candle_data_does_not_stop_the_day_report(sim, tmp_path, monkeypatch) -> None:
    proc = _process(_settings(tmp_path), sim)
    proc.open()
    notes: list[Notification] = []
    monkeypatch.setattr(proc, "_notify", notes.append)
    first, second = list(proc.engine.runtimes.values())[:2]
    candles = proc.persistence.candles
    good = candles.path(DAY, first.token, first.params.interval)
    good.parent.mkdir(parents=True)
    record = {"token": first.token, "start": "2026-11-23T09:15:00+05:30",
              "end": "2026-11-23T09:20:00+05:30", "open": "100.5", "high": "101",
              "low": "100", "close": "100.75", "volume": 900, "ticks": 12}
    later = {**record, "start": "2026-11-23T09:20:00+05:30", "end": "2026-11-23T09:25:00+05:30"}
    good.write_text("\n".join([json.dumps(record), json.dumps({"token": first.token}),
                               "{cut sho", json.dumps(later)]) + "\n")
    broken = candles.path(DAY, second.token, second.params.interval)
    broken.mkdir()  # a directory where the candle file should be
    proc.runner.start()
    try:
        out = proc.report(DAY)
    finally:
        proc.close()
    (note,) = [n for n in notes if n.kind is AlertKind.DAY_REPORT]
    # named by what they are, never by the server's path (the log has the files)
    candles_of = f"{first.symbol} {first.params.interval}-minute candles"
    assert f"{candles_of} line 2: start: missing" in note.text
    assert f"{candles_of} line 3: not a JSON object" in note.text
    assert (f"{second.symbol} {second.params.interval}-minute candles: cannot be read: is a "
            "directory") in note.text
    assert str(tmp_path) not in note.text and "jsonl" not in note.text
    assert note.text.endswith("\n1 chart below")  # the good candles' chart, as a photo
    (chart,) = note.data["charts"]
    assert chart.caption == f"{candles_of}, 23 Nov 2026: no trades"
    assert str(tmp_path) not in chart.caption
    symbol = first.symbol.replace(":", "_")
    assert out is not None and (out / f"{DAY}_{symbol}.png").read_bytes() == chart.png


def test_day_report_charts_that_cannot_be_saved_are_still_sent(sim, tmp_path,
                                                               monkeypatch) -> None:
    """A full disk under data/reports: the charts still go out as photos, and the text says
    they were not saved and why, without the server's path."""
    import handlers.runtime as runtime

    proc = _process(_settings(tmp_path), sim)
    proc.open()
    notes: list[Notification] = []
    monkeypatch.setattr(proc, "_notify", notes.append)
    first = next(iter(proc.engine.runtimes.values()))
    candles = proc.persistence.candles
    good = candles.path(DAY, first.token, first.params.interval)
    good.parent.mkdir(parents=True)
    good.write_text(json.dumps({
        "token": first.token, "start": "2026-11-23T09:15:00+05:30",
        "end": "2026-11-23T09:20:00+05:30", "open": "100.5", "high": "101", "low": "100",
        "close": "100.75", "volume": 900, "ticks": 12}) + "\n")

    def full_disk(report: Any, out: Path) -> list[Path]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))

    monkeypatch.setattr(runtime, "write_report", full_disk)
    proc.runner.start()
    try:
        proc.report(DAY)
    finally:
        proc.close()
    (note,) = [n for n in notes if n.kind is AlertKind.DAY_REPORT]
    assert note.text.endswith("\n1 chart below (not saved on the server: the disk is full "
                              "(errno 28))")
    assert str(tmp_path) not in note.text
    (chart,) = note.data["charts"]
    assert chart.png.startswith(b"\x89PNG") and str(tmp_path) not in chart.caption
