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
    check_param,
    known_key_paths,
    load_settings,
    load_settings_from_dict,
    parse_limit,
    parse_param,
)
from agent.instruments import BUNDLED_DUMP, InstrumentIndex, load_dump, resolve_configured
from agent.models import StopMode, TradeSide
from agent.settings import (
    PARAM_KEYS,
    FeedKind,
    Mode,
    ScheduleConfig,
    StorageBackend,
    StorageConfig,
    StrategyParams,
)

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
     "risk.daily_loss_limit: expected a number 0..100000000, got -5"),
    (config(risk={"daily_profit_target": True}),
     "risk.daily_profit_target: expected a number 0..100000000, got true"),
    (config(defaults={"lots": True}), "defaults.lots: expected a whole number 1..10000, got true"),
    (config(defaults={"lots": 0}), "defaults.lots: expected a whole number 1..10000, got 0"),
    (config(defaults={"lots": 2.5}), "defaults.lots: expected a whole number 1..10000, got 2.5"),
    (config(defaults={"trailing": 1}), "defaults.trailing: expected true or false, got 1"),
    (config(defaults={"trade_side": "long"}),
     "defaults.trade_side: expected one of BUY, SELL, BOTH, got 'long'"),
    (config(defaults={"product": "BO"}),
     "defaults.product: expected one of MIS, NRML, CNC, got 'BO'"),
    (config(defaults={"stop_mode": "virtual"}),
     "defaults.stop_mode: expected one of exchange, synthetic, got 'virtual'"),
    (config(defaults={"slippage_ticks": -1}),
     "defaults.slippage_ticks: expected a whole number 0..1000, got -1"),
    (config(defaults={"loss_limit": -100}),
     "defaults.loss_limit: expected a number 0..100000000, got -100"),
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
    (config(sim={"speed": 0}), "sim.speed: expected a number above 0 and up to 10000, got 0"),
    (config(mode="real"), "mode: expected one of paper, live, got 'real'"),
    (config(defaults=[1]), "defaults: expected a mapping, got a list"),
    ({"instruments": [dict(INFY, percentage="abc")]},
     "instruments[0].percentage: expected a number 0..100, got 'abc'"),
    ({"instruments": [dict(INFY, tick_size=0)]},
     "instruments[0].tick_size: expected a number 0.0001..10000, got 0"),
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
        "groups.odd.loss_limit: expected a number 0..100000000, got -1",
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


