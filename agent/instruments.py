"""The Kite instruments dump (CSV) and resolving "EXCHANGE:TRADINGSYMBOL" names.

Pure functions and a read-only index; any thread may use a built ``InstrumentIndex``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from agent.models import Instrument
from agent.settings import InstrumentConfig

DUMP_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)

# Where the repository keeps a copy of Zerodha's sample dump (used by the simulator
# and the demo when no other file is configured).
BUNDLED_DUMP = Path(__file__).resolve().parent / "sim" / "data" / "instruments_nse.csv"


class InstrumentsError(ValueError):
    """A dump that cannot be read, or a symbol that cannot be resolved."""


class NotListed(InstrumentsError):
    """A well-formed symbol that the instrument list in use does not have."""


def parse_dump(text: str, source: str = "instruments") -> list[Instrument]:
    """Instruments from the text of a Kite instruments CSV; raises naming the bad line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("instrument_token", "tradingsymbol", "tick_size", "lot_size",
                           "exchange") if c not in (reader.fieldnames or ())]
    if missing:
        raise InstrumentsError(f"{source}: missing column(s) {', '.join(missing)}")
    out: list[Instrument] = []
    for row in reader:
        try:
            out.append(_instrument(row))
        except (ValueError, InvalidOperation) as exc:
            raise InstrumentsError(f"{source}: line {reader.line_num}: {exc}") from None
    return out


def _instrument(row: dict[str, str]) -> Instrument:
    tick = Decimal(row["tick_size"])
    if tick <= 0:
        raise ValueError(f"tick_size must be > 0, got {row['tick_size']!r}")
    lot = int(float(row["lot_size"] or 1))
    return Instrument(
        token=int(row["instrument_token"]),
        exchange=row["exchange"],
        tradingsymbol=row["tradingsymbol"],
        tick_size=tick,
        lot_size=max(lot, 1),
        segment=row.get("segment") or row["exchange"],
        instrument_type=row.get("instrument_type") or "EQ",
        name=row.get("name") or "",
        expiry=_expiry(row.get("expiry")),
    )


def _expiry(value: object) -> date | None:
    """The dump's expiry ('2024-12-26', or the date kiteconnect parsed); None when empty."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    return date.fromisoformat(text[:10]) if text else None


def load_dump(path: Path) -> list[Instrument]:
    """Read a dump file; a missing or unreadable file raises naming the path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstrumentsError(f"cannot read instruments file {path}: {exc.strerror}") from None
    return parse_dump(text, str(path))


def dump_csv(instruments: Iterable[Instrument]) -> str:
    """The Kite CSV text for instruments (what ``/instruments`` serves)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DUMP_COLUMNS)
    for ins in instruments:
        writer.writerow([ins.token, ins.token >> 8, ins.tradingsymbol, ins.name, "0.0",
                         ins.expiry.isoformat() if ins.expiry else "",
                         "0.0", ins.tick_size, ins.lot_size, ins.instrument_type,
                         ins.segment or ins.exchange, ins.exchange])
    return buf.getvalue()


class InstrumentIndex:
    """Lookup by token and by "EXCHANGE:TRADINGSYMBOL" (case-insensitive)."""

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._by_token: dict[int, Instrument] = {}
        self._by_symbol: dict[str, Instrument] = {}
        for ins in instruments:
            self.add(ins)

    def add(self, ins: Instrument) -> None:
        self._by_token[ins.token] = ins
        self._by_symbol[ins.symbol.upper()] = ins

    def by_token(self, token: int) -> Instrument | None:
        return self._by_token.get(token)

    def by_symbol(self, symbol: str) -> Instrument | None:
        return self._by_symbol.get(symbol.strip().upper())

    def resolve(self, symbol: str) -> Instrument:
        """The instrument of a symbol; raises InstrumentsError with a hint when unknown."""
        found = self.by_symbol(symbol)
        if found is None:
            if ":" not in symbol:
                raise InstrumentsError(f"{symbol!r}: expected EXCHANGE:TRADINGSYMBOL, "
                                       "for example NSE:INFY")
            raise NotListed(f"{symbol!r} is not in the instruments dump")
        return found

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_token.values())

    def __len__(self) -> int:
        return len(self._by_token)


def resolve_configured(configs: Iterable[InstrumentConfig],
                       index: Callable[[], InstrumentIndex]) -> list[Instrument]:
    """The configured instruments: inline ones as given, the others through ``index()``
    (called once, only when needed), with a configured ``freeze_quantity`` applied (Kite's
    dump has none). Every unknown symbol is named in one error."""
    out: list[Instrument] = []
    problems: list[str] = []
    found_index: InstrumentIndex | None = None
    for cfg in configs:
        if cfg.inline_instrument() is None and found_index is None:
            found_index = index()
        try:
            out.append(resolve_one(cfg, found_index or InstrumentIndex()))
        except InstrumentsError as exc:
            problems.append(str(exc))
    if problems:
        raise InstrumentsError("; ".join(problems))
    return out


def resolve_one(cfg: InstrumentConfig, index: InstrumentIndex) -> Instrument:
    """One configured instrument: inline as given, else through ``index`` with a configured
    ``freeze_quantity`` applied. Raises ``NotListed`` when the index lacks the symbol,
    ``InstrumentsError`` for anything else (a token the dump contradicts)."""
    inline = cfg.inline_instrument()
    if inline is not None:
        return inline
    found = index.resolve(cfg.symbol)
    if cfg.token is not None and cfg.token != found.token:
        raise InstrumentsError(f"{cfg.symbol}: token {cfg.token} given, but the dump says "
                               f"{found.token}")
    if cfg.freeze_quantity:
        found = replace(found, freeze_quantity=cfg.freeze_quantity)
    return found


def from_kite_rows(rows: Iterable[dict]) -> list[Instrument]:
    """Instruments from ``KiteConnect.instruments()`` rows (already parsed by the client)."""
    out = []
    for row in rows:
        out.append(Instrument(
            token=int(row["instrument_token"]), exchange=row["exchange"],
            tradingsymbol=row["tradingsymbol"], tick_size=Decimal(str(row["tick_size"])),
            lot_size=max(int(row.get("lot_size") or 1), 1),
            segment=row.get("segment") or row["exchange"],
            instrument_type=row.get("instrument_type") or "EQ", name=row.get("name") or "",
            expiry=_expiry(row.get("expiry"))))
    return out
