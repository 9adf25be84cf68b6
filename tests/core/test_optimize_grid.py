"""``bot.py optimize --grid``: ranges and lists, exact decimals, the config loader's checks."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.optimize.grid import (
    ConfigBase,
    GridError,
    check_combinations,
    combinations,
    parse_axis,
    parse_grid,
    yaml_value,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
defaults: {interval: 5, percentage: 0.5, trade_side: both, lots: 1}
instruments:
  - {symbol: "NSE:AAA", token: 1, tick_size: 0.05, lot_size: 1}
  - {symbol: "NSE:BBB", token: 2, tick_size: 0.05, lot_size: 1, percentage: 0.9}
"""


def test_a_range_is_inclusive_in_exact_decimal_steps() -> None:
    axis = parse_axis("percentage=0.3:0.8:0.1")
    assert axis.values == ("0.3", "0.4", "0.5", "0.6", "0.7", "0.8")
    # float steps would drift (0.1 * 3 = 0.30000000000000004) and could drop the end
    assert parse_axis("percentage=0.1:0.7:0.2").values == ("0.1", "0.3", "0.5", "0.7")
    assert parse_axis("interval=3:15:6").values == ("3", "9", "15")
    assert parse_axis("lots=1:4:2").values == ("1", "3")  # the end is not on a step
    assert (axis.low, axis.high, axis.step) == (Decimal("0.3"), Decimal("0.8"),
                                                Decimal("0.1"))
    assert parse_axis("percentage=0.5:0.5:0.1").values == ("0.5",)


def test_a_list_keeps_its_order_and_texts() -> None:
    axis = parse_axis("interval = 15, 3,5")
    assert (axis.key, axis.values, axis.is_range) == ("interval", ("15", "3", "5"), False)


@pytest.mark.parametrize(("arg", "message"), [
    ("percentage", "--grid percentage: expected KEY=a:b:step or KEY=v1,v2,..."),
    ("=1,2", "expected KEY=a:b:step"),
    ("percentage=", "--grid percentage=: no values"),
    ("percentage=0.3:0.1:0.1", "the end 0.1 is below the start 0.3"),
    ("percentage=0.3:0.8:0", "the step must be above 0"),
    ("percentage=0.3:0.8:-0.1", "the step must be above 0"),
    ("percentage=0.3:0.8", "a range is a:b:step (three numbers)"),
    ("percentage=x:0.8:0.1", "the start 'x' is not a number"),
    ("percentage=0.3:1e2:0.1", "the end '1e2' is not a number"),
    ("percentage=0.3,,0.5", "an empty value in the list"),
    ("percentage=0.3,0.3", "a value is given twice"),
    ("Percentage=0.3", "'Percentage' is not a config key of defaults"),
    ("percentage=0:100000:0.001", "values (at most 10,000)"),
])
def test_bad_arguments_are_one_line_naming_the_argument(arg: str, message: str) -> None:
    with pytest.raises(GridError) as caught:
        parse_axis(arg)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_grid_is_the_product_first_key_slowest() -> None:
    axes = parse_grid(["percentage=0.3,0.4", "interval=3,5,15"])
    combos = combinations(axes)
    assert len(combos) == 6
    assert combos[0] == (("percentage", "0.3"), ("interval", "3"))
    assert combos[1] == (("percentage", "0.3"), ("interval", "5"))
    assert combos[-1] == (("percentage", "0.4"), ("interval", "15"))
    with pytest.raises(GridError, match="--grid interval: given twice"):
        parse_grid(["interval=3", "interval=5"])
    with pytest.raises(GridError, match="combinations"):
        parse_grid(["percentage=0:9.9:0.1", "lots=1:200:1"])  # 100 x 200


def test_values_are_read_by_the_config_files_yaml_rules() -> None:
    assert yaml_value("0.4") == Decimal("0.4") and isinstance(yaml_value("0.4"), Decimal)
    assert yaml_value("5") == 5 and isinstance(yaml_value("5"), int)
    assert yaml_value("true") is True
    assert yaml_value("BUY") == "BUY"
    assert yaml_value("1e5") == "1e5"  # refused by the number rule, as in the file


def _base(tmp_path: Path, config: str = CONFIG) -> ConfigBase:
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    return ConfigBase.load(tmp_path / "config.yaml", ROOT / "schedules.yaml")


def test_a_value_overrides_defaults_but_not_an_instruments_own(tmp_path) -> None:
    base = _base(tmp_path)
    settings = base.settings((("percentage", "0.7"), ("interval", "15"),
                              ("trade_side", "buy")))
    assert settings.defaults.params.percentage == Decimal("0.7")
    assert settings.defaults.params.interval == 15
    assert settings.defaults.params.trade_side.value == "BUY"
    aaa, bbb = settings.instruments
    params = settings.defaults.params
    assert params.with_overrides(aaa.overrides).percentage == Decimal("0.7")
    assert params.with_overrides(bbb.overrides).percentage == Decimal("0.9")
    assert base.settings(()).defaults.params.percentage == Decimal("0.5")  # not mutated


def test_every_value_is_checked_by_the_loader_before_any_run(tmp_path) -> None:
    base = _base(tmp_path)
    check_combinations(base, parse_grid(["percentage=0.3:0.8:0.1", "interval=3,5,15"]))
    cases = {
        "percentage=99.9:100.1:0.1":
            "--grid percentage=100.1: defaults.percentage: expected a number 0..100, got 100.1",
        "interval=3,4": "--grid interval=4: defaults.interval: expected one of 1, 2, 3, 5, "
                        "10, 15, 30, 60, got 4",
        "percentag=0.3": "--grid percentag=0.3: defaults.percentag: unknown key",
        "trailing=maybe": "--grid trailing=maybe: defaults.trailing:",
    }
    for arg, message in cases.items():
        with pytest.raises(GridError) as caught:
            check_combinations(base, parse_grid([arg]))
        assert message in str(caught.value), str(caught.value)
