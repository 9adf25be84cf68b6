"""Choosing a strategy in the config: built-in names and trader files load, and every way a
strategy or its parameters can be wrong is one clear line naming the key path (issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import load_settings_from_dict
from agent.config_values import ConfigError
from agent.settings import ScheduleConfig
from agent.strategy import registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "strategies" / "ema_cross.py"

GOOD = """
from dataclasses import dataclass
from agent.strategy.kit import CandleStrategy
from agent.strategy.params import Param

@dataclass
class S:
    n: int = 0

class Mine(CandleStrategy):
    name = "mine"
    params = {"depth": Param.whole(1, 9, 3, "how deep")}
    State = S
"""


def _load(raw: dict, base: Path | None = None):
    return load_settings_from_dict(raw, ScheduleConfig(), env={}, base_dir=base)


def _problems(raw: dict, base: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(raw, base)
    return info.value.problems


def test_a_trader_file_loads_relative_to_the_config_with_its_declared_defaults(tmp_path) -> None:
    (tmp_path / "mine.py").write_text(GOOD)
    s = _load({"defaults": {"strategy": "mine.py:Mine"},
               "instruments": ["NSE:INFY", {"symbol": "NSE:SBIN", "depth": 7}]}, tmp_path)
    assert s.defaults.params.strategy == f"{tmp_path / 'mine.py'}:Mine"
    assert s.instruments[1].overrides == {"depth": 7}
    from decimal import Decimal

    from agent.backtest import make_engine
    from agent.models import Instrument

    engine = make_engine(s, [Instrument(1, "NSE", "INFY", Decimal("0.05")),
                             Instrument(2, "NSE", "SBIN", Decimal("0.05"))])
    assert engine.runtimes[1].params.value("depth") == 3  # the declared default
    assert engine.runtimes[2].params.value("depth") == 7
    assert type(engine.runtimes[1].strategy).__name__ == "Mine"


@pytest.mark.parametrize(("source", "ref", "expected"), [
    (None, "nope", "defaults.strategy: 'nope': expected a built-in strategy (alert_breakout"),
    (None, "gone.py:Mine", "defaults.strategy: "),
    ("x = 1\nclass Mine(:\n", "mine.py:Mine", "mine.py: line 2: syntax error"),
    ("import not_a_module_here\n", "mine.py:Mine",
     "mine.py: line 1: ModuleNotFoundError: No module named 'not_a_module_here'"),
    (GOOD, "mine.py:Other", "mine.py: no class Other"),
    ("class Mine:\n    name = 'x'\n", "mine.py:Mine", "is not a strategy: missing new_state"),
    (GOOD.replace("Param.whole(1, 9, 3,", "Param.whole(1, 9, 30,"), "mine.py:Mine",
     "default 30: expected a whole number 1..9, got 30"),
    (GOOD.replace('"depth"', '"lots"'), "mine.py:Mine", "'lots' is the engine's own key"),
    (GOOD.replace("n: int = 0", "n: set = None"), "mine.py:Mine",
     "State.n: <class 'set'> cannot be saved"),
    (GOOD.replace('name = "mine"', ""), "mine.py:Mine", "needs a name"),
])
def test_a_strategy_that_cannot_load_is_one_line_naming_the_key(tmp_path, source, ref,
                                                                 expected) -> None:
    if source is not None:
        (tmp_path / "mine.py").write_text(source)
    problems = _problems({"defaults": {"strategy": ref}, "instruments": ["NSE:INFY"]},
                         tmp_path)
    assert len(problems) == 1 and problems[0].startswith("defaults.strategy: ")
    assert expected in problems[0]
    assert "\n" not in problems[0] and "Traceback" not in problems[0]


def test_declared_parameters_are_checked_with_the_key_path(tmp_path) -> None:
    (tmp_path / "mine.py").write_text(GOOD)
    problems = _problems({"defaults": {"strategy": "mine.py:Mine", "depth": 0},
                          "instruments": [{"symbol": "NSE:INFY", "depth": "deep"},
                                          {"symbol": "NSE:SBIN", "strategy": "alert_breakout",
                                           "depth": 2, "percentage": 0.3}]}, tmp_path)
    assert problems == [
        "defaults.depth: expected a whole number 1..9, got 0",
        "instruments[0].depth: expected a whole number 1..9, got 'deep'",
        "instruments[1].depth: not a parameter of alert_breakout (it is mine's); "
        "alert_breakout's own: percentage, trailing, reverse_on_stop, target_multiple",
    ]


def test_an_unknown_key_is_still_unknown() -> None:
    assert _problems({"defaults": {"depthh": 1}, "instruments": ["NSE:INFY"]}) == [
        "defaults.depthh: unknown key"]


def test_a_file_is_imported_once_per_modification(tmp_path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(GOOD)
    first = registry.load(f"{path}:Mine")
    assert registry.load(f"{path}:Mine") is first
    path.write_text(GOOD.replace('"mine"', '"mine2"'))
    import os

    os.utime(path, ns=(1, path.stat().st_mtime_ns + 1_000_000))
    assert registry.load(f"{path}:Mine").name == "mine2"


def test_check_config_refuses_a_strategy_that_cannot_load(tmp_path) -> None:
    (tmp_path / "config.yaml").write_text(
        'defaults: {strategy: "missing.py:Nope"}\ninstruments: ["NSE:INFY"]\n')
    proc = subprocess.run([sys.executable, str(ROOT / "bot.py"), "check-config", "--config",
                           str(tmp_path / "config.yaml"), "--schedules",
                           str(ROOT / "schedules.yaml")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "defaults.strategy: " in proc.stdout + proc.stderr
    assert "missing.py: cannot read" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_the_example_strategy_loads_by_path_from_the_repository() -> None:
    cls = registry.load(f"{EXAMPLE}:EmaCross")
    assert cls.name == "ema_cross"
    assert set(cls.params) == {"fast", "slow", "stop_pct", "reward_risk", "trail"}


def test_the_guide_s_example_class_loads_and_trades(tmp_path) -> None:
    """docs/strategies.md's first code block is a working strategy."""
    text = (ROOT / "docs" / "strategies.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "guide.py").write_text(code)
    cls = registry.load(f"{tmp_path / 'guide.py'}:Breakout")
    assert cls.name == "breakout" and set(cls.params) == {"lookback", "stop_pct"}
    from datetime import datetime, timedelta
    from decimal import Decimal

    from agent.backtest import make_engine
    from agent.models import Instrument, Tick
    from agent.timeutil import IST

    s = _load({"defaults": {"strategy": "guide.py:Breakout", "interval": 1, "lookback": 3},
               "instruments": [{"symbol": "NSE:AAA", "token": 1, "tick_size": 0.05,
                                "lot_size": 1}]}, tmp_path)
    engine = make_engine(s, [Instrument(1, "NSE", "AAA", Decimal("0.05"))])
    t0 = datetime(2024, 1, 15, 9, 15, tzinfo=IST)
    for i, p in enumerate(["100", "101", "100.5", "100.8", "102", "102.5"]):
        engine.on_tick(Tick(1, Decimal(p), t0 + timedelta(minutes=i)))
    pos = engine.runtimes[1].strategy.position(engine.runtimes[1].state)
    assert pos is not None and pos.stop == Decimal("100.95")  # down(102 x 0.99 = 100.98)


def test_an_instrument_whose_strategy_cannot_load_gets_one_problem_not_a_crash() -> None:
    problems = _problems({"instruments": [{"symbol": "NSE:INFY", "strategy": "gone.py:X",
                                           "percentage": 0.3}]})
    assert len(problems) == 1
    assert problems[0].startswith("instruments[0].strategy: gone.py: cannot read")


@pytest.mark.parametrize(("annotation", "ok"), [
    ("list[Decimal]", True), ("dict[str, list[int]]", True), ("Decimal | None", True),
    ("datetime | None", True), ("list", True), ("tuple[int, ...]", False),
    ("set[int]", False), ("dict[int, int]", False), ("deque", False),
])
def test_state_annotations_are_ones_that_come_back_as_they_were(tmp_path, annotation,
                                                                ok) -> None:
    source = GOOD.replace("from dataclasses import dataclass\n",
                          "from collections import deque\nfrom dataclasses import dataclass\n"
                          "from datetime import datetime\nfrom decimal import Decimal\n")
    (tmp_path / "mine.py").write_text(source.replace("n: int = 0", f"n: {annotation} = None"))
    if ok:
        registry.load(f"{tmp_path / 'mine.py'}:Mine")
    else:
        with pytest.raises(registry.StrategyLoadError, match=r"State\.n: .* cannot be saved"):
            registry.load(f"{tmp_path / 'mine.py'}:Mine")
