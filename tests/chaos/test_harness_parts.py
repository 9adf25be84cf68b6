"""The crash test's own parts, without processes: the log events it kills after, the log
tail across restarts and rotation, the seeded plan, the bound of (c)."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from tests.chaos.logwatch import KILL_EVENTS, LogTail, events_in
from tests.chaos.plan import ChaosPlan, make_schedule
from tests.chaos.verdict import unprotected_bound

# the agent's lines (agent/execution.py, agent/stops.py, agent/adapters/kite_actions.py,
# agent/scheduler.py), and the wordings of the order lifecycle's redesign
LINES = {
    "NSE:CDSL signal entry BUY 1 @ market (last 1354.50), stop 1378.70 [E26120700003]":
        ["entry_decided"],
    "NSE:CDSL reverse entry SELL 20 @ market (last 60.25), stop 61.80 [E26121400013]":
        ["entry_decided"],
    "kite broker: E26120700001 placed BUY 1 NSE:BANKBEES MARKET -> 2129869150271594496":
        ["entry_placed"],
    "kite broker: E26121400007 found at Kite as 2132403680899522560 before its placement's "
    "answer": ["entry_placed"],
    "NSE:BANKBEES exchange stop SELL 1 trigger 964.99 limit 964.89 [S26120700004]":
        ["stop_decided"],
    "kite broker: S26120700004 placed SELL 1 NSE:BANKBEES SL -> 2129869153945804800":
        ["stop_placed"],
    "kite broker: S26120700004 modified 2129869153945804800 (1): price 1003.59 trigger "
    "1003.69": ["stop_modified"],
    "kite broker: S26120700004 cancel of 2129869153945804800 sent": ["stop_cancelled"],
    "NSE:CDSL exit SELL 1 @ market (stop) [X26120700008]": ["exit_decided"],
    "kite broker: X26120700008 placed SELL 1 NSE:CDSL MARKET -> 2129869600421076992":
        ["exit_placed"],
    "agent.scheduler: job square_off (2026-12-07 15:15)": ["square_off"],
    "agent.commands: command RunJob: square-off: closing 2 position(s)": ["square_off"],
    "handlers.runtime: agent running: mode live, feed kite, 8 instruments": ["agent_running"],
    "kite broker: E26120700001 BUY 1 NSE:BANKBEES MARKET queued (1 order)": [],
    "NSE:BANKBEES stop moved 964.99 -> 1003.69": [],
    "NSE:CDSL fill SELL 1 @ 1354.45 (signal) [E26120700003]": [],
    "NSE:ADANIPORTS waiting reverse entry BUY dropped (exit target); trades today 13": [],
    "NSE:CDSL exchange stop did not fill within 3.0s (price past its limit?): cancelling it "
    "and exiting at market [S26120700030]": [],
}


@pytest.mark.parametrize("line", LINES)
def test_each_event_is_known_by_its_log_line_and_nothing_else_is(line: str) -> None:
    assert events_in(f"2026-12-05 15:33:32,440 INFO    agent.orders: {line}") == LINES[line]


def test_every_kill_event_has_a_line() -> None:
    seen = {name for names in LINES.values() for name in names}
    assert set(KILL_EVENTS) <= seen


def test_the_tail_reads_whole_lines_across_appends_and_a_rotation(tmp_path) -> None:
    log = tmp_path / "agent.log"
    tail = LogTail(log)
    assert tail.lines() == []  # no file yet
    log.write_bytes(b"job square_off (x)\nhalf a li")
    assert tail.lines() == ["job square_off (x)"]
    with log.open("ab") as f:
        f.write("ne \u20b9\n".encode())
    assert tail.lines() == ["half a line \u20b9"]
    assert tail.lines() == []
    log.rename(tmp_path / "agent.log.1")  # rotated: a new file from its start
    log.write_bytes(b"agent running: mode live\n")
    assert tail.lines() == ["agent running: mode live"]
    assert tail.counts == {"square_off": 1, "agent_running": 1}


def test_a_seed_replays_the_same_plan_and_the_kills_leave_time_to_restart() -> None:
    plan = ChaosPlan(seed=5, kills=12)
    one, two = make_schedule(plan), make_schedule(plan)
    assert one == two
    assert make_schedule(ChaosPlan(seed=6, kills=12)) != one
    assert len(one.kills) == 12 and len(one.faults) == 12
    assert sum(k.event == "square_off" for k in one.kills) <= 1
    last = datetime.combine(one.day, time(15, 26))
    for kill in one.kills:
        assert one.start < kill.at <= kill.deadline <= last
        assert 0 <= kill.down <= plan.max_down
    assert [k.at for k in one.kills] == sorted(k.at for k in one.kills)
    assert len({i for i, _ in one.instruments}) == plan.instruments


def test_chosen_kill_kinds_are_kept_in_number_and_kind() -> None:
    s = make_schedule(ChaosPlan(seed=11, start=time(14, 40),
                                kill_kinds=("entry_placed", "time", "square_off"), faults=3))
    assert sorted(str(k.event) for k in s.kills) == ["None", "entry_placed", "square_off"]
    assert len(s.faults) == 3
    entry = next(k for k in s.kills if k.event == "entry_placed")
    assert entry.at.time() <= time(14, 58) and entry.deadline.time() <= time(15, 0)


def test_kills_can_be_kept_inside_the_entry_window() -> None:
    s = make_schedule(ChaosPlan(seed=11, start=time(14, 40), kill_until=time(14, 58),
                                kill_kinds=("entry_placed", "time", "square_off")))
    timed = next(k for k in s.kills if k.event is None)
    assert time(14, 42) <= timed.at.time() <= time(14, 58)
    square_off = next(k for k in s.kills if k.event == "square_off")
    assert square_off.at.time() == time(15, 10)


def test_the_unprotected_bound_is_per_order_on_its_way_plus_the_time_dead() -> None:
    # 10 orders at 60x: 1 s stamps + 1.5 s interim statuses + 0.05 s x 60 = 5.5 s each
    assert unprotected_bound(10, 60.0, 100.0) == pytest.approx(155.0)
    assert unprotected_bound(0, 60.0, 0.0) == 0.0
