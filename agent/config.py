"""config.yaml + schedules.yaml + the environment -> frozen, validated ``Settings``.

Every problem is collected and reported at once in a ``ConfigError``, each naming its key
path, e.g. ``instruments[2].percentage: expected a number 0..100, got 'abc'``. Every number
has a range (the tables below; config.example.yaml and the README quote them). Secrets come
only from the environment or a ``.env`` file beside the config and never appear in messages,
not even in part. The value rules are shared with the Telegram ``/set KEY VALUE`` and
``/limits`` commands (``parse_param``, ``parse_limit``), the engine's own check of a change
(``check_param``) and the command line (``SIM_SPEED``, ``SEED``, ``PORT``).
Plain functions without shared state: any thread may call them (they read files, so keep
them off the tick path).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from agent.calendar import load_schedule
from agent.charges_config import charge_tables
from agent.config_values import (
    SECRET_ENV,
    ConfigError,
    Convert,
    account_name,
    as_is,
    choice,
    describe,
    hiding,
    hint,
    id_list,
    interval,
    mask,
    nonempty_text,
    number,
    proxy_url,
    quiet_text,
    read_yaml,
    redis_url,
    section,
    symbol,
    text,
    url,
    whole,
)
from agent.models import StopMode, TradeSide
from agent.settings import (
    PARAM_KEYS,
    ClockKind,
    Defaults,
    FeedKind,
    GroupConfig,
    InstrumentConfig,
    KiteConfig,
    LimitsOn,
    Mode,
    PaperConfig,
    RiskConfig,
    ScheduleConfig,
    Secrets,
    Settings,
    SimConfig,
    StorageBackend,
    StorageConfig,
    StrategyParams,
    TelegramConfig,
)
from agent.strategy import choice as strategies
from agent.strategy.alert_breakout import AlertBreakout
from agent.strategy.params import ENGINE_PARAMS

__all__ = ["PORT", "SEED", "SETTABLE_KEYS", "SIM_SPEED", "ConfigError", "check_config_command",
           "check_param", "known_key_paths", "load_settings", "load_settings_from_dict",
           "parse_limit", "parse_param"]

KITE_ROOT = KiteConfig().root  # the real Kite's REST root
# what /set may change (the strategy itself is chosen in the config, for the whole run)
SETTABLE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(StrategyParams)
                                       if f.name not in ("strategy", "extra"))


def market_protection(value: Any) -> int:
    """-1 (automatic) or 1..100 percent: Kite refuses MARKET and SL-M orders with 0."""
    want = "expected -1 (automatic) or a whole number 1..100 (Kite refuses 0)"
    result = whole(-1, 100, want)(value)
    if result == 0:
        raise ValueError(f"{want}, got 0")
    return result


# ---------------------------------------------------------------- the key tables

# The ranges (README "Configuration" has them as a table; a test keeps it in step).
MONEY = number(0, 100_000_000)  # rupees: a day's P&L limit up to 10 crore; 0 = none
SIM_SPEED = number(0, 10_000, above=True)  # sim.speed, `bot.py demo|exchange --speed`
SEED = whole(0, 2**32 - 1)  # sim.seed, `bot.py exchange --seed`
PORT = whole(0, 65_535)  # `bot.py exchange --port` (0: any free port)
PAPER_CAPITAL = number(10_000, 1_000_000_000)  # paper.capital: ₹10 thousand .. ₹100 crore

PARAM_SPEC: Mapping[str, Convert] = {
    "interval": interval,
    "lots": whole(1, 10_000),
    "trade_side": choice([s.value for s in TradeSide], TradeSide),
    "max_trades_per_day": whole(0, 1_000),
    "profit_target": MONEY,
    "loss_limit": MONEY,
    "strategy": nonempty_text,  # loaded and checked by agent.strategy.choice
    # the StrategyParams fields alert_breakout declares (percentage, trailing, ...): its rules
    **{key: param.convert for key, param in AlertBreakout.params.items()},
}
LIMIT_SPEC: Mapping[str, Convert] = {"profit_target": MONEY, "loss_limit": MONEY}
if set(PARAM_SPEC) != PARAM_KEYS:  # pragma: no cover - caught by the first test run
    raise RuntimeError("agent.config.PARAM_SPEC is out of step with StrategyParams")

TOP_SCALARS: Mapping[str, Convert] = {
    "mode": choice([m.value for m in Mode], Mode),
    "feed": choice([f.value for f in FeedKind], FeedKind),
    "clock": choice([c.value for c in ClockKind], ClockKind),
    "data_dir": nonempty_text,
    "log_level": choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
    "record_ticks": text,  # a directory ("": off): agent/tick_recorder.py
}
SECTIONS: Mapping[str, Mapping[str, Convert]] = {
    "kite": {
        "api_key": quiet_text,
        "root": url("http", "https"),
        "ws_root": url("ws", "wss"),
        "login_url": url("http", "https"),
        "market_protection": market_protection,
        "instruments_file": text,
        "proxy": proxy_url,
    },
    "telegram": {
        "base_url": url("http", "https"),
        "allowed_chat_ids": id_list,
        "allowed_user_ids": id_list,
        "keyboard": as_is,  # checked by ``_keyboard`` (rows of known commands)
    },
    "defaults": {
        **PARAM_SPEC,
        "product": choice(["MIS", "NRML", "CNC"]),
        "stop_mode": choice([m.value for m in StopMode], StopMode),
        "slippage_ticks": whole(0, 1_000),
        "stop_limit_buffer_ticks": whole(0, 1_000),
        "charges": as_is,  # checked by ``agent.charges_config.charge_tables``
    },
    "risk": {"daily_profit_target": MONEY, "daily_loss_limit": MONEY,
             "limits_on": choice([x.value for x in LimitsOn], LimitsOn)},
    "sim": {"speed": SIM_SPEED, "seed": SEED, "instruments_file": text},
    "paper": {"capital": PAPER_CAPITAL},
    "storage": {"backend": choice([b.value for b in StorageBackend], StorageBackend),
                "redis_url": redis_url, "account": account_name,
                "candle_ttl_days": whole(1, 3650), "queue_limit": whole(100, 10_000_000)},
}
INSTRUMENT_SPEC: Mapping[str, Convert] = {
    "symbol": symbol,
    "token": whole(1, 2**32 - 1),  # Kite's ticks carry it as an unsigned 32-bit number
    "tick_size": number("0.0001", 10_000),
    "lot_size": whole(1, 1_000_000),
    "freeze_quantity": whole(0, 10_000_000),
    # the engine's keys and the strategy; its own parameters: agent.strategy.choice
    **{k: v for k, v in PARAM_SPEC.items() if k in ENGINE_PARAMS or k == "strategy"},
}
GROUP_SPEC: Mapping[str, Convert] = {"instruments": as_is, **LIMIT_SPEC}
TOP_SPEC: Mapping[str, Convert] = {
    **TOP_SCALARS, **dict.fromkeys([*SECTIONS, "instruments", "groups"], as_is)}


def known_key_paths() -> frozenset[str]:
    """Every key the loader knows, e.g. ``kite.root``, ``instruments[].lots``,
    ``groups.*.loss_limit`` (a test keeps config.example.yaml in step with this)."""
    paths = set(TOP_SCALARS)
    paths |= {f"{name}.{key}" for name, spec in SECTIONS.items() for key in spec}
    paths |= {f"instruments[].{key}" for key in INSTRUMENT_SPEC}
    builtin = strategies.builtin_keys()  # the built-in strategies' parameters
    paths |= {f"defaults.{key}" for key in builtin} | {f"instruments[].{key}" for key in builtin}
    paths |= {f"groups.*.{key}" for key in GROUP_SPEC}
    return frozenset(paths)


def parse_param(key: str, value_text: str, hidden: Iterable[str] = ()) -> Any:
    """One strategy parameter as typed by a user (``/set percentage 0.4``), same rules as
    the file; ValueError like ``percentage: expected a number 0..100, got 'abc'``. The
    ``hidden`` secrets are masked in the message."""
    return _parse(_settable(), "setting", key, value_text, hidden)


def _settable(extra: Mapping[str, Convert] | None = None) -> dict[str, Convert]:
    """What /set may change: the engine's and the built-in strategies' keys (and ``extra``:
    the declared parameters of the strategies in use); never the strategy itself."""
    spec = {**PARAM_SPEC, **strategies.builtin_keys(), **(extra or {})}
    spec.pop("strategy")
    return spec


def parse_limit(key: str, value_text: str, hidden: Iterable[str] = ()) -> Decimal:
    """A group or daily limit as typed by a user (``/limits daily loss_limit 5000``): the
    rule of ``risk.daily_loss_limit`` and ``groups.*.loss_limit``."""
    return _parse(LIMIT_SPEC, "limit", key, value_text, hidden)  # type: ignore[no-any-return]


def _parse(spec: Mapping[str, Convert], what: str, key: str, value_text: str,
           hidden: Iterable[str]) -> Any:
    name = key.strip().lower()
    convert = spec.get(name)
    with hiding(hidden):
        if convert is None:
            raise ValueError(mask(f"{key}: unknown {what}{hint(name, spec)}; "
                                  f"settable: {', '.join(spec)}"))
        try:
            return convert(value_text.strip())
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


def check_param(key: str, value: Any, extra: Mapping[str, Convert] | None = None) -> Any:
    """A typed parameter or limit value (``SetParam``, ``SetLimit``, stored overrides)
    checked by the same rules; ValueError naming the key and the range if it breaks them.
    ``extra``: the declared parameters of the strategies in use (``choice.keys_for``)."""
    spec = _settable(extra)
    convert = spec.get(key)
    if convert is None:
        raise ValueError(f"{key}: not a setting (one of {', '.join(sorted(spec))})")
    try:
        return convert(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


# ---------------------------------------------------------------- sections


def _instruments(raw: Any, schedule: ScheduleConfig | None, problems: list[str],
                 refs: list[str], strategy: Convert
                 ) -> tuple[tuple[InstrumentConfig, ...], set[str]]:
    """The instrument entries, and every well-formed symbol seen (for the group checks).
    ``refs``: each entry's strategy (its own or the default's); ``strategy`` its key."""
    if raw is None or raw == []:
        problems.append('instruments: required: list at least one, e.g. - {symbol: "NSE:INFY"}')
        return (), set()
    if not isinstance(raw, list):
        problems.append(f"instruments: expected a list, got {describe(raw)}")
        return (), set()
    out: list[InstrumentConfig] = []
    first_at: dict[str, int] = {}
    for i, entry in enumerate(raw):
        where = f"instruments[{i}]"
        if isinstance(entry, str):
            entry = {"symbol": entry}
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected a mapping with a symbol, got {describe(entry)}")
            continue
        before = len(problems)
        spec = {**INSTRUMENT_SPEC, "strategy": strategy, **strategies.keys_for(refs[i:i + 1])}
        entry = strategies.own_keys(entry, where, spec, refs[i], problems, refs)
        values = section(entry, where, spec, problems)
        sym = values.pop("symbol", None)
        if sym is None:
            if "symbol" not in entry:
                problems.append(f'{where}.symbol: required ("EXCHANGE:TRADINGSYMBOL")')
            continue
        exchange = sym.split(":", 1)[0]
        if schedule is not None and exchange not in schedule.sessions:
            problems.append(f"{where}.symbol: exchange {exchange!r} has no session in "
                            f"schedules.yaml (known: {', '.join(sorted(schedule.sessions))})")
        if sym in first_at:
            problems.append(f"{where}.symbol: {sym!r} is already instruments[{first_at[sym]}]")
            continue
        first_at[sym] = i
        if len(problems) == before:
            overrides = {k: values.pop(k) for k in list(values) if k not in _IDENTITY}
            out.append(InstrumentConfig(symbol=sym, overrides=MappingProxyType(overrides),
                                        **values))
    return tuple(out), set(first_at)


_IDENTITY = frozenset({"symbol", "token", "tick_size", "lot_size", "freeze_quantity"})


def _groups(raw: Any, symbols: set[str], problems: list[str]) -> tuple[GroupConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.append(f"groups: expected a mapping of group names, got {describe(raw)}")
        return ()
    out: list[GroupConfig] = []
    for name, body in raw.items():
        where = f"groups.{name}"
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: a group name must be text")
            continue
        before = len(problems)
        values = section(body, where, GROUP_SPEC, problems)
        members = values.pop("instruments", None)
        if not isinstance(members, list) or not members:
            got = "nothing" if members is None else describe(members)
            problems.append(f"{where}.instruments: expected a list of at least one instrument "
                            f"symbol, got {got}")
            continue
        resolved: list[str] = []
        for j, item in enumerate(members):
            try:
                sym = symbol(item)
            except ValueError as exc:
                problems.append(f"{where}.instruments[{j}]: {exc}")
                continue
            if sym in resolved:
                problems.append(f"{where}.instruments[{j}]: {sym!r} is listed twice")
            elif sym not in symbols:
                problems.append(f"{where}.instruments[{j}]: {sym!r} is not in instruments")
            resolved.append(sym)
        if len(problems) == before:
            out.append(GroupConfig(name=name, instruments=tuple(resolved), **values))
    return tuple(out)


KEYBOARD_ROWS, KEYBOARD_ROW = 12, 6  # at most: rows, buttons in a row (a phone's width)
KEYBOARD_TEXT = 64  # characters of one button ("/orders 5" sends that text)


def _keyboard(raw: Any, problems: list[str]) -> tuple[tuple[str, ...], ...] | None:
    """``telegram.keyboard``: rows of buttons, each a message starting with one of the bot's
    commands (``handlers.args.COMMANDS``; a foreign one such as /profit is named with its
    equivalent here). None when it is wrong (the problems name the row and the button)."""
    from handlers.args import COMMANDS, split_command  # the chat's command list
    from handlers.suggest import suggestion

    where = "telegram.keyboard"
    if not isinstance(raw, list) or len(raw) > KEYBOARD_ROWS:
        problems.append(f'{where}: expected a list of up to {KEYBOARD_ROWS} rows, each a list '
                        f'of commands such as [["/status", "/pnl"], ["/pause", "/resume"]] '
                        f"([] for no keyboard), got {describe(raw)}")
        return None
    before = len(problems)
    rows: list[tuple[str, ...]] = []
    for i, row in enumerate(raw):
        if not isinstance(row, list) or not 1 <= len(row) <= KEYBOARD_ROW:
            problems.append(f"{where}[{i}]: expected a list of 1..{KEYBOARD_ROW} commands, got "
                            f"{describe(row) if not isinstance(row, list) else len(row)}")
            continue
        for j, button in enumerate(row):
            label = button.strip() if isinstance(button, str) else ""
            word = split_command(label)[0]
            if not word or len(label) > KEYBOARD_TEXT:
                problems.append(f'{where}[{i}][{j}]: expected a command such as "/status" (up '
                                f"to {KEYBOARD_TEXT} characters), got {describe(button)}")
            elif word not in COMMANDS:
                close = suggestion(word)
                problems.append(f"{where}[{i}][{j}]: /{word} is not a command of this bot"
                                + (f" (did you mean {close}?)" if close else ""))
        rows.append(tuple(b.strip() for b in row if isinstance(b, str)))
    return tuple(rows) if len(problems) == before else None


def _resolve(base_dir: Path | None, path_text: str) -> Path:
    path = Path(path_text).expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _secrets(env: Mapping[str, str], file_api_key: str) -> Secrets:
    def get(name: str) -> str:
        return (env.get(name) or "").strip()

    return Secrets(kite_api_key=get("KITE_API_KEY") or file_api_key,
                   kite_api_secret=get("KITE_API_SECRET"),
                   kite_access_token=get("KITE_ACCESS_TOKEN"),
                   telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
                   kite_proxy=get("KITE_PROXY"),
                   redis_password=get("REDIS_PASSWORD"))


def _check_proxy_secret(value: str) -> None:
    """KITE_PROXY may hold a user and password; its shape is checked like kite.proxy's."""
    parts = urlsplit(value)
    proxy_url(value.replace(f"{parts.netloc.rpartition('@')[0]}@", "", 1)
              if "@" in parts.netloc else value)


