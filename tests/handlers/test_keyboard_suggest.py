"""``telegram.keyboard`` checked against the bot's commands (config load, check-config and
run alike), and the "did you mean" map for commands traders bring from other bots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.calendar import load_schedule
from agent.config import ConfigError, load_settings_from_dict
from agent.settings import DEFAULT_KEYBOARD
from handlers.args import COMMANDS
from handlers.suggest import FOREIGN, suggestion, unknown_reply

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = load_schedule(ROOT / "schedules.yaml")
INFY = {"symbol": "NSE:INFY", "token": 408065, "tick_size": 0.05, "lot_size": 1}


def _load(keyboard: Any) -> Any:
    raw = {"instruments": [INFY], "telegram": {"keyboard": keyboard}}
    return load_settings_from_dict(raw, SCHEDULE, {}).telegram.keyboard


def _problems(keyboard: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(keyboard)
    return caught.value.problems


def test_a_keyboard_of_known_commands_loads_as_rows() -> None:
    assert _load([["/status", " /pnl "], ["/orders 5"], ["/SQUAREOFF"]]) == (
        ("/status", "/pnl"), ("/orders 5",), ("/SQUAREOFF",))
    assert _load([]) == ()  # no keyboard
    raw = {"instruments": [INFY]}
    assert load_settings_from_dict(raw, SCHEDULE, {}).telegram.keyboard == DEFAULT_KEYBOARD


def test_the_default_keyboard_is_the_everyday_commands() -> None:
    words = [button.lstrip("/") for row in DEFAULT_KEYBOARD for button in row]
    assert sorted(words) == sorted(w for w, info in COMMANDS.items() if info.everyday)
    assert all(len("  ".join(row)) <= 40 for row in DEFAULT_KEYBOARD)  # a phone's width


@pytest.mark.parametrize(("keyboard", "expected"), [
    ([["/status", "/pl"]],
     ["telegram.keyboard[0][1]: /pl is not a command of this bot (did you mean /pnl "
      "(today's P&L)?)"]),
    ([["/status"], ["/staus", "/frobnicate"]],
     ["telegram.keyboard[1][0]: /staus is not a command of this bot (did you mean /status?)",
      "telegram.keyboard[1][1]: /frobnicate is not a command of this bot"]),
    ([["status"]],
     ['telegram.keyboard[0][0]: expected a command such as "/status" (up to 64 characters), '
      "got 'status'"]),
    ([["/status", 5, None]],
     ['telegram.keyboard[0][1]: expected a command such as "/status" (up to 64 characters), '
      "got 5",
      'telegram.keyboard[0][2]: expected a command such as "/status" (up to 64 characters), '
      "got nothing"]),
    ([["/orders " + "9" * 60]],
     ['telegram.keyboard[0][0]: expected a command such as "/status" (up to 64 characters), '
      f"got '/orders {'9' * 29}...'"]),
    ([[], "/status", ["/a"] * 7],
     ["telegram.keyboard[0]: expected a list of 1..6 commands, got 0",
      "telegram.keyboard[1]: expected a list of 1..6 commands, got '/status'",
      "telegram.keyboard[2]: expected a list of 1..6 commands, got 7"]),
    ("/status",
     ['telegram.keyboard: expected a list of up to 12 rows, each a list of commands such as '
      '[["/status", "/pnl"], ["/pause", "/resume"]] ([] for no keyboard), got \'/status\'']),
    ([["/help"]] * 13,
     ['telegram.keyboard: expected a list of up to 12 rows, each a list of commands such as '
      '[["/status", "/pnl"], ["/pause", "/resume"]] ([] for no keyboard), got a list']),
])
def test_a_bad_keyboard_is_named_by_its_key_path_and_command(keyboard: Any,
                                                             expected: list[str]) -> None:
    assert _problems(keyboard) == expected


def test_check_config_and_run_refuse_a_keyboard_with_an_unknown_command(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text('telegram:\n  keyboard: [["/status", "/balance"], ["/forceexit"]]\n'
                   "instruments: ['NSE:INFY']\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "TELEGRAM_"))}
    for command, extra in (("check-config", ["--offline"]), ("run", [])):
        done = subprocess.run([sys.executable, "bot.py", command, "--config", str(cfg), *extra],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.splitlines()
        assert lines[0].startswith("telegram.keyboard[0][1]: /balance is not a command of "
                                   "this bot")
        assert lines[1] == ("telegram.keyboard[1][0]: /forceexit is not a command of this bot "
                            "(did you mean /squareoff (close a position)?)")
        assert "Traceback" not in done.stderr


def test_the_foreign_map_points_at_our_commands_and_shadows_none() -> None:
    targets = {target for target, _ in FOREIGN.values()}
    # /funds comes with its own branch of issue 14; every other target is ours already
    assert targets - set(COMMANDS) <= {"funds"}
    assert not set(FOREIGN) & set(COMMANDS)  # a command of ours is never "foreign"
    assert all(len(f"did you mean /{t} ({n})?") <= 80
               for w, (t, n) in FOREIGN.items())  # two lines on a phone at most


@pytest.mark.parametrize(("word", "hint"), [
    ("profit_long", "/profit (results across days)"), ("PL", "/pnl (today's P&L)"),
    ("history", "/daily (net P&L per day)"), ("dialy", "/daily"),
    ("forceexit", "/squareoff (close a position)"), ("forcesell", "/squareoff (close a "
                                                                  "position)"),
    ("stopbuy", "/pause (no new entries)"), ("tradebook", "/trades (today's trades)"),
    ("count", "/positions (open positions)"), ("reload_config", "/set (change a setting now)"),
    ("staus", "/status"), ("postions", "/positions"), ("sqaureoff", "/squareoff"),
    ("xyzzy", None), ("forcelong", None),  # no manual entries here: nothing to suggest
])
def test_suggestions(word: str, hint: str | None) -> None:
    assert suggestion(word) == hint


def test_unknown_replies_are_short_and_escaped() -> None:
    assert unknown_reply("pl") == ("/pl is not a command here;\ndid you mean /pnl "
                                   "(today's P&amp;L)?")
    assert unknown_reply("<b>") == "/&lt;b&gt;: unknown command.\n/help lists them."
    long = unknown_reply("x" * 500)
    assert long == f"/{'x' * 40}: unknown command.\n/help lists them."
