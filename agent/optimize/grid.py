"""``--grid KEY=a:b:step`` / ``--grid KEY=v1,v2``: the values of a search, and the settings of
each combination, validated by the config loader itself.

A value is applied as ``defaults.KEY`` of the loaded config (every instrument that does not
set the key itself gets it) and the whole config goes through ``load_settings_from_dict``
again, so a grid value is checked exactly as the config file's own would be, whatever keys
the strategy declares: a bad key or value is a ``GridError`` naming the ``--grid`` argument
and the loader's message. Each value's text is read by the config's YAML rules (``0.4`` is
an exact Decimal, ``true`` a boolean). Pure functions and plain data; any thread or process.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from agent.calendar import load_schedule
from agent.config import ConfigError, load_settings_from_dict
from agent.config_values import SECRET_ENV, read_yaml
from agent.settings import ScheduleConfig, Settings

MAX_COMBINATIONS = 10_000
_KEY = re.compile(r"[a-z_][a-z0-9_]*")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class GridError(ValueError):
    """A ``--grid`` argument that cannot be used; the message is one line naming it."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One searched key: its values as texts (in order) and, for a range, its bounds."""

    key: str
    values: tuple[str, ...]
    low: Decimal | None = None  # a:b:step only (optuna samples within it)
    high: Decimal | None = None
    step: Decimal | None = None

    @property
    def is_range(self) -> bool:
        return self.step is not None


Params = tuple[tuple[str, str], ...]  # ((key, value text), ...) in the axes' order


def parse_axis(arg: str) -> Axis:
    """``KEY=a:b:step`` (inclusive, exact decimal steps) or ``KEY=v1,v2,...``."""
    key, sep, spec = arg.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key:
        raise GridError(f"--grid {arg}: expected KEY=a:b:step or KEY=v1,v2,...")
    if not _KEY.fullmatch(key):
        raise GridError(f"--grid {arg}: {key!r} is not a config key of defaults")
    if not spec:
        raise GridError(f"--grid {arg}: no values")
    if ":" in spec:
        return _range_axis(arg, key, spec)
    values = tuple(v.strip() for v in spec.split(","))
    if any(not v for v in values):
        raise GridError(f"--grid {arg}: an empty value in the list")
    if len(set(values)) != len(values):
        raise GridError(f"--grid {arg}: a value is given twice")
    return Axis(key, values)


def _range_axis(arg: str, key: str, spec: str) -> Axis:
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) != 3:
        raise GridError(f"--grid {arg}: a range is a:b:step (three numbers)")
    nums: list[Decimal] = []
    for name, text in zip(("start", "end", "step"), parts, strict=True):
        if not _NUMBER.fullmatch(text):
            raise GridError(f"--grid {arg}: the {name} {text!r} is not a number")
        try:
            nums.append(Decimal(text))
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise GridError(f"--grid {arg}: the {name} {text!r} is not a number") from None
    low, high, step = nums
    if step <= 0:
        raise GridError(f"--grid {arg}: the step must be above 0")
    if high < low:
        raise GridError(f"--grid {arg}: the end {high} is below the start {low}")
    count = int((high - low) / step) + 1
    if count > MAX_COMBINATIONS:
        raise GridError(f"--grid {arg}: {count:,} values (at most {MAX_COMBINATIONS:,})")
    values = tuple(str(low + i * step) for i in range(count))
    return Axis(key, values, low, high, step)


def parse_grid(args: Sequence[str]) -> list[Axis]:
    """Every ``--grid``; a key given twice, or too many combinations, is a GridError."""
    axes = [parse_axis(a) for a in args]
    seen: set[str] = set()
    for axis in axes:
        if axis.key in seen:
            raise GridError(f"--grid {axis.key}: given twice")
        seen.add(axis.key)
    total = 1
    for axis in axes:
        total *= len(axis.values)
    if total > MAX_COMBINATIONS:
        raise GridError(f"--grid: {total:,} combinations (at most {MAX_COMBINATIONS:,})")
    return axes


def combinations(axes: Sequence[Axis]) -> list[Params]:
    """Every combination, the first axis varying slowest."""
    return [tuple(zip((a.key for a in axes), values, strict=True))
            for values in itertools.product(*(a.values for a in axes))]


def yaml_value(text: str) -> Any:
    """``text`` read as a YAML scalar by the config file's own rules."""
    from agent.config_values import _StrictLoader  # the config file's loader, not a copy

    try:
        value = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError:
        return text
    return text if isinstance(value, (list, dict)) or value is None else value


@dataclass(frozen=True)
class ConfigBase:
    """A config file read once (the raw mapping, the schedule, the environment as
    ``load_settings`` merges it); ``settings(params)`` validates one combination."""

    path: Path
    raw: Mapping[str, Any]
    schedule: ScheduleConfig
    env: Mapping[str, str]

    @classmethod
    def load(cls, config: Path, schedules: Path) -> ConfigBase:
        """ConfigError as ``load_settings`` raises it (the file unchanged must load)."""
        from agent.config import read_dotenv

        problems: list[str] = []
        raw = read_yaml(config)
        schedule = load_schedule(schedules)
        dotenv = config.parent / ".env"
        env = read_dotenv(dotenv, problems) if dotenv.is_file() else {}
        env.update({k: v for k in SECRET_ENV if (v := os.environ.get(k, "").strip())})
        if problems:
            raise ConfigError(problems)
        if raw is None:
            raw = {}
        base = cls(config, raw, schedule, env)
        base.settings(())
        return base

    def settings(self, params: Params) -> Settings:
        """The settings with ``defaults.KEY = value`` for each of ``params``; ConfigError
        (the loader's, naming the key path) when one is not a valid value of its key."""
        raw = copy.deepcopy(dict(self.raw)) if isinstance(self.raw, Mapping) else self.raw
        if params:
            defaults = raw.get("defaults")
            defaults = dict(defaults) if isinstance(defaults, Mapping) else {}
            for key, text in params:
                defaults[key] = yaml_value(text)
            raw["defaults"] = defaults
        return load_settings_from_dict(raw, self.schedule, self.env,
                                       base_dir=self.path.resolve().parent)


def check_combinations(base: ConfigBase, axes: Sequence[Axis]) -> None:
    """Every value of every axis through the loader, before any backtest runs: a GridError
    naming the first bad one (one value at a time: a key's range does not depend on the
    others, so the product need not be loaded)."""
    for axis in axes:
        for text in axis.values:
            try:
                base.settings(((axis.key, text),))
            except ConfigError as exc:
                raise GridError(f"--grid {axis.key}={text}: {'; '.join(exc.problems)}") \
                    from None