def test_a_deeply_nested_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    deep = write(tmp_path / "c.yaml", "instruments: " + "[" * 50_000 + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(deep, SCHEDULES, env={})
    assert caught.value.problems == [f"{deep}: YAML error: nested too deeply"]


def test_config_and_schedule_problems_are_reported_together(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "instruments: ['NSE:INFY']\nrisk: {daily_loss_limit: -1}\n")
    sched = write(tmp_path / "s.yaml", SCHEDULES.read_text().replace('"15:15"', '"25:00"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, sched, env={})
    assert caught.value.problems == [
        f"{sched}: jobs.square_off: expected a time HH:MM, got '25:00'",
        "risk.daily_loss_limit: expected a number 0..100000000, got -1"]


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
    assert tuple(StrategyParams.__dataclass_fields__)[:len(SETTABLE_KEYS)] == SETTABLE_KEYS
    # the strategy is chosen in the config for the whole run; /set cannot change it
    assert set(SETTABLE_KEYS) == PARAM_KEYS - {"strategy"}
    assert parse_param("percentage", "0.4") == Decimal("0.4")
    assert parse_param("Trailing", "off") is False
    assert parse_param("reverse_on_stop", "Yes") is True
    assert parse_param("trade_side", "buy") is TradeSide.BUY
    assert parse_param("interval", " 15 ") == 15
    assert parse_param("max_trades_per_day", "0") == 0


@pytest.mark.parametrize(("key", "text", "message"), [
    ("percentage", "abc", "percentage: expected a number 0..100, got 'abc'"),
    ("percentage", "true", "percentage: expected a number 0..100, got 'true'"),
    ("loss_limit", "-5", "loss_limit: expected a number 0..100000000, got '-5'"),
    ("percentage", "nan", "percentage: expected a number 0..100, got 'nan'"),
    ("interval", "7", "interval: expected one of 1, 2, 3, 5, 10, 15, 30, 60, got '7'"),
    ("lots", "1.5", "lots: expected a whole number 1..10000, got '1.5'"),
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
    assert out.out.startswith("config OK: 3 instruments (0 to resolve through the instruments "
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
        "instruments[0].percentage: expected a number 0..100, got 'abc'",
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
    assert done.stdout.startswith("config OK: 3 instruments")


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


def test_storage_on_redis_is_checked_and_its_password_comes_from_the_environment() -> None:
    """Issue 16: storage.backend, redis_url (redis://, rediss://, unix://; never a password),
    account (a key prefix), candle_ttl_days, queue_limit."""
    redis = {"backend": "redis", "redis_url": "rediss://cache.example:6380/2",
             "account": "AB1234", "candle_ttl_days": 10, "queue_limit": 5000}
    ok = load_settings_from_dict({"storage": redis, **ONE}, SCHEDULE,
                                 {"REDIS_PASSWORD": "s3cret-pw"})
    assert ok.storage == StorageConfig(StorageBackend.REDIS, "rediss://cache.example:6380/2",
                                       "AB1234", 10, 5000)
    assert ok.secrets.redis_password == "s3cret-pw" and "s3cret-pw" in ok.secrets.values()
    assert "s3cret-pw" not in repr(ok.secrets)
    unix = load_settings_from_dict({"storage": {**redis, "redis_url": "unix:///run/r.sock"},
                                    **ONE}, SCHEDULE, {})
    assert unix.storage.redis_url == "unix:///run/r.sock"
    assert load_settings_from_dict(ONE, SCHEDULE, {}).storage.backend is StorageBackend.TINYDB
    for change, says in (
            ({"redis_url": "redis://me:hunter22@host:6379/0"}, "put it in REDIS_PASSWORD"),
            ({"redis_url": "http://host:6379"}, "storage.redis_url: expected a redis://"),
            ({"redis_url": "redis://host:99999/0"}, "the port is not a number"),
            ({"redis_url": "unix://relative.sock"}, "an absolute path"),
            ({"redis_url": ""}, "storage.backend: redis needs storage.redis_url"),
            ({"account": "AB 1234"}, "storage.account: expected 1 to 40 letters"),
            ({"candle_ttl_days": 0}, "storage.candle_ttl_days: expected a whole number 1..3650"),
            ({"queue_limit": 10}, "storage.queue_limit: expected a whole number"),
            ({"backend": "mongo"}, "storage.backend")):
        with pytest.raises(ConfigError) as err:
            load_settings_from_dict({"storage": {**redis, **change}, **ONE}, SCHEDULE, {})
        assert says in str(err.value) and "hunter22" not in str(err.value), err.value


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


# ---------------------------------------------------------------- 9.1: every number has a range

HUGE = "9" * 5000  # more digits than int() reads by default


@pytest.mark.parametrize(("where", "value", "expects"), [
    ("defaults.percentage", "1e999999", "a number 0..100"),
    ("defaults.percentage", "1e5", "a number 0..100"),
    ("defaults.percentage", "NaN", "a number 0..100"),
    ("defaults.percentage", "inf", "a number 0..100"),
    ("defaults.percentage", "-Infinity", "a number 0..100"),
    ("defaults.percentage", "-0", "a number 0..100"),
    ("defaults.percentage", "²", "a number 0..100"),
    ("defaults.percentage", "٣", "a number 0..100"),
    ("defaults.percentage", HUGE, "a number 0..100"),
    ("defaults.percentage", float("nan"), "a number 0..100"),
    ("defaults.percentage", float("inf"), "a number 0..100"),
    ("defaults.percentage", -0.0, "a number 0..100"),
    ("defaults.percentage", 100.5, "a number 0..100"),
    ("defaults.target_multiple", 101, "a number 0..100"),
    ("defaults.lots", 10_001, "a whole number 1..10000"),
    ("defaults.lots", "٣", "a whole number 1..10000"),
    ("defaults.lots", "-0", "a whole number 1..10000"),
    pytest.param("defaults.lots", 10**5000, "a whole number 1..10000", id="huge-int"),
    ("defaults.max_trades_per_day", 1001, "a whole number 0..1000"),
    ("defaults.profit_target", 100_000_000.01, "a number 0..100000000"),
    ("defaults.loss_limit", "1e888888", "a number 0..100000000"),
    ("defaults.slippage_ticks", 1001, "a whole number 0..1000"),
    ("defaults.stop_limit_buffer_ticks", 1001, "a whole number 0..1000"),
    ("risk.daily_loss_limit", Decimal("1e888888"), "a number 0..100000000"),
    ("risk.daily_profit_target", "1_000_000_000", "a number 0..100000000"),
    ("sim.speed", 10_001, "a number above 0 and up to 10000"),
    ("sim.speed", "1e3", "a number above 0 and up to 10000"),
    ("sim.seed", 2**32, "a whole number 0..4294967295"),
    ("paper.capital", 9_999, "a number 10000..1000000000"),
    ("paper.capital", "1_000_000_001", "a number 10000..1000000000"),
    ("instruments[0].tick_size", "0.00001", "a number 0.0001..10000"),
    ("instruments[0].lot_size", 1_000_001, "a whole number 1..1000000"),
    ("instruments[0].freeze_quantity", 10_000_001, "a whole number 0..10000000"),
    ("instruments[0].token", 2**32, "a whole number 1..4294967295"),
    ("instruments[0].percentage", "1e999999", "a number 0..100"),
    ("groups.g.loss_limit", "1e888888", "a number 0..100000000"),
    ("kite.market_protection", "1e2", "-1 (automatic) or a whole number 1..100 (Kite "
                                      "refuses 0)"),
    ("telegram.allowed_chat_ids", ["٣"], "a list of whole numbers (Telegram ids)"),
])
def test_9_1_a_number_out_of_range_or_not_in_plain_digits_is_refused_naming_key_and_range(
        where: str, value: Any, expects: str) -> None:
    raw = config(groups={"g": {"instruments": ["NSE:INFY"]}})
    section_, _, key = where.partition(".")
    if section_ == "instruments[0]":
        raw["instruments"][0][key] = value
    elif section_ == "groups":
        raw["groups"]["g"][key.split(".")[1]] = value
    else:
        raw[section_] = {key: value}
    (problem,) = problems_of(raw)
    assert problem.startswith(f"{where}: expected {expects}, got "), problem
    assert len(problem) < 200  # a huge value is shortened, never printed whole


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("percentage", 0, Decimal(0)),  # 0 stays allowed (9.1: the band is the rounded H/L)
    ("percentage", 100, Decimal(100)),
    ("percentage", "0.0001", Decimal("0.0001")),
    ("target_multiple", "100", Decimal(100)),
    ("lots", 10_000, 10_000),
    ("lots", "+5", 5),
    ("max_trades_per_day", 1000, 1000),
    ("profit_target", "1_00_000", Decimal(100_000)),
    ("loss_limit", 100_000_000, Decimal(100_000_000)),
])
def test_9_1_the_bounds_themselves_are_accepted(key: str, value: Any, expected: Any) -> None:
    settings = load_settings_from_dict(config(defaults={key: value}), SCHEDULE, {})
    assert getattr(settings.defaults.params, key) == expected
    assert parse_param(key, str(value)) == expected


def test_9_1_inline_instrument_and_sim_bounds_are_accepted() -> None:
    raw = {"instruments": [dict(INFY, tick_size="0.0001", lot_size=1_000_000,
                                freeze_quantity=10_000_000, token=2**32 - 1)],
           "sim": {"speed": 10_000, "seed": 2**32 - 1}, "risk": {"daily_loss_limit": 1e8}}
    settings = load_settings_from_dict(raw, SCHEDULE, {})
    (infy,) = settings.instruments
    assert (infy.tick_size, infy.lot_size, infy.freeze_quantity, infy.token) == (
        Decimal("0.0001"), 1_000_000, 10_000_000, 2**32 - 1)
    assert settings.sim.speed == 10_000.0 and settings.risk.daily_loss_limit == Decimal(10**8)


def test_paper_capital_bounds_and_default() -> None:
    assert load_settings_from_dict(config(), SCHEDULE, {}).paper.capital == Decimal(10**6)
    for value in (10_000, "10_00_00_000", 1_000_000_000):
        settings = load_settings_from_dict(config(paper={"capital": value}), SCHEDULE, {})
        assert settings.paper.capital == Decimal(str(value).replace("_", ""))


@pytest.mark.parametrize(("text", "shown"), [
    ("1e999999", "'1e999999'"), ("1e5", "'1e5'"), ("NaN", "'NaN'"), ("inf", "'inf'"),
    ("-0", "'-0'"), ("²", "'²'"), ("٣", "'٣'"), ("0x10", "'0x10'"), ("1,5", "'1,5'"),
    ("9" * 100, "'" + "9" * 37 + "...'"), ("101", "'101'"),
])
def test_9_1_set_refuses_what_the_file_refuses_with_the_range(text: str, shown: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_param("percentage", text)
    assert str(caught.value) == f"percentage: expected a number 0..100, got {shown}"


@pytest.mark.parametrize("text", ["0.000001", "0.10000000", "100.0000000", "0.00000000", "5.",
                                  "+5", "0100", "1_00_000", "100000000.000000", "0.4", "0"])
def test_9_1_an_accepted_value_reads_back_from_its_stored_text(text: str) -> None:
    """The state file stores a setting as ``str(value)``; that text must pass the same rules
    (``0.0000001`` would be stored as ``1E-7``: refused, so more than 6 places are)."""
    value = parse_param("loss_limit", text)
    assert parse_param("loss_limit", str(value)) == value and "E" not in str(value)
    with pytest.raises(ValueError, match=r"^percentage: expected a number 0\.\.100 with at "
                                         r"most 6 decimal places, got '0\.0000001'$"):
        parse_param("percentage", "0.0000001")


def test_9_1_limits_take_the_money_range() -> None:
    assert parse_limit("loss_limit", "100000000") == Decimal(100_000_000)
    with pytest.raises(ValueError, match=r"^loss_limit: expected a number 0\.\.100000000, got "
                                         r"'1e888888'$"):
        parse_limit("loss_limit", "1e888888")
    with pytest.raises(ValueError, match="unknown limit"):
        parse_limit("lots", "1")


def test_9_1_the_engine_checks_a_typed_value_by_the_same_rules() -> None:
    assert check_param("percentage", Decimal("0.4")) == Decimal("0.4")
    assert check_param("trade_side", TradeSide.SELL) is TradeSide.SELL
    for key, value in (("percentage", Decimal("1e999999")), ("loss_limit", Decimal("NaN")),
                       ("lots", 10**6), ("lots", True), ("interval", 7)):
        with pytest.raises(ValueError, match=rf"^{key}: expected "):
            check_param(key, value)


YAML_NUMBERS = """\
defaults:
  percentage: 1.0e+5
  target_multiple: .nan
  loss_limit: .inf
  profit_target: -0
  lots: 0x10
  max_trades_per_day: {huge}
  slippage_ticks: ٣
sim:
  speed: 1e3
instruments: [{{symbol: "NSE:INFY", lot_size: 1_000_001}}]
"""
YAML_PROBLEMS = [
    "defaults.percentage: expected a number 0..100, got '1.0e+5'",
    "defaults.target_multiple: expected a number 0..100, got '.nan'",
    "defaults.loss_limit: expected a number 0..100000000, got '.inf'",
    "defaults.profit_target: expected a number 0..100000000, got '-0'",
    "defaults.lots: expected a whole number 1..10000, got '0x10'",
    f"defaults.max_trades_per_day: expected a whole number 0..1000, got '{'9' * 37}...'",
    "defaults.slippage_ticks: expected a whole number 0..1000, got '٣'",
    "sim.speed: expected a number above 0 and up to 10000, got '1e3'",
    "instruments[0].lot_size: expected a whole number 1..1000000, got 1000001",
]


def test_9_1_yaml_numbers_are_read_from_their_text(tmp_path: Path) -> None:
    """Exponents, .nan/.inf, -0, hex and 5000 digits in the file are refused by their text
    (YAML would read 1.0e+5 as 100000.0, -0 as 0, 0x10 as 16; int() refuses 5000 digits)."""
    cfg = write(tmp_path / "config.yaml", YAML_NUMBERS.format(huge=HUGE))
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, SCHEDULES, env={})
    assert caught.value.problems == YAML_PROBLEMS
    fine = write(tmp_path / "fine.yaml", "defaults: {percentage: 0.4, loss_limit: 1_00_000, "
                 "lots: 010}\ninstruments: ['NSE:INFY']\n")
    params = load_settings(fine, SCHEDULES, env={}).defaults.params
    assert (params.percentage, params.loss_limit, params.lots) == (
        Decimal("0.4"), Decimal(100_000), 10)  # 010 is ten (decimal), never octal eight


def test_check_config_and_run_refuse_the_same_config_with_the_same_lines(tmp_path: Path) -> None:
    """One set of rules: what check-config refuses, run refuses too, before anything starts."""
    cfg = write(tmp_path / "config.yaml", YAML_NUMBERS.format(huge=HUGE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITE_", "TELEGRAM_"))}
    runs = [subprocess.run([sys.executable, "bot.py", command, "--config", str(cfg), *extra],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            for command, extra in (("check-config", ["--offline"]), ("run", []))]
    for done in runs:
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines()[:len(YAML_PROBLEMS)] == YAML_PROBLEMS, done.stderr
        assert "Traceback" not in done.stderr
    assert runs[0].stderr == runs[1].stderr


# ---------------------------------------------------------------- secrets, even in part

BOT_TOKEN = "7123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"  # 46 characters, as Telegram's


def _pieces(secret: str, size: int = 5) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def test_a_secret_inside_a_longer_wrong_value_is_masked_before_it_is_shortened() -> None:
    password = "pr0xy-Pa55word-9f3k"
    env = {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "KITE_API_SECRET": SECRET,
           "KITE_ACCESS_TOKEN": "Acc3ssT0kenOfTheDay0123456789abc",
           "KITE_PROXY": f"http://me:{password}@10.0.0.9:3128"}
    raw = config(kite={"root": f"api.telegram.org/bot{BOT_TOKEN}/getMe",
                       "ws_root": f"x{SECRET}y", "login_url": f"tok={env['KITE_ACCESS_TOKEN']}"},
                 telegram={"base_url": f"see {password} here"},
                 defaults={"trade_side": f"{'x' * 25}{BOT_TOKEN[11:40]}",  # a cut paste
                           "product": f"{'y' * 30}{BOT_TOKEN[10:]}"})  # the secret at the cut
    problems = problems_of(raw, env)
    assert [p.split(":")[0] for p in problems] == [
        "kite.root", "kite.ws_root", "kite.login_url", "telegram.base_url",
        "defaults.trade_side", "defaults.product"]
    text = "\n".join(problems)
    assert "kite.root: expected a http:// or https:// URL, got 'api.telegram.org/bot***/getMe'" \
        in problems
    for secret in (BOT_TOKEN.split(":")[1], SECRET, env["KITE_ACCESS_TOKEN"], password):
        leaked = [piece for piece in _pieces(secret, 8) if piece in text]
        assert leaked == [], (secret, leaked)
    assert not _pieces(BOT_TOKEN.split(":")[1], 5) & _pieces(text, 5)
    with pytest.raises(ValueError) as caught:  # /set: the same masking
        parse_param("percentage", f"{BOT_TOKEN}", hidden=[BOT_TOKEN])
    assert str(caught.value) == "percentage: expected a number 0..100, got '***'"


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["demo", "--speed", "1e5"], 2,
     "argument --speed: expected a number above 0 and up to 10000, got '1e5'"),
    (["demo", "--speed", "nan"], 2, "argument --speed: expected a number above 0"),
    (["demo", "--speed", "٣"], 2, "argument --speed: expected a number above 0"),
    (["demo", "--until", "²²:00"], 2, "argument --until: expected a time HH:MM, got '²²:00'"),
    (["exchange", "--speed", "10001"], 1,
     "exchange: --speed: expected a number above 0 and up to 10000, got '10001'"),
    (["exchange", "--speed", "inf"], 1, "exchange: --speed: expected a number above 0"),
    (["exchange", "--port", "65536"], 1,
     "exchange: --port: expected a whole number 0..65535, got '65536'"),
    (["exchange", "--port", "٣"], 1, "exchange: --port: expected a whole number 0..65535"),
    (["exchange", "--seed", "-1"], 1,
     "exchange: --seed: expected a whole number 0..4294967295, got '-1'"),
    (["exchange", "--seed", "1e3"], 1, "exchange: --seed: expected a whole number"),
])
def test_cli_numbers_follow_the_config_rules(argv: list[str], code: int, says: str) -> None:
    done = subprocess.run([sys.executable, "bot.py", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == code and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- the ranges are documented


def _rules() -> dict[str, Any]:
    from agent.config import GROUP_SPEC, INSTRUMENT_SPEC, SECTIONS

    specs = {**{f"{name}.{key}": rule for name, spec in SECTIONS.items()
                for key, rule in spec.items()},
             **{f"instruments[].{key}": rule for key, rule in INSTRUMENT_SPEC.items()},
             **{f"groups.*.{key}": rule for key, rule in GROUP_SPEC.items()}}
    return {path: rule for path, rule in specs.items() if hasattr(rule, "expects")}


def _comment_of(lines: list[str], name: str) -> str:
    at = next(i for i, line in enumerate(lines) if re.match(rf"\s*-?\s*{name}:", line))
    block = [lines[at].partition("#")[2]]
    i = at - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        block.insert(0, lines[i].strip().lstrip("#"))
        i -= 1
    return " ".join(" ".join(block).split())


def test_every_numeric_key_states_its_range_in_the_example_and_the_readme() -> None:
    lines = EXAMPLE.read_text().splitlines()
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| key | range |"):readme.index("## How it works")]
    rules = _rules()
    assert len(rules) >= 18, sorted(rules)
    for path, rule in rules.items():
        name = path.rsplit(".", 1)[-1]
        expects = " ".join(rule.expects.split())
        assert expects in _comment_of(lines, name), (path, expects)
        high = re.search(r"\.\.(\d+)$|up to (\d+)$", expects)
        if high is None:
            continue
        rows = [row for row in table.splitlines() if f"`{name}`" in row or f".{name}`" in row]
        assert any(f"{int(high.group(1) or high.group(2)):,}" in row for row in rows), path
