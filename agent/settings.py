"""Typed, frozen settings: what ``agent.config`` produces from config.yaml, the
environment and schedules.yaml. The core reads these; it never reads YAML itself.

Secrets live in ``Secrets`` whose ``repr`` never shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from agent.charges import DEFAULT_TABLES, ChargeTable
from agent.models import Instrument, StopMode, TradeSide


class Mode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class FeedKind(StrEnum):
    KITE = "kite"
    SIM = "sim"


class ClockKind(StrEnum):
    """Whose time the agent runs on: the wall's (IST), or a standalone simulated exchange's
    (``bot.py exchange``, read from ``GET {kite.root}/sim/clock`` at start)."""

    WALL = "wall"
    EXCHANGE = "exchange"


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """The per-instrument knobs of docs/strategy.md section 1, fully resolved."""

    interval: int = 5
    percentage: Decimal = Decimal("0.5")
    lots: int = 1
    trade_side: TradeSide = TradeSide.BOTH
    trailing: bool = True
    reverse_on_stop: bool = True
    target_multiple: Decimal = Decimal(0)
    max_trades_per_day: int = 0
    profit_target: Decimal = Decimal(0)
    loss_limit: Decimal = Decimal(0)
    # the strategy: a built-in name or "/abs/path/file.py:Class" (agent/strategy/registry.py)
    strategy: str = "alert_breakout"
    # the values of parameters a strategy declares that are not fields above, sorted by key
    # (a tuple, so params stay hashable): read them with ``value``
    extra: tuple[tuple[str, Any], ...] = ()

    def with_overrides(self, overrides: Mapping[str, Any]) -> StrategyParams:
        """A copy with the given (already validated) keys replaced; keys that are not
        fields go to ``extra``."""
        if not overrides:
            return self
        known = {k: v for k, v in overrides.items() if k in PARAM_KEYS}
        other = {k: v for k, v in overrides.items() if k not in PARAM_KEYS and k != "extra"}
        other.update(overrides.get("extra", ()))  # pairs, as ``extra`` holds them
        if other:
            known["extra"] = tuple(sorted({**dict(self.extra), **other}.items()))
        return replace(self, **known) if known else self

    def value(self, key: str) -> Any:
        """A parameter by name, a field or a strategy's declared one (KeyError if neither)."""
        if key in PARAM_KEYS:
            return getattr(self, key)
        for name, value in self.extra:
            if name == key:
                return value
        raise KeyError(key)

    def with_defaults(self, declared: Mapping[str, Any]) -> StrategyParams:
        """A copy where each declared parameter (name -> Param) missing from ``extra``
        takes its default."""
        have = dict(self.extra)
        missing = {k: p.default for k, p in declared.items()
                   if k not in PARAM_KEYS and k not in have}
        return self.with_overrides(missing) if missing else self


PARAM_KEYS: frozenset[str] = frozenset(f.name for f in fields(StrategyParams)) - {"extra"}
INTERVALS: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 30, 60)


@dataclass(frozen=True, slots=True)
class Defaults:
    """The ``defaults`` section: strategy params plus account-wide order settings."""

    params: StrategyParams = field(default_factory=StrategyParams)
    product: str = "MIS"
    stop_mode: StopMode = StopMode.EXCHANGE
    slippage_ticks: int = 0
    stop_limit_buffer_ticks: int = 10  # exchange SL orders: limit = trigger -/+ this many ticks
    # Zerodha's charge tables, oldest first (agent/charges.py; ``defaults.charges``)
    charges: tuple[ChargeTable, ...] = DEFAULT_TABLES


@dataclass(frozen=True, slots=True)
class InstrumentConfig:
    """One entry of ``instruments``. ``overrides`` holds only the keys the entry gives.

    ``token``, ``tick_size`` and ``lot_size`` may be given inline; otherwise the
    instruments dump resolves the symbol.
    """

    symbol: str
    token: int | None = None
    tick_size: Decimal | None = None
    lot_size: int | None = None
    freeze_quantity: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def exchange(self) -> str:
        return self.symbol.split(":", 1)[0]

    @property
    def tradingsymbol(self) -> str:
        return self.symbol.split(":", 1)[1]

    def inline_instrument(self) -> Instrument | None:
        """The Instrument when token, tick_size and lot_size are all given inline."""
        if self.token is None or self.tick_size is None or self.lot_size is None:
            return None
        return Instrument(
            token=self.token,
            exchange=self.exchange,
            tradingsymbol=self.tradingsymbol,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            freeze_quantity=self.freeze_quantity or 0,
            segment=self.exchange,
        )


@dataclass(frozen=True, slots=True)
class GroupConfig:
    name: str
    instruments: tuple[str, ...]
    profit_target: Decimal = Decimal(0)
    loss_limit: Decimal = Decimal(0)


class LimitsOn(StrEnum):
    """What the P&L limits compare: the gross P&L, or the P&L net of charges (the open
    positions' estimated round-trip charges included)."""

    GROSS = "gross"
    NET = "net"


@dataclass(frozen=True, slots=True)
class RiskConfig:
    daily_profit_target: Decimal = Decimal(0)
    daily_loss_limit: Decimal = Decimal(0)
    limits_on: LimitsOn = LimitsOn.GROSS


@dataclass(frozen=True, slots=True)
class KiteConfig:
    api_key: str = ""
    root: str = "https://api.kite.trade"
    ws_root: str = "wss://ws.kite.trade"
    login_url: str = "https://kite.zerodha.com/connect/login"
    market_protection: int = -1
    instruments_file: str = ""  # optional local dump (CSV) used instead of downloading
    proxy: str = ""  # HTTP(S) proxy for REST calls (a static-IP egress); KITE_PROXY wins


