"""Single configuration values: reading YAML, converting and checking one value, and
``ConfigError``, shared by ``agent.config`` (config.yaml, Telegram ``/set``) and
``agent.calendar`` (schedules.yaml). Converters take a value as YAML or a user gives it and
return it typed, or raise ``ValueError`` with a message such as
``expected a number >= 0, got 'abc'`` (the caller prefixes the key path).
Pure functions; any thread may call them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from agent.settings import INTERVALS

Convert = Callable[[Any], Any]
SECRET_ENV = ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ACCESS_TOKEN", "TELEGRAM_BOT_TOKEN",
              "KITE_PROXY")


class ConfigError(ValueError):
    """Everything wrong with a configuration: one line per item of ``problems``."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ---------------------------------------------------------------- YAML

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and leaves ``15:30`` a string (YAML 1.1 would
    read it as the base-60 integer 930)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(_INT, re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))
_StrictLoader.add_implicit_resolver(_FLOAT, re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def read_yaml(path: Path) -> Any:
    """The parsed YAML document at ``path``; ConfigError naming the path (and line) if not."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"]) \
            from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{path}: YAML error{where}: {exc.problem or exc.context}"]) \
            from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML error: {exc}"]) from None


# ---------------------------------------------------------------- single values


def describe(value: Any) -> str:
    """A short rendering of a bad value for an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple | set):
        return "a list"
    return str(value)


def number(minimum: int = 0, *, above: bool = False) -> Convert:
    """A Decimal (exact: 0.4 -> Decimal('0.4')) >= minimum (> with ``above``); not a bool."""
    want = f"expected a number {'>' if above else '>='} {minimum}"

    def convert(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError(f"{want}, got {describe(value)}")
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{want}, got {describe(value)}") from None
        if not result.is_finite() or result < minimum or (above and result == minimum):
            raise ValueError(f"{want}, got {describe(value)}")
        return result

    return convert


def whole(minimum: int | None = 0, maximum: int | None = None, want: str = "") -> Convert:
    """An int within [minimum, maximum]; digits in text are fine, bools and 2.5 are not."""
    if not want:
        want = "expected a whole number" + (f" >= {minimum}" if minimum is not None else "")

    def convert(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            result = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            result = int(value)
        else:
            raise ValueError(f"{want}, got {describe(value)}")
        if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
            raise ValueError(f"{want}, got {describe(value)}")
        return result

    return convert


def choice(options: Iterable[str], make: Callable[[str], Any] = str) -> Convert:
    """One of ``options`` in any case, returned as ``make(the option as spelled there)``."""
    canonical = {o.lower(): o for o in options}
    want = f"expected one of {', '.join(canonical.values())}"

    def convert(value: Any) -> Any:
        if not isinstance(value, str) or value.strip().lower() not in canonical:
            raise ValueError(f"{want}, got {describe(value)}")
        return make(canonical[value.strip().lower()])

    return convert


_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {describe(value)}")


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {describe(value)}")
    return value.strip()


def nonempty_text(value: Any) -> str:
    result = text(value)
    if not result:
        raise ValueError("expected text, got an empty string")
    return result


def quiet_text(value: Any) -> str:
    """Text whose value is never echoed (the API key)."""
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value.strip()


def url(*schemes: str) -> Convert:
    want = f"expected a {' or '.join(s + '://' for s in schemes)} URL"

    def convert(value: Any) -> str:
        if not isinstance(value, str) or not any(
                value.strip().startswith(s + "://") and len(value.strip()) > len(s) + 3
                for s in schemes):
            raise ValueError(f"{want}, got {describe(value)}")
        return value.strip()

    return convert


def proxy_url(value: Any) -> str:
    """An HTTP(S) proxy for Kite's REST calls, ``http://host:port``; empty: none. A user
    and password belong in the environment (KITE_PROXY), never in the file: the value is
    not echoed when it holds them."""
    if value is None or value == "":
        return ""
    want = "expected an http:// or https:// proxy URL such as http://10.0.0.5:3128"
    if not isinstance(value, str):
        raise ValueError(f"{want}, got {describe(value)}")
    text = value.strip()
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise ValueError("a proxy user and password do not belong in the config file: put "
                         "the whole URL in KITE_PROXY (environment or .env)")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ValueError(f"{want} (scheme, host and port), got {describe(value)}")
    return text


def id_list(value: Any) -> tuple[int, ...]:
    want = "expected a list of whole numbers (Telegram ids)"
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{want}, got {describe(value)}")
    item = whole(None, want=want)
    return tuple(item(v) for v in value)


def interval(value: Any) -> int:
    want = f"expected one of {', '.join(map(str, INTERVALS))}, got {describe(value)}"
    try:
        result = whole(None)(value)
    except ValueError:
        raise ValueError(want) from None
    if result not in INTERVALS:
        raise ValueError(want)
    return result


def symbol(value: Any) -> str:
    """'EXCHANGE:TRADINGSYMBOL', upper-cased (Kite trading symbols are upper case)."""
    if isinstance(value, str):
        exchange, sep, rest = value.strip().partition(":")
        if sep and exchange.strip() and rest.strip():
            return f"{exchange.strip().upper()}:{rest.strip().upper()}"
    raise ValueError(f'expected "EXCHANGE:TRADINGSYMBOL" such as "NSE:INFY", got {describe(value)}')


def as_is(value: Any) -> Any:
    return value


def hint(key: Any, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def section(raw: Any, path: str, spec: Mapping[str, Convert], problems: list[str]) -> dict:
    """Convert the keys of one mapping by ``spec``; every problem goes to ``problems``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"{path or 'top level'}: expected a mapping, got {describe(raw)}")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = join(path, key)
        convert = spec.get(key) if isinstance(key, str) else None
        if convert is None:
            if isinstance(key, str) and re.search(r"secret|token|password", key, re.I):
                problems.append(f"{where}: unknown key (secrets belong in the environment or "
                                f".env: {', '.join(SECRET_ENV)})")
            else:
                problems.append(f"{where}: unknown key{hint(key, spec)}")
            continue
        try:
            out[key] = convert(value)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return out
