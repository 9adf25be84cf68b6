"""Single configuration values: reading YAML, converting and checking one value, and
``ConfigError``, shared by ``agent.config`` (config.yaml, Telegram ``/set``) and
``agent.calendar`` (schedules.yaml). Converters take a value as YAML or a user gives it and
return it typed, or raise ``ValueError`` with a message such as
``expected a number 0..100, got 'abc'`` (the caller prefixes the key path).

A number is finite and within its key's range, and is written in plain digits 0-9 (an
optional sign, decimal point and ``_`` between digits): exponents (``1e5``), ``NaN``,
``inf``, ``-0``, other scripts' digits (``²``, ``٣``), more than 30 characters and more than
6 decimal places are refused. Pure functions; any thread may call them (``hiding`` is per
thread and task).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from agent.settings import INTERVALS

Convert = Callable[[Any], Any]
SECRET_ENV = ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ACCESS_TOKEN", "TELEGRAM_BOT_TOKEN",
              "KITE_PROXY", "REDIS_PASSWORD")


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

MAX_NUMBER_TEXT = 30  # characters; longer "numbers" are refused (no one types 31 digits)
MAX_DECIMALS = 6  # decimal places: more would be stored as 1E-7, which reads back as refused
_DIGITS = r"[0-9]+(?:_[0-9]+)*"  # ASCII digits only: \d would take '²' and '٣'
_WHOLE_TEXT = re.compile(rf"[-+]?{_DIGITS}")
_NUMBER_TEXT = re.compile(rf"[-+]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})")


def _yaml_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | str:
    """A plain decimal integer as an int; anything else the resolver took for one (octal
    ``010``, ``0x1F``, ``-0``, dozens of digits) stays its text, for the key's converter to
    refuse or read as decimal digits."""
    text = str(loader.construct_scalar(node))
    if (len(text) > MAX_NUMBER_TEXT or not _WHOLE_TEXT.fullmatch(text)
            or re.fullmatch(r"[-+]?0[0-9_]+|-0", text)):
        return text
    return int(text.replace("_", ""))


def _yaml_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | str:
    """A plain decimal fraction as an exact Decimal (``0.4`` is 0.4, never a float);
    exponents, ``.inf``, ``.nan`` and overlong ones stay their text (refused as numbers)."""
    text = str(loader.construct_scalar(node))
    if len(text) > MAX_NUMBER_TEXT or not _NUMBER_TEXT.fullmatch(text):
        return text
    return Decimal(text.replace("_", ""))


_StrictLoader.add_constructor(_INT, _yaml_int)
_StrictLoader.add_constructor(_FLOAT, _yaml_float)


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
    except RecursionError:  # thousands of nested [ or {: no configuration looks like that
        raise ConfigError([f"{path}: YAML error: nested too deeply"]) from None


# ---------------------------------------------------------------- single values


_HIDDEN: ContextVar[tuple[str, ...]] = ContextVar("config_values_hidden", default=())
SECRET_PIECE = 8  # a run of this many characters of a long secret is masked too
_SHOWN = 40  # characters of a bad text value shown in a message


@contextmanager
def hiding(secrets: Iterable[str]) -> Iterator[None]:
    """Within the block (this thread or task), ``describe`` masks these secret values, and
    every piece of ``SECRET_PIECE`` characters of a long one, before it shortens a value."""
    token = _HIDDEN.set((*_HIDDEN.get(), *(s for s in secrets if s)))
    try:
        yield
    finally:
        _HIDDEN.reset(token)


def mask(text: str, secrets: Iterable[str] | None = None, *, pieces: bool = True) -> str:
    """``text`` with each secret (default: those of the enclosing ``hiding``) as ``***``,
    and (``pieces``) each run of ``SECRET_PIECE`` or more characters copied from a long
    secret (16+ characters: tokens, the API secret) too, so no part of one survives a cut.
    Meant for a value a person gave; a whole message is masked with ``pieces=False`` (its
    own words may share a piece with a secret). A proxy URL is masked whole only (its
    password is a secret of its own). Case is ignored: an upper-cased token (a symbol is
    upper-cased) is still the token."""
    hidden = _hidden(secrets)
    text = _mask_whole(text, hidden)
    if not pieces:
        return text
    found = {s[i:i + SECRET_PIECE].casefold() for s in hidden
             if len(s) >= 16 and "://" not in s for i in range(len(s) - SECRET_PIECE + 1)}
    if not found or len(text) < SECRET_PIECE:
        return text
    folded = text.casefold()
    if len(folded) != len(text):  # a rare letter that folds to two: fold one by one
        folded = "".join(c if len(c.casefold()) != 1 else c.casefold() for c in text)
    covered = [False] * len(text)
    for i in range(len(text) - SECRET_PIECE + 1):
        if folded[i:i + SECRET_PIECE] in found:
            covered[i:i + SECRET_PIECE] = [True] * SECRET_PIECE
    out: list[str] = []
    for i, char in enumerate(text):
        if not covered[i]:
            out.append(char)
        elif i == 0 or not covered[i - 1]:
            out.append("***")
    return "".join(out)


def _hidden(secrets: Iterable[str] | None) -> list[str]:
    found = _HIDDEN.get() if secrets is None else secrets
    return sorted({s for s in found if len(s) >= 6}, key=len, reverse=True)


def _mask_whole(text: str, hidden: list[str]) -> str:
    for secret in hidden:
        text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


def describe(value: Any) -> str:
    """A short rendering of a bad value for an error message; secrets (``hiding``) are
    masked before the value is shortened, so no part of one is shown."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value
        if _HIDDEN.get():  # whole secrets first (any length), then pieces (of the start)
            shown = mask(_mask_whole(value, _hidden(None))[:10_000])
        return repr(shown if len(shown) <= _SHOWN else shown[:_SHOWN - 3] + "...")
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple | set):
        return "a list"
    if isinstance(value, int) and value.bit_length() > 100:
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    if isinstance(value, Decimal) and value.is_finite() and abs(value.adjusted()) > 30:
        return f"{value:.3E}"
    return str(value)


