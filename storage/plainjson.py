"""Plain JSON values only: the check and the one-line encoder shared by the storage modules.

Callers pre-serialise (Decimal -> str, datetime -> ``isoformat()``, enums -> ``.value``),
so the storage accepts exactly what survives a JSON round trip unchanged: ``None``, ``bool``,
``int``, finite ``float``, ``str``, ``list`` and ``dict`` with ``str`` keys (subclasses
such as a ``StrEnum`` member pass: they are written as, and compare equal to, their value).
Anything else (a ``Decimal``, a ``datetime``, a tuple that would come back as a list, an
``int`` key that would come back as a ``str``, NaN) is a bug in the caller and raises
:class:`NotPlainJSON`, whose message names the key path, so it surfaces in tests instead of
in a restart.

Pure functions; any thread.
"""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import Any

_SCALARS = (str, int, bool, type(None))


class NotPlainJSON(TypeError):
    """A value that is not a plain JSON type; ``path`` says where it was found."""

    def __init__(self, where: str, path: str, value: Any, hint: str) -> None:
        self.path = path
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(
            f"{where}: {path or '<root>'}: {type(value).__name__} value {shown} "
            f"is not plain JSON; {hint}"
        )


def _hint(value: Any) -> str:
    name = type(value).__name__
    if name == "Decimal":
        return "serialise Decimals as str before storing"
    if name in ("datetime", "date", "time"):
        return "serialise times with isoformat() before storing"
    if isinstance(value, tuple):
        return "use a list (a tuple would come back as a list)"
    if isinstance(value, float):
        return "NaN and infinities have no JSON form"
    if isinstance(value, Enum):
        return "store an enum's .value"
    return "store str, int, float, bool, None, list or dict only"


# A key path is built only when something is wrong: the walk carries a linked chain
# (parent_chain, key) per value and renders it on error, so a clean walk formats nothing.
_Chain = tuple[Any, str | int] | None


def _render(chain: _Chain, root: str) -> str:
    keys: list[str | int] = []
    while chain is not None:
        chain, key = chain
        keys.append(key)
    path = root
    for key in reversed(keys):
        if isinstance(key, int):
            path += f"[{key}]"
        elif key.isidentifier():
            path = f"{path}.{key}" if path else key
        else:
            path += f"[{key!r}]"
    return path


def _exact(value: Any) -> bool:
    """Fast path: True when ``value`` is made of the exact builtin JSON types only."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            sub = type(item)
            if sub is str or sub is int or sub is bool or item is None:
                continue
            if sub is float:
                if item - item != 0.0:  # NaN or an infinity
                    return False
            elif not _exact(item):
                return False
        return True
    if kind is list:
        for item in value:
            sub = type(item)
            if sub is str or sub is int or sub is bool or item is None:
                continue
            if sub is float:
                if item - item != 0.0:
                    return False
            elif not _exact(item):
                return False
        return True
    if kind is float:
        return value - value == 0.0
    return kind is str or kind is int or kind is bool or value is None


def check_plain_json(value: Any, where: str, path: str = "") -> None:
    """Raise :class:`NotPlainJSON` naming the key path of a non-JSON value.

    ``where`` names the thing being stored (e.g. the file) and ``path`` the position of
    ``value`` inside it, both for the message.
    """
    # The exact-type walk is about three times faster; only when it finds something else
    # (a subclass, or a real problem) does the full walk run, to accept or to name the path.
    try:
        exact = _exact(value)
    except RecursionError:  # very deep nesting: the iterative walk copes
        exact = False
    if not exact:
        _walk(value, where, path)


def _walk(value: Any, where: str, path: str) -> None:
    """The full check: accepts subclasses, raises naming the key path."""
    # Iterative walk: deep structures cannot hit the recursion limit.
    stack: list[tuple[Any, _Chain]] = [(value, None)]
    while stack:
        item, chain = stack.pop()
        if type(item) in _SCALARS or isinstance(item, str | int):  # bool and enums are int/str
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise NotPlainJSON(where, _render(chain, path), item, _hint(item))
        elif isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    at = _render(chain, path) + f"[{key!r}]"
                    raise NotPlainJSON(where, at, key, "dict keys must be str")
                stack.append((sub, (chain, key)))
        elif isinstance(item, list):
            stack.extend((sub, (chain, i)) for i, sub in enumerate(item))
        else:
            raise NotPlainJSON(where, _render(chain, path), item, _hint(item))


def dumps_line(record: Any, where: str) -> str:
    """``record`` checked and encoded as one compact JSON line ending in a newline."""
    check_plain_json(record, where)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