def _check_exchange_clock(feed: FeedKind, kite: Mapping[str, Any], problems: list[str]
                          ) -> None:
    """``clock: exchange`` follows a standalone simulated exchange (``bot.py exchange``)
    that ``kite.root`` points at; the in-process simulator (``feed: sim``) is the clock."""
    if feed is FeedKind.SIM:
        problems.append("clock: exchange follows a standalone exchange (`bot.py exchange`) "
                        "with feed: kite; feed: sim already runs on its simulator's clock "
                        "(drop clock, or set feed: kite)")
    elif kite.get("root", KITE_ROOT) == KITE_ROOT:
        problems.append(f"clock: exchange needs kite.root on the simulated exchange (the "
                        f"rest_root that `bot.py exchange` prints); {KITE_ROOT} has no "
                        "clock to follow")


def _scrub(problems: list[str], secrets: Secrets) -> list[str]:
    """Belt and braces: no secret value, nor a piece of one, survives in a message, whatever
    produced it (``describe`` masks them before it shortens a value)."""
    return [mask(problem, secrets.values(), pieces=False) for problem in problems]


def _storage(part: dict[str, Any], problems: list[str]) -> StorageConfig:
    """``storage``: with ``backend: redis`` a ``redis_url`` is needed."""
    if part.get("backend") is StorageBackend.REDIS and not part.get("redis_url"):
        problems.append("storage.backend: redis needs storage.redis_url (redis://host:6379/0, "
                        "rediss://... or unix:///path/redis.sock)")
    return StorageConfig(**part)