def _decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a YAML or typed value, or None. Text must be plain digits
    (``_NUMBER_TEXT``, at most ``MAX_NUMBER_TEXT`` characters); -0 is refused."""
    result: Decimal
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if value.bit_length() > 128:
            return None
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT or not _NUMBER_TEXT.fullmatch(text):
            return None
        result = Decimal(text.replace("_", ""))
    else:
        return None
    if not result.is_finite() or (result.is_zero() and result.is_signed()):
        return None
    return result


def _plain(value: Decimal) -> Decimal | None:
    """``value`` (within a range, so small) in a form whose ``str`` has no exponent, or None
    for more than ``MAX_DECIMALS`` decimal places: what is accepted is stored as ``str`` and
    must read back by the same rules (``0.0000001`` would be stored as ``1E-7``)."""
    exponent = int(value.as_tuple().exponent)
    if exponent < -MAX_DECIMALS:
        value = value.normalize()  # trailing zeros: 0.50000000 is 0.5
        exponent = int(value.as_tuple().exponent)
        if exponent < -MAX_DECIMALS:
            return None
    return value.quantize(Decimal(1)) if exponent > 0 else value


def _shown(bound: Decimal | int) -> str:
    return f"{bound:f}" if isinstance(bound, Decimal) else str(bound)


class Number:
    """Converter: an exact Decimal within [minimum, maximum] (above ``minimum`` with
    ``above``). ``expects`` reads like ``a number 0..100``; messages and docs quote it."""

    def __init__(self, minimum: Decimal | int | str, maximum: Decimal | int | str, *,
                 above: bool = False) -> None:
        self.minimum, self.maximum = Decimal(minimum), Decimal(maximum)
        self.above = above
        low, high = _shown(self.minimum), _shown(self.maximum)
        self.expects = (f"a number above {low} and up to {high}" if above
                        else f"a number {low}..{high}")

    def __call__(self, value: Any) -> Decimal:
        result = _decimal(value)
        if (result is None or result < self.minimum or result > self.maximum
                or (self.above and result == self.minimum)):
            raise ValueError(f"expected {self.expects}, got {describe(value)}")
        plain = _plain(result)
        if plain is None:
            raise ValueError(f"expected {self.expects} with at most {MAX_DECIMALS} decimal "
                             f"places, got {describe(value)}")
        return plain


class Whole:
    """Converter: an int within [minimum, maximum] (None: no bound); digits 0-9 in text are
    fine, bools, 2.5 and -0 are not. ``expects`` reads like ``a whole number 1..10000``."""

    def __init__(self, minimum: int | None = 0, maximum: int | None = None,
                 want: str = "") -> None:
        self.minimum, self.maximum = minimum, maximum
        if minimum is not None and maximum is not None:
            self.expects = f"a whole number {minimum}..{maximum}"
        elif minimum is not None:
            self.expects = f"a whole number >= {minimum}"
        else:
            self.expects = "a whole number"
        self.want = want or f"expected {self.expects}"

    def __call__(self, value: Any) -> int:
        result: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            result = value
        elif isinstance(value, str):
            text = value.strip()
            if len(text) <= MAX_NUMBER_TEXT and _WHOLE_TEXT.fullmatch(text):
                result = int(text.replace("_", ""))
                if result == 0 and text.startswith("-"):
                    result = None
        if (result is None or (self.minimum is not None and result < self.minimum)
                or (self.maximum is not None and result > self.maximum)):
            raise ValueError(f"{self.want}, got {describe(value)}")
        return result


def number(minimum: Decimal | int | str, maximum: Decimal | int | str, *,
           above: bool = False) -> Number:
    """A Decimal (exact: 0.4 -> Decimal('0.4')) in [minimum, maximum] (> minimum with
    ``above``); not a bool, not NaN or infinite, no exponent."""
    return Number(minimum, maximum, above=above)


def whole(minimum: int | None = 0, maximum: int | None = None, want: str = "") -> Whole:
    """An int within [minimum, maximum]; digits 0-9 in text are fine, bools and 2.5 are
    not."""
    return Whole(minimum, maximum, want)


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


def redis_url(value: Any) -> str:
    """Where Redis is: ``redis://host:port/db``, ``rediss://`` (TLS) or
    ``unix:///path/redis.sock``; empty: none. A password belongs in REDIS_PASSWORD (environment or
    .env), never in the file: the value is not echoed when it holds one."""
    want = ("expected a redis://host:port/db, rediss://host:port/db or "
            "unix:///path/to/redis.sock URL")
    if value is None or value == "":
        return ""  # none (storage.backend: tinydb)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{want}, got {describe(value)}")
    parts = urlsplit(value.strip())
    if parts.password is not None:
        raise ValueError("a Redis password does not belong in the config file: put it in "
                         "REDIS_PASSWORD (environment or .env)")
    if parts.scheme == "unix":
        if not parts.path.startswith("/"):
            raise ValueError(f"{want}: a unix socket needs an absolute path, got "
                             f"{describe(value)}")
        return value.strip()
    try:
        parts.port  # noqa: B018 (raises for a port that is not a number 0..65535)
    except ValueError:
        raise ValueError(f"{want}: the port is not a number 0..65535, got "
                         f"{describe(value)}") from None
    db = parts.path.strip("/")
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or (
            db and not (db.isascii() and db.isdigit())):
        raise ValueError(f"{want}, got {describe(value)}")
    return value.strip()


_ACCOUNT = re.compile(r"[A-Za-z0-9_-]{1,40}")


def account_name(value: Any) -> str:
    """The agent's name on a shared Redis (its Kite user id, say AB1234): 1 to 40 letters,
    digits, '_' or '-' (it is part of every key)."""
    if not isinstance(value, str) or not _ACCOUNT.fullmatch(value):
        raise ValueError(f"expected 1 to 40 letters, digits, '_' or '-' (your Kite user id, "
                         f"say AB1234), got {describe(value)}")
    return value


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
