"""Which keys a config section, a ``/set`` or a saved override may carry, given the
strategies in use: the engine's keys for every instrument, plus the parameters its strategy
declares (agent/strategy/params.py). The config loader, the engine's ``/set`` and a restart's
saved settings all check values here, so the rules are the same everywhere. Any thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agent.config_values import Convert, join, nonempty_text
from agent.strategy import registry
from agent.strategy.params import Param, declared


def strategy_key(base_dir: Path | None) -> Convert:
    """The converter of a ``strategy`` key: a built-in name or ``file.py:Class`` (relative
    to ``base_dir``), loaded and checked now; the resolved reference is the value."""

    def convert(value: Any) -> str:
        ref = registry.resolve_ref(nonempty_text(value), base_dir)
        registry.load(ref)  # StrategyLoadError is a ValueError: the key path is added
        return ref

    return convert


def declared_of(ref: str) -> Mapping[str, Param]:
    """The parameters ``ref``'s strategy declares ({} when it cannot load: the ``strategy``
    key's own check reports that)."""
    try:
        return declared(registry.load(ref))
    except ValueError:
        return {}


def joint(params: Iterable[Param]) -> Convert:
    """One converter for a key several strategies declare: every one must accept the value
    (``defaults`` applies to instruments of each); the first one's result is the value."""
    found = list(params)
    if len(found) == 1:
        return found[0].convert

    def convert(value: Any) -> Any:
        results = [p.convert(value) for p in found]
        return results[0]

    return convert


def keys_for(refs: Iterable[str]) -> dict[str, Convert]:
    """The declared parameters of the strategies ``refs`` name, as converters."""
    by_key: dict[str, list[Param]] = {}
    for ref in dict.fromkeys(refs):
        for key, param in declared_of(ref).items():
            by_key.setdefault(key, []).append(param)
    return {key: joint(found) for key, found in by_key.items()}


def refs_in(raw: Any, base_dir: Path | None) -> tuple[str, list[str]]:
    """From a raw config mapping: the default strategy's reference and every instrument's
    own (each resolved; what does not even read as a reference is left to the key checks)."""
    def ref_of(section: Any, fallback: str) -> str:
        value = section.get("strategy") if isinstance(section, Mapping) else None
        if not isinstance(value, str) or not value.strip():
            return fallback
        return registry.resolve_ref(value, base_dir)

    defaults = raw.get("defaults") if isinstance(raw, Mapping) else None
    default = ref_of(defaults, registry.DEFAULT)
    entries = raw.get("instruments") if isinstance(raw, Mapping) else None
    own = [ref_of(e, default) for e in entries] if isinstance(entries, list) else []
    return default, own


def builtin_keys() -> dict[str, Convert]:
    """Every built-in strategy's parameters (the keys ``defaults`` always accepts)."""
    return keys_for(registry.builtins())


def owner_of(key: str, refs: Iterable[str]) -> list[str]:
    """The names of the strategies among ``refs`` (and the built-ins) declaring ``key``."""
    names = []
    for ref in dict.fromkeys([*registry.builtins(), *refs]):
        try:
            cls = registry.load(ref)
        except ValueError:
            continue
        if key in declared(cls):
            names.append(cls.name)
    return names


def own_keys(entry: Mapping[str, Any], where: str, spec: Mapping[str, Convert], ref: str,
             problems: list[str], in_use: list[str]) -> Mapping[str, Any]:
    """``entry`` without the parameters of strategies other than its own (built-in or
    ``in_use``), each reported (``instruments[1].percentage: not a parameter of
    opening_range ...``)."""
    others = {k for k in entry if isinstance(k, str) and k not in spec
              and owner_of(k, in_use)}
    if not others:
        return entry
    try:
        name = registry.load(ref).name
    except ValueError:  # its ``strategy`` key reports that; its other keys wait for it
        return {k: v for k, v in entry.items() if k not in others}
    mine = declared_of(ref)
    for key in sorted(others):
        problems.append(f"{join(where, key)}: not a parameter of {name} (it is "
                        f"{' and '.join(owner_of(key, in_use))}'s); {name}'s own: "
                        f"{', '.join(mine) or 'none'}")
    return {k: v for k, v in entry.items() if k not in others}