def _build(raw: Any, schedule: ScheduleConfig | None, env: Mapping[str, str],
           base_dir: Path | None, problems: list[str]) -> Settings:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.append(f"top level: expected a mapping of keys, got {describe(raw)}")
        return Settings()
    top = section(raw, "", TOP_SPEC, problems)
    default_ref, refs = strategies.refs_in(raw, base_dir)
    strategy = strategies.strategy_key(base_dir)
    declared = {**strategies.builtin_keys(), **strategies.keys_for([default_ref, *refs])}
    specs = {**SECTIONS, "defaults": {**SECTIONS["defaults"], **declared,
                                      "strategy": strategy}}
    parts = {name: section(top.get(name), name, spec, problems)
             for name, spec in specs.items()}
    instruments, symbols = _instruments(top.get("instruments"), schedule, problems, refs,
                                        strategy)
    groups = _groups(top.get("groups"), symbols, problems)

    kite, sim, defaults = parts["kite"], parts["sim"], parts["defaults"]
    secrets = _secrets(env, kite.get("api_key", ""))
    kite["api_key"] = secrets.kite_api_key
    for part in (kite, sim):
        if part.get("instruments_file"):
            part["instruments_file"] = str(_resolve(base_dir, part["instruments_file"]))
    if "speed" in sim:
        sim["speed"] = float(sim["speed"])
    mode, feed = top.get("mode", Mode.PAPER), top.get("feed", FeedKind.KITE)
    clock = top.get("clock", ClockKind.WALL)
    if clock is ClockKind.EXCHANGE:
        _check_exchange_clock(feed, kite, problems)
    if secrets.kite_proxy:
        try:
            _check_proxy_secret(secrets.kite_proxy)
        except ValueError as exc:
            problems.append(f"KITE_PROXY: {exc}")
    if mode is Mode.LIVE and feed is FeedKind.KITE:
        if not secrets.kite_api_key:
            problems.append("mode: live needs a Kite API key: set KITE_API_KEY in the "
                            "environment or .env (or kite.api_key)")
        if not secrets.kite_api_secret:
            problems.append("mode: live needs KITE_API_SECRET in the environment or .env")
    telegram = parts["telegram"]
    if "keyboard" in telegram:
        keyboard = _keyboard(telegram.pop("keyboard"), problems)
        if keyboard is not None:
            telegram["keyboard"] = keyboard
    if "charges" in defaults:
        tables = charge_tables(defaults.pop("charges"), problems)
        if tables is not None:
            defaults["charges"] = tables
    params = StrategyParams().with_overrides(
        {k: defaults.pop(k) for k in list(defaults) if k in PARAM_KEYS or k in declared})
    return Settings(
        mode=mode,
        feed=feed,
        clock=clock,
        data_dir=_resolve(base_dir, top.get("data_dir", "./data")),
        log_level=top.get("log_level", "INFO"),
        record_ticks=(_resolve(base_dir, top["record_ticks"]) if top.get("record_ticks")
                      else None),
        kite=KiteConfig(**kite),
        telegram=TelegramConfig(**telegram),
        defaults=Defaults(params=params, **defaults),
        instruments=instruments,
        groups=groups,
        risk=RiskConfig(**parts["risk"]),
        sim=SimConfig(**sim),
        paper=PaperConfig(**parts["paper"]),
        storage=_storage(parts["storage"], problems),
        schedule=schedule or ScheduleConfig(),
        secrets=secrets,
    )


