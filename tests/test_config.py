"""config.yaml + environment -> Settings: every validation rule, secrets, the example file,
parse_param (Telegram /set) and `bot.py check-config`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.calendar import load_schedule
from agent.config import (
    SETTABLE_KEYS,
    ConfigError,
    check_config_command,
    known_key_paths,
    load_settings,
    load_settings_from_dict,
    parse_param,
)
from agent.instruments import BUNDLED_DUMP, InstrumentIndex, load_dump, resolve_configured
from agent.models import StopMode, TradeSide
from agent.settings import PARAM_KEYS, FeedKind, Mode, ScheduleConfig, StrategyParams

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.yaml"
SCHEDULES = ROOT / "schedules.yaml"
SCHEDULE = load_schedule(SCHEDULES)
INFY = {"symbol": "NSE:INFY", "token": 408065, "tick_size": 0.05, "lot_size": 1}
SECRET = "s3cr3t-api-secret-value"


def config(**extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"instruments": [dict(INFY)]}
    raw.update(extra)
    return raw


def problems_of(raw: Any, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings_from_dict(raw, SCHEDULE, env or {})
    return caught.value.problems


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- good configs


def test_minimal_config_takes_every_default() -> None:
    settings = load_settings_from_dict(config(), SCHEDULE, {})
    assert settings.mode is Mode.PAPER and settings.feed is FeedKind.KITE
    assert settings.defaults.params == StrategyParams()
    assert settings.defaults.stop_mode is StopMode.EXCHANGE
    (infy,) = settings.instruments
    assert infy.inline_instrument() is not None
    assert infy.tick_size == Decimal("0.05") and infy.overrides == {}
    assert settings.schedule is SCHEDULE


def test_numbers_become_exact_decimals_and_overrides_hold_only_given_keys() -> None:
    raw = config(defaults={"percentage": 0.4, "target_multiple": 1.1, "trade_side": "sell"})
    raw["instruments"].append({"symbol": "nse:tcs", "percentage": 0.3, "lots": 2,
                               "trade_side": "Buy", "trailing": False})
    settings = load_settings_from_dict(raw, SCHEDULE, {})
    params = settings.defaults.params
    assert params.percentage == Decimal("0.4") and str(params.percentage) == "0.4"
    assert params.target_multiple == Decimal("1.1")
    assert params.trade_side is TradeSide.SELL
    tcs = settings.instruments[1]
    assert tcs.symbol == "NSE:TCS"
    assert dict(tcs.overrides) == {"percentage": Decimal("0.3"), "lots": 2,
                                   "trade_side": TradeSide.BUY, "trailing": False}
    effective = params.with_overrides(tcs.overrides)
    assert effective.percentage == Decimal("0.3") and effective.interval == 5


def test_bare_string_instrument_is_a_symbol() -> None:
    settings = load_settings_from_dict({"instruments": ["NSE:SBIN"]}, SCHEDULE, {})
    assert settings.instruments[0].symbol == "NSE:SBIN"
    assert settings.instruments[0].inline_instrument() is None


def test_groups_are_built_from_listed_symbols() -> None:
    raw = config(groups={"it": {"instruments": ["nse:infy"], "loss_limit": 100}})
    (group,) = load_settings_from_dict(raw, SCHEDULE, {}).groups
    assert group.name == "it" and group.instruments == ("NSE:INFY",)
    assert group.loss_limit == Decimal(100) and group.profit_target == 0


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize(("raw", "expected"), [
    (config(defaults={"interval": 7}),
     "defaults.interval: expected one of 1, 2, 3, 5, 10, 15, 30, 60, got 7"),
    (config(defaults={"trailling": True}),
     "defaults.trailling: unknown key (did you mean 'trailing'?)"),
    (config(instrument=[]), "instrument: unknown key (did you mean 'instruments'?)"),
    (config(risk={"daily_loss_limit": -5}),
     "risk.daily_loss_limit: expected a number >= 0, got -5"),
    (config(risk={"daily_profit_target": True}),
     "risk.daily_profit_target: expected a number >= 0, got true"),
    (config(defaults={"lots": True}), "defaults.lots: expected a whole number >= 1, got true"),
    (config(defaults={"lots": 0}), "defaults.lots: expected a whole number >= 1, got 0"),
    (config(defaults={"lots": 2.5}), "defaults.lots: expected a whole number >= 1, got 2.5"),
    (config(defaults={"trailing": 1}), "defaults.trailing: expected true or false, got 1"),
    (config(defaults={"trade_side": "long"}),
     "defaults.trade_side: expected one of BUY, SELL, BOTH, got 'long'"),
    (config(defaults={"product": "BO"}),
     "defaults.product: expected one of MIS, NRML, CNC, got 'BO'"),
    (config(defaults={"stop_mode": "virtual"}),
     "defaults.stop_mode: expected one of exchange, synthetic, got 'virtual'"),
    (config(defaults={"slippage_ticks": -1}),
     "defaults.slippage_ticks: expected a whole number >= 0, got -1"),
    (config(defaults={"loss_limit": -100}),
     "defaults.loss_limit: expected a number >= 0, got -100"),
    (config(kite={"market_protection": 150}),
     "kite.market_protection: expected -1 (automatic) or a whole number 1..100 (Kite refuses "
     "0), got 150"),
    (config(kite={"market_protection": -2}),
     "kite.market_protection: expected -1 (automatic) or a whole number 1..100 (Kite refuses "
     "0), got -2"),
    (config(kite={"market_protection": 0}),
     "kite.market_protection: expected -1 (automatic) or a whole number 1..100 (Kite refuses "
     "0), got 0"),
    (config(kite={"root": "ftp://x"}),
     "kite.root: expected a http:// or https:// URL, got 'ftp://x'"),
    (config(telegram={"allowed_chat_ids": 12}),
     "telegram.allowed_chat_ids: expected a list of whole numbers (Telegram ids), got 12"),
    (config(sim={"speed": 0}), "sim.speed: expected a number > 0, got 0"),
    (config(mode="real"), "mode: expected one of paper, live, got 'real'"),
    (config(defaults=[1]), "defaults: expected a mapping, got a list"),
    ({"instruments": [dict(INFY, percentage="abc")]},
     "instruments[0].percentage: expected a number >= 0, got 'abc'"),
    ({"instruments": [dict(INFY, tick_size=0)]},
     "instruments[0].tick_size: expected a number > 0, got 0"),
    ({"instruments": [dict(INFY, lotsize=1)]},
     "instruments[0].lotsize: unknown key (did you mean 'lot_size'?)"),
    ({"instruments": [{"symbol": "INFY"}]},
     'instruments[0].symbol: expected "EXCHANGE:TRADINGSYMBOL" such as "NSE:INFY", got \'INFY\''),
    ({"instruments": [{"token": 5}]},
     'instruments[0].symbol: required ("EXCHANGE:TRADINGSYMBOL")'),
    ({"instruments": [{"symbol": "XYZ:ABC"}]},
     "instruments[0].symbol: exchange 'XYZ' has no session in schedules.yaml "
     "(known: BCD, BFO, BSE, CDS, MCX, NFO, NSE)"),
])
def test_each_bad_value_is_named_by_its_key_path(raw: dict, expected: str) -> None:
    assert problems_of(raw) == [expected]


def test_instruments_are_required() -> None:
    for raw in ({}, {"instruments": []}, None):
        (problem,) = problems_of(raw)
        assert problem.startswith("instruments: required")
    assert problems_of({"instruments": {"symbol": "NSE:INFY"}}) == [
        "instruments: expected a list, got a mapping"]


def test_duplicate_symbols_are_errors_whatever_their_case() -> None:
    raw = {"instruments": [INFY, {"symbol": "nse:infy"}, {"symbol": "NSE:TCS"}]}
    assert problems_of(raw) == ["instruments[1].symbol: 'NSE:INFY' is already instruments[0]"]


def test_group_members_must_be_listed_instruments() -> None:
    raw = config(groups={"banks": {"instruments": ["NSE:INFY", "NSE:SBIN", "NSE:INFY"]},
                         "empty": {"loss_limit": 5},
                         "odd": {"instruments": ["NSE:INFY"], "loss_limit": -1}})
    assert problems_of(raw) == [
        "groups.banks.instruments[1]: 'NSE:SBIN' is not in instruments",
        "groups.banks.instruments[2]: 'NSE:INFY' is listed twice",
        "groups.empty.instruments: expected a list of at least one instrument symbol, "
        "got nothing",
        "groups.odd.loss_limit: expected a number >= 0, got -1",
    ]


def test_every_problem_is_reported_at_once() -> None:
    raw = {"mode": "paper", "defaults": {"interval": 7, "percentage": -1},
           "risk": {"daily_loss_limit": "lots"},
           "instruments": [INFY, dict(INFY), {"symbol": "NSE:TCS", "lots": 0}],
           "groups": {"g": {"instruments": ["NSE:WIPRO"]}}}
    problems = problems_of(raw)
    assert len(problems) == 6, problems
    for key in ("defaults.interval", "defaults.percentage", "risk.daily_loss_limit",
                "instruments[1].symbol", "instruments[2].lots", "groups.g.instruments[0]"):
        assert any(p.startswith(key + ":") for p in problems), key


def test_secret_looking_keys_in_the_file_point_to_the_environment() -> None:
    (problem,) = problems_of(config(kite={"api_secret": SECRET}))
    assert problem.startswith("kite.api_secret: unknown key (secrets belong in the environment")
    assert SECRET not in problem


# ---------------------------------------------------------------- secrets and live mode


def test_live_mode_needs_kite_credentials_named_by_env_var() -> None:
    problems = problems_of(config(mode="live"))
    assert problems == [
        "mode: live needs a Kite API key: set KITE_API_KEY in the environment or .env "
        "(or kite.api_key)",
        "mode: live needs KITE_API_SECRET in the environment or .env",
    ]
    settings = load_settings_from_dict(config(mode="live"), SCHEDULE,
                                       {"KITE_API_KEY": "key1", "KITE_API_SECRET": SECRET})
    assert settings.mode is Mode.LIVE and settings.secrets.kite_api_secret == SECRET
    assert load_settings_from_dict(config(mode="live", feed="sim"), SCHEDULE, {}).mode is Mode.LIVE


def test_env_api_key_overrides_the_file_and_secrets_stay_hidden() -> None:
    raw = config(kite={"api_key": "from_file"})
    assert load_settings_from_dict(raw, SCHEDULE, {}).kite.api_key == "from_file"
    env = {"KITE_API_KEY": "from_env_key", "KITE_API_SECRET": SECRET,
           "TELEGRAM_BOT_TOKEN": "123:telegram-token-value"}
    settings = load_settings_from_dict(raw, SCHEDULE, env)
    assert settings.kite.api_key == "from_env_key" == settings.secrets.kite_api_key
    assert settings.secrets.telegram_bot_token == "123:telegram-token-value"
    assert SECRET not in repr(settings) and "telegram-token-value" not in repr(settings)


def test_secret_values_never_appear_in_error_text() -> None:
    env = {"KITE_API_SECRET": SECRET, "TELEGRAM_BOT_TOKEN": "123:telegram-token-value"}
    raw = config(kite={"root": SECRET}, telegram={"base_url": "123:telegram-token-value"},
                 defaults={"interval": 7})
    with pytest.raises(ConfigError) as caught:
        load_settings_from_dict(raw, SCHEDULE, env)
    text = str(caught.value)
    assert "kite.root" in text and "telegram.base_url" in text and "defaults.interval" in text
    assert SECRET not in text and "telegram-token-value" not in text


def test_dotenv_beside_the_config_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    cfg = write(tmp_path / "config.yaml", "mode: live\ninstruments: ['NSE:INFY']\n")
    write(tmp_path / ".env", "# secrets\nexport KITE_API_KEY=dotenv_key\n"
          f"KITE_API_SECRET='{SECRET}'\nTELEGRAM_BOT_TOKEN=\"1:tok\"  \n"
          "KITE_ACCESS_TOKEN=abc # a comment\n")
    settings = load_settings(cfg, SCHEDULES, env={"KITE_API_KEY": "real_env_key"})
    assert settings.kite.api_key == "real_env_key"
    assert settings.secrets.kite_api_secret == SECRET
    assert settings.secrets.telegram_bot_token == "1:tok"
    assert settings.secrets.kite_access_token == "abc"


def test_bad_dotenv_line_is_reported_by_number_without_its_content(tmp_path: Path) -> None:
    cfg = write(tmp_path / "config.yaml", "instruments: ['NSE:INFY']\n")
    write(tmp_path / ".env", f"KITE_API_SECRET={SECRET}\n{SECRET} oops\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, SCHEDULES, env={})
    assert caught.value.problems == [f"{tmp_path / '.env'}: line 2: expected KEY=VALUE"]


# ---------------------------------------------------------------- files


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, SCHEDULES, env={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{missing}: file not found")


def test_yaml_syntax_and_duplicate_keys_are_reported_with_line_and_column(tmp_path: Path) -> None:
    bad = write(tmp_path / "c.yaml", "mode: paper\ninstruments: [\n  {symbol: x\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(bad, SCHEDULES, env={})
    assert re.fullmatch(rf"{re.escape(str(bad))}: YAML error at line \d+, column \d+: .+",
                        caught.value.problems[0])
    dup = write(tmp_path / "d.yaml", "instruments: ['NSE:INFY']\nmode: paper\nmode: live\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(dup, SCHEDULES, env={})
    assert caught.value.problems == [
        f"{dup}: YAML error at line 3, column 1: duplicate key 'mode'"]


def test_config_and_schedule_problems_are_reported_together(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "instruments: ['NSE:INFY']\nrisk: {daily_loss_limit: -1}\n")
    sched = write(tmp_path / "s.yaml", SCHEDULES.read_text().replace('"15:15"', '"25:00"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, sched, env={})
    assert caught.value.problems == [
        f"{sched}: jobs.square_off: expected a time HH:MM, got '25:00'",
        "risk.daily_loss_limit: expected a number >= 0, got -1"]


def test_relative_paths_are_taken_from_the_config_directory(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "data_dir: state\nkite: {instruments_file: dump.csv}\n"
                "instruments: ['NSE:INFY']\n")
    settings = load_settings(cfg, SCHEDULES, env={})
    assert settings.data_dir == tmp_path.resolve() / "state"
    assert settings.kite.instruments_file == str(tmp_path.resolve() / "dump.csv")
    assert settings.sim.instruments_file == ""


def test_example_config_loads_and_its_inline_instruments_match_the_kite_dump() -> None:
    settings = load_settings(EXAMPLE, SCHEDULES, env={})
    assert settings.mode is Mode.PAPER and len(settings.instruments) >= 2 and settings.groups
    dump = {i.symbol: i for i in load_dump(BUNDLED_DUMP)}
    for entry in settings.instruments:
        inline = entry.inline_instrument()
        assert inline is not None, entry.symbol
        known = dump[entry.symbol]
        assert (inline.token, inline.tick_size, inline.lot_size) == (
            known.token, known.tick_size, known.lot_size)


def _paths_in(raw: dict) -> set[str]:
    paths = {k for k, v in raw.items() if not isinstance(v, dict | list)}
    for name, body in raw.items():
        if name == "instruments":
            paths |= {f"instruments[].{k}" for entry in body for k in entry}
        elif name == "groups":
            paths |= {f"groups.*.{k}" for group in body.values() for k in group}
        elif isinstance(body, dict):
            paths |= {f"{name}.{k}" for k in body}
    return paths


def test_example_config_shows_and_documents_every_key_the_loader_knows() -> None:
    text = EXAMPLE.read_text()
    assert known_key_paths() - _paths_in(yaml.safe_load(text)) == set()
    lines = text.splitlines()
    names = {p.rsplit(".", 1)[-1] for p in known_key_paths()} | {"instruments", "groups"}
    for name in sorted(names):
        at = next(i for i, line in enumerate(lines) if re.match(rf"\s*-?\s*{name}:", line))
        assert "#" in lines[at] or lines[at - 1].strip().startswith("#"), name


# ---------------------------------------------------------------- parse_param (/set)


def test_parse_param_uses_the_file_rules_on_typed_text() -> None:
    assert tuple(StrategyParams.__dataclass_fields__) == SETTABLE_KEYS
    assert set(SETTABLE_KEYS) == PARAM_KEYS
    assert parse_param("percentage", "0.4") == Decimal("0.4")
    assert parse_param("Trailing", "off") is False
    assert parse_param("reverse_on_stop", "Yes") is True
    assert parse_param("trade_side", "buy") is TradeSide.BUY
    assert parse_param("interval", " 15 ") == 15
    assert parse_param("max_trades_per_day", "0") == 0


@pytest.mark.parametrize(("key", "text", "message"), [
    ("percentage", "abc", "percentage: expected a number >= 0, got 'abc'"),
    ("percentage", "true", "percentage: expected a number >= 0, got 'true'"),
    ("loss_limit", "-5", "loss_limit: expected a number >= 0, got '-5'"),
    ("percentage", "nan", "percentage: expected a number >= 0, got 'nan'"),
    ("interval", "7", "interval: expected one of 1, 2, 3, 5, 10, 15, 30, 60, got '7'"),
    ("lots", "1.5", "lots: expected a whole number >= 1, got '1.5'"),
    ("trailing", "1", "trailing: expected true or false, got '1'"),
    ("trade_side", "long", "trade_side: expected one of BUY, SELL, BOTH, got 'long'"),
])
def test_parse_param_rejects_bad_text(key: str, text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_param(key, text)
    assert str(caught.value) == message


def test_parse_param_unknown_key_gets_a_hint() -> None:
    with pytest.raises(ValueError, match=r"^percentge: unknown setting \(did you mean "
                                         r"'percentage'\?\); settable: interval, "):
        parse_param("percentge", "1")
    with pytest.raises(ValueError, match="unknown setting"):
        parse_param("product", "MIS")  # account-wide, not a per-instrument /set key


# ---------------------------------------------------------------- check-config


def test_check_config_command_prints_a_summary(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KITE_API_KEY", "KITE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert check_config_command(EXAMPLE, SCHEDULES) == 0
    out = capsys.readouterr()
    assert out.out.startswith("config OK: 2 instruments (0 to resolve through the instruments "
                              "dump), 1 group, mode paper, feed kite; schedules OK: 16 holidays")
    assert out.err == ""


def test_check_config_cli_exits_1_listing_every_problem(tmp_path: Path) -> None:
    cfg = write(tmp_path / "config.yaml",
                "mode: live\ndefaults: {interval: 7, trailling: true}\n"
                "instruments: [{symbol: 'NSE:INFY', percentage: abc}]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "TELEGRAM_"))}
    env["TELEGRAM_BOT_TOKEN"] = "999:never-print-this-token"
    done = subprocess.run([sys.executable, "bot.py", "check-config", "--config", str(cfg)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[:5] == [
        "defaults.interval: expected one of 1, 2, 3, 5, 10, 15, 30, 60, got 7",
        "defaults.trailling: unknown key (did you mean 'trailing'?)",
        "instruments[0].percentage: expected a number >= 0, got 'abc'",
        "mode: live needs a Kite API key: set KITE_API_KEY in the environment or .env "
        "(or kite.api_key)",
        "mode: live needs KITE_API_SECRET in the environment or .env",
    ]
    assert "never-print-this-token" not in done.stderr


def test_check_config_cli_accepts_the_example() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "TELEGRAM_"))}
    done = subprocess.run([sys.executable, "bot.py", "check-config", "--config",
                           str(EXAMPLE)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("config OK: 2 instruments")


def test_instrument_exchanges_are_checked_against_the_given_schedule() -> None:
    raw = {"instruments": ["MCX:CRUDEOIL26JANFUT"]}
    assert load_settings_from_dict(raw, SCHEDULE, {}).instruments[0].exchange == "MCX"
    with pytest.raises(ConfigError, match=r"instruments\[0\]\.symbol: exchange 'MCX' has no"):
        load_settings_from_dict(raw, ScheduleConfig(), {})  # NSE, NFO, BSE, BFO only


def test_a_configured_freeze_quantity_survives_resolution_through_the_dump() -> None:
    raw = {"instruments": [{"symbol": "NSE:ADANIPORTS", "freeze_quantity": 40},
                           "NSE:CDSL"]}
    settings = load_settings_from_dict(raw, SCHEDULE, {})
    index = InstrumentIndex(load_dump(BUNDLED_DUMP))
    with_freeze, without = resolve_configured(settings.instruments, lambda: index)
    assert with_freeze.freeze_quantity == 40 and with_freeze.token == 3861249
    assert without.freeze_quantity == 0  # Kite's dump has no freeze column


ONE = {"instruments": ["NSE:INFY"]}


def test_kite_proxy_is_checked_and_its_password_never_echoed() -> None:
    ok = load_settings_from_dict({"kite": {"proxy": "http://10.0.0.5:3128"}, **ONE}, SCHEDULE, {})
    assert ok.kite_proxy == "http://10.0.0.5:3128"
    for bad, says in (("socks5://10.0.0.5:1080", "expected an http:// or https:// proxy"),
                      ("http://10.0.0.5", "scheme, host and port"),
                      ("http://me:hunter22@10.0.0.5:3128", "put the whole URL in KITE_PROXY")):
        with pytest.raises(ConfigError) as err:
            load_settings_from_dict({"kite": {"proxy": bad}, **ONE}, SCHEDULE, {})
        assert says in str(err.value) and "hunter22" not in str(err.value)
    env = {"KITE_PROXY": "http://me:hunter22@10.0.0.9:3128"}
    secret = load_settings_from_dict({"kite": {"proxy": "http://10.0.0.5:3128"}, **ONE}, SCHEDULE,
                                     env)
    assert secret.kite_proxy == env["KITE_PROXY"]  # the environment wins
    assert "hunter22" in secret.secrets.values()  # so logs redact the password alone
    assert "hunter22" not in repr(secret.secrets)
    with pytest.raises(ConfigError) as err:
        load_settings_from_dict(ONE, SCHEDULE, {"KITE_PROXY": "ftp://me:hunter22@h:21"})
    assert "KITE_PROXY" in str(err.value) and "hunter22" not in str(err.value)
