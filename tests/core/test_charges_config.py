"""``defaults.charges`` and ``risk.limits_on`` in config.yaml (issue 15): the example shows
the built-in tables, a trader's tables replace them and apply from their dates, and every
wrong rate or date is named by its key path."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.charge_book import ChargeBook
from agent.charges import DEFAULT_TABLES, Leg, Segment, TaxSide
from agent.config import ConfigError, load_settings, load_settings_from_dict
from agent.models import Instrument, Side
from agent.settings import LimitsOn, ScheduleConfig
from agent.timeutil import IST
from tests.helpers import d

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
SCHEDULES = ROOT / "schedules.yaml"


def _example_tables() -> list[dict[str, Any]]:
    return yaml.safe_load(EXAMPLE.read_text())["defaults"]["charges"]


def _load(tables: Any, **risk: Any) -> Any:
    raw = {"defaults": {"charges": tables}, "instruments": ["NSE:INFY"]}
    if risk:
        raw["risk"] = risk
    return load_settings_from_dict(raw, ScheduleConfig(), {})


def _problems(tables: Any, **risk: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tables, **risk)
    return caught.value.problems


def test_the_example_shows_the_built_in_tables_and_gross_limits() -> None:
    settings = load_settings(EXAMPLE, SCHEDULES, env={})
    assert settings.defaults.charges == DEFAULT_TABLES
    assert settings.risk.limits_on is LimitsOn.GROSS
    bare = load_settings_from_dict({"instruments": ["NSE:INFY"]}, ScheduleConfig(), {})
    assert bare.defaults.charges == DEFAULT_TABLES  # the defaults without a charges key


def test_a_traders_tables_replace_the_built_in_ones_and_apply_from_their_dates() -> None:
    old = copy.deepcopy(_example_tables()[0])
    new = copy.deepcopy(old)
    new["effective_from"] = "2026-07-01"
    new["equity_intraday"]["brokerage"] = 10  # a cheaper broker from July
    new["equity_intraday"]["stt_side"] = "both"
    settings = _load([new, old], limits_on="net")  # any order: sorted by date
    tables = settings.defaults.charges
    assert [t.effective_from.isoformat() for t in tables] == ["2024-10-01", "2026-07-01"]
    assert tables[1].segments[Segment.EQUITY_INTRADAY].stt_side is TaxSide.BOTH
    assert settings.risk.limits_on is LimitsOn.NET
    book = ChargeBook(tables)
    ins = Instrument(1, "NSE", "INFY", d("0.05"), 1)
    book.register(ins)
    legs = [Leg("a", Side.BUY, 100, d(150000)), Leg("b", Side.SELL, 100, d(151000))]
    june = datetime(2026, 6, 30, 10, 0, tzinfo=IST)
    july = datetime(2026, 7, 1, 10, 0, tzinfo=IST)
    before = book.breakdown(1, legs, june, june)
    after = book.breakdown(1, legs, july, july)
    assert before is not None and after is not None
    assert (before.brokerage, after.brokerage) == (d(40), d(20))
    assert (before.stt, after.stt) == (d(38), d(75))  # 0.025 % of both sides: 75.25 -> 75


def test_brokerage_pct_null_is_flat_and_a_missing_source_is_fine() -> None:
    table = copy.deepcopy(_example_tables()[1])
    del table["source"]
    table["futures"]["brokerage_pct"] = None
    (loaded,) = _load([table]).defaults.charges
    assert loaded.segments[Segment.FUTURES].brokerage_pct is None
    assert loaded.segments[Segment.FUTURES].order_brokerage(d(1000)) == d(20)
    assert loaded.source == ""


@pytest.mark.parametrize(("change", "problem"), [
    (lambda t: t["futures"].update(stt_pct="x"),
     "defaults.charges[0].futures.stt_pct: expected a number 0..1, got 'x'"),
    (lambda t: t["options"].update(stamp_pct=-0.003),
     "defaults.charges[0].options.stamp_pct: expected a number 0..1, got -0.003"),
    (lambda t: t["equity_intraday"].update(brokerage=".inf"),
     "defaults.charges[0].equity_intraday.brokerage: expected a number 0..1000, got '.inf'"),
    (lambda t: t["equity_intraday"].update(brokerage_pct=7),
     "defaults.charges[0].equity_intraday.brokerage_pct: expected a number 0..5, got 7 (or "
     "null: flat brokerage)"),
    (lambda t: t["equity_intraday"]["exchange_pct"].update(NSE=2),
     "defaults.charges[0].equity_intraday.exchange_pct.NSE: expected a number 0..1, got 2"),
    (lambda t: t["equity_intraday"]["exchange_pct"].pop("BSE"),
     "defaults.charges[0].equity_intraday.exchange_pct.BSE: required"),
    (lambda t: t["equity_intraday"]["exchange_pct"].update(NYSE=0.1),
     "defaults.charges[0].equity_intraday.exchange_pct.NYSE: unknown key (did you mean "
     "'NSE'?)"),
    (lambda t: t["options"].update(stt_side="entry"),
     "defaults.charges[0].options.stt_side: expected one of sell, buy, both, got 'entry'"),
    (lambda t: t.update(gst_pct=80),
     "defaults.charges[0].gst_pct: expected a number 0..50, got 80"),
    (lambda t: t.update(effective_from="2026-02-30"),
     "defaults.charges[0].effective_from: expected a date YYYY-MM-DD (2000-01-01.."
     "2100-12-31), got '2026-02-30'"),
    (lambda t: t.pop("options"), "defaults.charges[0].options: required"),
    (lambda t: t.update(equity_futures={}),
     "defaults.charges[0].equity_futures: unknown key (did you mean 'futures'?)"),
])
def test_a_wrong_rate_or_date_is_named_by_its_path(change: Any, problem: str) -> None:
    table = copy.deepcopy(_example_tables()[1])
    change(table)
    assert _problems([table]) == [problem]


def test_every_problem_at_once_and_no_table_at_all_is_wrong() -> None:
    table = copy.deepcopy(_example_tables()[1])
    twin = copy.deepcopy(table)
    twin["sebi_per_crore"] = -10
    assert _problems([table, twin, table]) == [
        "defaults.charges[1].sebi_per_crore: expected a number 0..10000, got -10",
        "defaults.charges[2].effective_from: 2026-04-01 is already defaults.charges[0]'s"]
    (empty,) = _problems([])
    assert empty.startswith("defaults.charges: expected a list of at least one table")
    assert _problems([table], limits_on="after") == [
        "risk.limits_on: expected one of gross, net, got 'after'"]