# ---------------------------------------------------------------- entry points


def load_settings_from_dict(raw: Mapping[str, Any], schedule: ScheduleConfig,
                            env: Mapping[str, str] | None = None, *,
                            base_dir: Path | None = None) -> Settings:
    """Settings from an already parsed config (tests, embedded defaults). ``env`` None means
    ``os.environ``; relative paths are taken from ``base_dir`` (else left relative)."""
    environ = os.environ if env is None else env
    problems: list[str] = []
    secrets = _secrets(environ, "")
    with hiding(secrets.values()):
        settings = _build(raw, schedule, environ, base_dir, problems)
    if problems:
        raise ConfigError(_scrub(problems, secrets))
    return settings


def read_dotenv(path: Path, problems: list[str]) -> dict[str, str]:
    """KEY=VALUE lines (``#`` comments, optional ``export`` and quotes); bad lines are
    reported by number only, never by content."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        problems.append(f"{path}: cannot read")
        return out
    for number_, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            problems.append(f"{path}: line {number_}: expected KEY=VALUE")
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]
        out[key] = value
    return out


def load_settings(config_path: Path, schedules_path: Path,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the config file, the schedules file, the environment (``env`` None means
    ``os.environ``) and a ``.env`` beside the config; the real environment wins over ``.env``."""
    problems: list[str] = []
    raw: Any = None
    config_read = False
    try:
        raw = read_yaml(config_path)
        config_read = True
    except ConfigError as exc:
        hint = " (copy config.example.yaml to start)" if not config_path.exists() else ""
        problems.extend(p + hint for p in exc.problems)
    schedule: ScheduleConfig | None = None
    try:
        schedule = load_schedule(schedules_path)
    except ConfigError as exc:
        problems.extend(p if p.startswith(str(schedules_path)) else f"{schedules_path}: {p}"
                        for p in exc.problems)
    dotenv_path = config_path.parent / ".env"
    merged = read_dotenv(dotenv_path, problems) if dotenv_path.is_file() else {}
    environ = os.environ if env is None else env
    merged.update({k: v for k in SECRET_ENV if (v := environ.get(k, "").strip())})
    settings = Settings()
    secrets = _secrets(merged, "")
    if config_read:  # without a schedule, exchanges are not checked against its sessions
        with hiding(secrets.values()):
            settings = _build(raw, schedule, merged, config_path.resolve().parent, problems)
    if problems:
        raise ConfigError(_scrub(problems, secrets))
    return settings


def settings_or_report(config_path: Path, schedules_path: Path) -> Settings | None:
    """For the commands: the settings, or None after printing every problem to stderr."""
    try:
        return load_settings(config_path, schedules_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in the configuration", file=sys.stderr)
        return None


def check_config_command(config_path: Path, schedules_path: Path) -> int:
    """The offline part of ``python bot.py check-config``: 0 and a one-line summary, or 1
    and every problem (``handlers.check_cli`` adds the Kite access check)."""
    settings = settings_or_report(config_path, schedules_path)
    if settings is None:
        return 1
    print(config_summary(settings))
    return 0


def config_summary(settings: Settings) -> str:
    unresolved = sum(1 for i in settings.instruments if i.inline_instrument() is None)
    schedule = settings.schedule
    return (f"config OK: {_count(len(settings.instruments), 'instrument')} ({unresolved} to "
            f"resolve through the instruments dump), {_count(len(settings.groups), 'group')}, "
            f"mode {settings.mode.value}, feed {settings.feed.value}"
            f"{', clock exchange' if settings.clock is ClockKind.EXCHANGE else ''}; "
            f"schedules OK: "
            f"{_count(len(schedule.holidays), 'holiday')}, "
            f"{_count(len(schedule.special_sessions), 'special session')}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