# The reply keyboard's rows of buttons (``telegram.keyboard``); each is a command message.
DEFAULT_KEYBOARD: tuple[tuple[str, ...], ...] = (
    ("/status", "/positions", "/pnl"),
    ("/orders", "/trades", "/report"),
    ("/pause", "/resume", "/help"),
)


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    base_url: str = "https://api.telegram.org/bot"
    allowed_chat_ids: tuple[int, ...] = ()
    allowed_user_ids: tuple[int, ...] = ()
    keyboard: tuple[tuple[str, ...], ...] = DEFAULT_KEYBOARD  # (): no reply keyboard


@dataclass(frozen=True, slots=True)
class SimConfig:
    speed: float = 1.0
    seed: int = 7
    instruments_file: str = ""  # default: the bundled Kite instruments sample


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """``paper``: the paper account (``/funds`` and the margin alert in paper mode)."""

    capital: Decimal = Decimal(1_000_000)  # rupees at the start of each day (₹10 lakh)


@dataclass(frozen=True, slots=True)
class Secrets:
    """Credentials from the environment or .env. Never printed: repr hides values."""

    kite_api_key: str = ""
    kite_api_secret: str = ""
    kite_access_token: str = ""
    telegram_bot_token: str = ""
    kite_proxy: str = ""  # KITE_PROXY: a proxy URL that may carry a user and password
    redis_password: str = ""  # REDIS_PASSWORD: for storage.backend: redis

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if getattr(self, f.name) else ''}" for f in fields(self)
        )
        return f"Secrets({shown})"

    def values(self) -> tuple[str, ...]:
        """The non-empty secret strings, for log redaction (a proxy's password too)."""
        found = [v for v in (getattr(self, f.name) for f in fields(self)) if v]
        password = urlsplit(self.kite_proxy).password if self.kite_proxy else None
        return tuple(found + ([password] if password else []))

    def private(self) -> tuple[str, ...]:
        """The values no chat reply may show, not even in part: all of ``values`` but the
        API key, which is no secret (every login link carries it)."""
        return tuple(v for v in self.values() if v != self.kite_api_key)


@dataclass(frozen=True, slots=True)
class SessionHours:
    open: time
    close: time


@dataclass(frozen=True, slots=True)
class Holiday:
    day: date
    name: str
    exchanges: tuple[str, ...] = ()  # empty: every exchange with a session


@dataclass(frozen=True, slots=True)
class SpecialSession:
    """A one-day session (e.g. Muhurat trading) that replaces the regular hours of its
    exchanges on ``day``, even on a weekend or holiday. Unconfirmed ones are not traded."""

    day: date
    name: str
    open: time
    close: time
    exchanges: tuple[str, ...] = ()  # empty: every exchange with a session
    confirmed: bool = True


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """schedules.yaml: sessions per exchange, the day's job times, holidays."""

    timezone: str = "Asia/Kolkata"
    sessions: Mapping[str, SessionHours] = field(
        default_factory=lambda: MappingProxyType(
            {ex: SessionHours(time(9, 15), time(15, 30)) for ex in ("NSE", "NFO", "BSE", "BFO")}
        )
    )
    jobs: Mapping[str, time] = field(
        default_factory=lambda: MappingProxyType(
            {"entry_cutoff": time(15, 0), "square_off": time(15, 15)}
        )
    )
    holidays: tuple[Holiday, ...] = ()
    misfire_grace_seconds: int = 300
    special_sessions: tuple[SpecialSession, ...] = ()

    def session_for(self, exchange: str) -> SessionHours:
        """The session hours of an exchange (NSE's when the exchange has none listed)."""
        found = self.sessions.get(exchange)
        if found is not None:
            return found
        return self.sessions.get("NSE", SessionHours(time(9, 15), time(15, 30)))

    @property
    def entry_cutoff(self) -> time:
        return self.jobs.get("entry_cutoff", time(15, 0))

    @property
    def square_off(self) -> time:
        return self.jobs.get("square_off", time(15, 15))


class StorageBackend(StrEnum):
    TINYDB = "tinydb"  # state.json (TinyDB) and JSONL files in data_dir: the default
    REDIS = "redis"  # one Redis, shared by several agents (storage/redis_*.py)


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``storage``: where the state, candles and journal live (issue 16)."""

    backend: StorageBackend = StorageBackend.TINYDB
    redis_url: str = ""  # redis://host:6379/0, rediss://..., unix:///path/redis.sock
    account: str = "default"  # the key prefix on Redis: one per agent (its Kite user id)
    candle_ttl_days: int = 5  # candles and marks expire on Redis after this many days
    queue_limit: int = 100_000  # lines held while Redis is down; beyond, the oldest candles go


@dataclass(frozen=True, slots=True)
class Settings:
    mode: Mode = Mode.PAPER
    feed: FeedKind = FeedKind.KITE
    clock: ClockKind = ClockKind.WALL
    data_dir: Path = Path("./data")
    log_level: str = "INFO"
    record_ticks: Path | None = None  # the day's ticks written here (agent/tick_recorder.py)
    kite: KiteConfig = field(default_factory=KiteConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    defaults: Defaults = field(default_factory=Defaults)
    instruments: tuple[InstrumentConfig, ...] = ()
    groups: tuple[GroupConfig, ...] = ()
    risk: RiskConfig = field(default_factory=RiskConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    secrets: Secrets = field(default_factory=Secrets)
    storage: StorageConfig = field(default_factory=StorageConfig)

    @property
    def kite_proxy(self) -> str:
        """The proxy for Kite's REST calls: KITE_PROXY, else kite.proxy; "" for none."""
        return self.secrets.kite_proxy or self.kite.proxy
