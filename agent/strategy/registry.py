"""Which strategy a name means: a built-in (``alert_breakout``, ``opening_range``) or a
trader's own class in a file (``strategies/mine.py:MyStrategy``).

``load(ref)`` gives the class, checked (its methods, its declared parameters) and
instantiable with no arguments; ``StrategyLoadError`` says in one line what is wrong (the
file is missing, a syntax error at line 3, no such class, a missing method, a bad default).
A file is imported once per modification: every instrument and every backtest of a run share
the class. The config loader (``check-config`` included) loads every strategy it names, so a
strategy that cannot load stops the agent before it starts. Any thread; the import itself
holds a lock.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from agent.strategy.kit import CandleStrategy
from agent.strategy.kit_state import check_state
from agent.strategy.params import StrategyDefinitionError, declared

DEFAULT = "alert_breakout"

# What the engine calls (agent/strategy/base.py ``Strategy``); the kit (agent/strategy/kit.py)
# provides them all for a strategy written on it.
REQUIRED = ("new_state", "on_candle", "on_tick", "stopped_out", "stop_reason", "set_params",
            "position", "alerts", "entry_filled", "entry_rejected", "exit_rejected",
            "force_flat", "armed", "reset_day", "to_dict", "version", "restore")


class StrategyLoadError(ValueError):
    """A strategy reference that cannot be used; the message is one line."""


def builtins() -> dict[str, type]:
    """The built-in strategies by name."""
    from agent.strategy.alert_breakout import AlertBreakout
    from agent.strategy.opening_range import OpeningRange

    return {AlertBreakout.name: AlertBreakout, OpeningRange.name: OpeningRange}


_lock = threading.Lock()
_files: dict[tuple[str, int], type] = {}  # (resolved "path:Class", mtime_ns) -> class


def resolve_ref(ref: str, base_dir: Path | None) -> str:
    """A file reference made absolute against ``base_dir`` (the config's directory); a
    built-in name as it is."""
    path_text, sep, cls = ref.rpartition(":")
    if not sep or ref.strip() in builtins():
        return ref.strip()
    path = Path(path_text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return f"{path}:{cls}"


def load(ref: str) -> type:
    """The strategy class ``ref`` names (see the module docstring)."""
    name = ref.strip()
    known = builtins()
    if name in known:
        return known[name]
    path_text, sep, cls_name = name.rpartition(":")
    if not sep or not path_text.endswith(".py") or not cls_name.isidentifier():
        raise StrategyLoadError(
            f"{ref!r}: expected a built-in strategy ({', '.join(known)}) or "
            "path/to/file.py:ClassName")
    path = Path(path_text)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise StrategyLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    key = (f"{path.resolve()}:{cls_name}", mtime)
    with _lock:
        cls = _files.get(key)
        if cls is None:
            cls = check_class(getattr(_import(path), cls_name, None), path, cls_name)
            _files[key] = cls
    return cls


def _import(path: Path) -> Any:
    module_name = f"user_strategy_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StrategyLoadError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise StrategyLoadError(f"{path}: line {exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise StrategyLoadError(f"{path}: {_where(exc, path)}{type(exc).__name__}: {exc}"
                                ) from None
    return module


def _where(exc: BaseException, path: Path) -> str:
    """``line N: `` of the deepest frame in ``path``, or ""."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__)
             if Path(f.filename) == path]
    return f"line {lines[-1]}: " if lines else ""


def check_class(cls: Any, path: Path | str, cls_name: str) -> type:
    """``cls`` if it is a usable strategy class, else StrategyLoadError saying why."""
    if not isinstance(cls, type):
        raise StrategyLoadError(f"{path}: no class {cls_name}")
    missing = [m for m in REQUIRED if not callable(getattr(cls, m, None))]
    if missing:
        raise StrategyLoadError(
            f"{path}:{cls_name} is not a strategy: missing {', '.join(missing)} (subclass "
            "agent.strategy.kit.CandleStrategy: docs/strategies.md)")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        raise StrategyLoadError(f"{path}:{cls_name}: needs a name (name = \"my_strategy\")")
    try:
        declared(cls)
    except StrategyDefinitionError as exc:
        raise StrategyLoadError(f"{path}:{cls_name}: {exc}") from None
    why = check_state(cls.State) if issubclass(cls, CandleStrategy) else ""
    if why:
        raise StrategyLoadError(f"{path}:{cls_name}: {why}")
    try:
        cls()
    except Exception as exc:
        raise StrategyLoadError(f"{path}:{cls_name}(): {type(exc).__name__}: {exc}") from None
    return cls
