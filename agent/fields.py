"""Reading saved JSON back into typed values, field by field.

Whatever comes back from a data file (``state.json``, a candle line, ``session.json``) is
checked as it is read: every problem becomes one :class:`FieldError` naming the field's
path, e.g. ``orders[3].tag: missing`` or ``positions[0].realized: expected a finite
number, got 'NaN'``. The storage layer puts the file's name in front of it.

The converters take a JSON value and return it typed or raise ``ValueError`` ("expected
..., got ..."); :class:`Fields` adds the path. Values the agent writes always read back;
the converters are strict only about what no version of the agent writes (a quantity as
text, a NaN, a time without its UTC offset). Pure functions; any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")
Convert = Callable[[Any], Any]

_MISSING: Any = object()
# What a foreign ``from_dict`` raises on a bad value (its message then follows the path).
_READ_ERRORS = (KeyError, ValueError, TypeError, ArithmeticError, AttributeError, IndexError)


class FieldError(ValueError):
    """A saved value that cannot be used; ``path`` names it (``orders[3].tag``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


def at(path: str, key: str | int) -> str:
    """The path of ``key`` inside ``path``: ``orders`` + 3 is ``orders[3]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def shown(value: Any) -> str:
    """A short rendering of a bad value for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 42 else text[:39] + "..."


# ---------------------------------------------------------------- converters


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {shown(value)}")
    return value


def name(value: Any) -> str:
    """Non-empty text (a tag, a symbol)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected non-empty text, got {shown(value)}")
    return value


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


def whole(minimum: int | None = None) -> Convert:
    want = "expected a whole number" + ("" if minimum is None else f" >= {minimum}")

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{want}, got {shown(value)}")
        if minimum is not None and value < minimum:
            raise ValueError(f"{want}, got {value}")
        return value

    return convert


def decimal(minimum: int | None = None, *, above: bool = False) -> Convert:
    """A finite Decimal from its saved text (or a JSON number), optionally >= (>) minimum."""
    want = "expected a finite number" + (
        "" if minimum is None else f" {'>' if above else '>='} {minimum}")

    def convert(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{want}, got {shown(value)}")
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{want}, got {shown(value)}") from None
        if not result.is_finite() or (minimum is not None and (
                result < minimum or (above and result == minimum))):
            raise ValueError(f"{want}, got {shown(value)}")
        return result

    return convert


def stamp(value: Any) -> datetime:
    """An ISO date and time with its UTC offset (``2026-11-23T09:15:00+05:30``)."""
    want = "expected an ISO date and time with its UTC offset"
    if not isinstance(value, str):
        raise ValueError(f"{want}, got {shown(value)}")
    try:
        result = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{want}, got {shown(value)}") from None
    if result.tzinfo is None or result.utcoffset() is None:
        raise ValueError(f"{want}, got {shown(value)} (no offset)")
    return result


def day(value: Any) -> date:
    """An ISO date (``2026-11-23``)."""
    want = "expected a date YYYY-MM-DD"
    if not isinstance(value, str):
        raise ValueError(f"{want}, got {shown(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{want}, got {shown(value)}") from None


def member(kind: type[Enum]) -> Convert:
    """One of an enum's values, exactly as the agent writes it."""
    values = {str(m.value): m for m in kind}
    want = f"expected one of {', '.join(values)}"

    def convert(value: Any) -> Any:
        if not isinstance(value, str) or value not in values:
            raise ValueError(f"{want}, got {shown(value)}")
        return values[value]

    return convert


def optional(convert: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """``convert``, or None for a JSON null."""

    def either(value: Any) -> T | None:
        return None if value is None else convert(value)

    return either


# ---------------------------------------------------------------- objects


class Fields:
    """One saved JSON object at ``path``: read its fields, each error naming its path."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise FieldError(path, f"expected an object, got {shown(data)}")
        self.data: dict[str, Any] = data
        self.path = path

    def req(self, key: str, convert: Callable[[Any], T]) -> T:
        """A field that must be there."""
        if key not in self.data:
            raise FieldError(at(self.path, key), "missing")
        return self._convert(key, convert)

    def opt(self, key: str, convert: Callable[[Any], T], default: Any = None) -> T:
        """A field older files may lack (``default`` then); present, it must convert."""
        if key not in self.data:
            return default
        return self._convert(key, convert)

    def obj(self, key: str, *, default: Any = _MISSING) -> Fields:
        """A nested object (``default``, usually ``{}``, when absent or null)."""
        value = self.data.get(key)
        if value is None and default is not _MISSING:
            value = default
        elif key not in self.data:
            raise FieldError(at(self.path, key), "missing")
        return Fields(value, at(self.path, key))

    def items(self, key: str) -> list[tuple[str, Any]]:
        """(path, element) of a list field; absent or null is an empty list."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise FieldError(at(self.path, key), f"expected a list, got {shown(value)}")
        return [(at(at(self.path, key), i), element) for i, element in enumerate(value)]

    def _convert(self, key: str, convert: Callable[[Any], T]) -> T:
        try:
            return convert(self.data[key])
        except FieldError as exc:
            raise FieldError(at(self.path, key) + ("." + exc.path if exc.path else ""),
                             exc.problem) from None
        except ValueError as exc:
            raise FieldError(at(self.path, key), str(exc)) from None


def value_at(path: str, raw: Any, convert: Callable[[Any], T]) -> T:
    """One value (a list's element) converted, an error naming ``path``."""
    try:
        return convert(raw)
    except ValueError as exc:
        raise FieldError(path, str(exc)) from None


def token_key(path: str, key: Any) -> int:
    """An instrument token used as an object key (``"3861249"``)."""
    if not isinstance(key, str) or not key.isascii() or not key.isdigit():
        raise FieldError(path, f"key {shown(key)} is not an instrument token")
    return int(key)


@contextmanager
def guarded(path: str) -> Iterator[None]:
    """Turn what a foreign ``from_dict`` raises on bad data into a ``FieldError`` at
    ``path`` (``strategy.3861249: 'side' missing``)."""
    try:
        yield
    except FieldError as exc:
        raise FieldError(path, str(exc)) from None
    except KeyError as exc:
        raise FieldError(path, f"{exc.args[0]!r} missing") from None
    except _READ_ERRORS as exc:
        raise FieldError(path, f"{type(exc).__name__}: {exc}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "an object" if isinstance(value, dict) else "a list"


def same_kinds(path: str, given: Any, back: Any) -> None:
    """``given`` (as saved) against ``back`` (read and written again by its owner's
    ``from_dict``/``to_dict``): every field both have must be of the same JSON kind, so a
    value a lenient reader coerced (``"no"`` read as true, ``null`` as ``"None"``, ``"5"``
    as 5) is refused rather than silently changed. Fields only one side has are fine
    (older formats, defaults)."""
    if _kind(given) != _kind(back):
        raise FieldError(path, f"expected {_kind(back)}, got {shown(given)}")
    if isinstance(given, dict):
        for key in given.keys() & back.keys():
            same_kinds(at(path, key), given[key], back[key])
    elif isinstance(given, list) and len(given) == len(back):
        for i, (mine, theirs) in enumerate(zip(given, back, strict=True)):
            same_kinds(at(path, i), mine, theirs)
