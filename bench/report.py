"""The benchmark table (plain text or Markdown) and the goal verdicts, from a results dict.

A results dict is what ``python -m bench`` writes to results.json: ``machine``, ``quick``,
``parts`` (part name -> its ``run`` dict, or None), ``not_measured`` and ``errors`` (part
name -> why). Rendering needs nothing but that dict, so a saved file can be re-rendered
(``python -m bench --from bench/results.json --markdown``). Pure functions, any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass
from typing import Any

from bench import PARTS
from bench.machine import one_line

NOT_YET = "not yet measured ({why})"
HEAD = ("part", "case", "measured", "baseline (same run)", "ratio", "goal", "verdict")


@dataclass(frozen=True, slots=True)
class Row:
    part: str
    case: str
    measured: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    verdict: str = ""


@dataclass(frozen=True, slots=True)
class Goal:
    """One of issue 6's goals: ``figure`` picks the measured value from the part's dict."""

    part: str
    text: str
    figure: Callable[[dict[str, Any]], float]
    limit: float
    higher_is_better: bool
    unit: str


GOALS: tuple[Goal, ...] = (
    Goal("parse", ">= 10x KiteTicker (full mode)", lambda r: r["full"]["ratio"], 10.0, True,
         "x"),
    Goal("engine", ">= 300,000 ticks/s at 500 instruments",
         lambda r: r["sizes"]["500"]["ticks_per_s"], 300_000, True, " ticks/s"),
    Goal("latency", "p99 < 5 ms", lambda r: r["p99_ms"], 5.0, False, " ms"),
    Goal("scale", "peak RSS < 400 MB", lambda r: r["peak_rss_mb"], 400.0, False, " MB"),
    Goal("backtest", "< 15 s for 2.25M ticks", lambda r: r["wall_s"], 15.0, False, " s"),
    Goal("charts", "< 1 s per chart", lambda r: r["candle"]["seconds"], 1.0, False, " s"),
)


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}".rstrip("0").rstrip(".")


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with its measured value, whether it was met, and by how much it was missed
    (a fraction of the goal); None where the part was not measured, and in a quick run,
    whose figures are not measurements."""
    quick = bool(results.get("quick"))
    out = []
    for goal in GOALS:
        data = results.get("parts", {}).get(goal.part)
        value: float | None = None
        if data is not None:
            try:
                value = float(goal.figure(data))
            except (KeyError, TypeError, ValueError):
                value = None
        met = None if value is None or quick else (
            value >= goal.limit if goal.higher_is_better else value < goal.limit)
        missed_by = None
        if met is False and value is not None:
            missed_by = round(abs(value - goal.limit) / goal.limit, 3)
        out.append({"part": goal.part, "goal": goal.text, "measured": value, "met": met,
                    "missed_by": missed_by})
    return out


def _verdict_text(v: dict[str, Any], quick: bool) -> str:
    if v["measured"] is None:
        return "not measured"
    if quick:
        return "not judged (quick)"
    return "met" if v["met"] else f"MISSED by {v['missed_by']:.0%}"


# ------------------------------------------------------------------ rows per part

_PARSE_CASES = (("full", "full mode"), ("quote", "quote mode"), ("ltp", "ltp mode"),
                ("full_depth_read", "full, depth read"),
                ("full_unique_prices", "full, every price new"))


def _parse(r: dict[str, Any]) -> Iterator[Row]:
    for key, label in _PARSE_CASES:
        case = r[key]
        frames = f" ({r['packets_per_frame']}-packet frames)" if key == "full" else ""
        yield Row("parse", label + frames,
                  f"{_num(case['ours_ticks_per_s'])} ticks/s",
                  f"KiteTicker {_num(case['kite_ticks_per_s'])} ticks/s",
                  f"{case['ratio']:.1f}x", ">= 10x" if key == "full" else "")


def _engine(r: dict[str, Any]) -> Iterator[Row]:
    for n, s in r["sizes"].items():
        goal = ">= 300,000 ticks/s" if n == str(r["goal_size"]) else ""
        yield Row("engine", f"{int(n):,} instruments ({s['ticks']:,} ticks, 1 per "
                  f"{s['seconds_between_ticks']} s each)",
                  f"{_num(s['ticks_per_s'])} ticks/s",
                  f"JSON file per tick: {_num(s['baseline_ticks_per_s'])} ticks/s",
                  f"{s['ratio']:.0f}x", goal)


def _latency(r: dict[str, Any]) -> Iterator[Row]:
    yield Row("latency", f"frame out -> order in, {r['instruments']:,} instruments",
              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms",
              goal="p99 < 5 ms")


def _scale(r: dict[str, Any]) -> Iterator[Row]:
    yield Row("scale", f"{r['instruments']:,} instruments, {r['connections']} connections, "
              f"{r['simulated_minutes']} min",
              f"peak RSS {r['peak_rss_mb']:.0f} MB, CPU {r['cpu_share']:.0%}, "
              f"inbox <= {r['max_inbox_depth']:,}", goal="RSS < 400 MB")


def _storage(r: dict[str, Any]) -> Iterator[Row]:
    ours = r["state_saves_per_s"]
    yield Row("storage", "state save (atomic TinyDB, single writer)", f"{_num(ours)} saves/s",
              f"TinyDB default JSONStorage {_num(r['tinydb_default_saves_per_s'])} saves/s",
              f"{ours / r['tinydb_default_saves_per_s']:.1f}x")
    yield Row("storage", "state save vs one plain JSONStorage.write", f"{_num(ours)} saves/s",
              f"{_num(r['jsonstorage_single_write_per_s'])} writes/s (not atomic)",
              f"{ours / r['jsonstorage_single_write_per_s']:.2f}x")
    batched = r["candle_appends_per_s_batched"]
    yield Row("storage", "candle appends, batched flush", f"{_num(batched)} appends/s",
              f"flush each {_num(r['candle_appends_per_s_flush_each'])} appends/s",
              f"{batched / r['candle_appends_per_s_flush_each']:.1f}x")
    yield Row("storage", "candle append, engine side (enqueue)",
              f"{_num(r['candle_enqueue_per_s'])} appends/s")


def _backtest(r: dict[str, Any]) -> Iterator[Row]:
    yield Row("backtest", f"{r['instruments']} instruments x {r['session_minutes'] * 60:,} s "
              f"({r['rows']:,} ticks), run_backtest", f"{r['wall_s']:.1f} s "
              f"({_num(r['ticks_per_s'])} ticks/s)", goal="< 15 s (2.25M ticks)")
    yield Row("backtest", "  of it: the CSV read into ticks (TickFile alone)",
              f"{r['parse_only_s']:.1f} s ({_num(r['parse_only_ticks_per_s'])} ticks/s)",
              ratio=f"{r['parse_share']:.0%} of wall")
    yield Row("backtest", "  of it: the engine alone on those ticks",
              f"{r['engine_only_s']:.1f} s ({_num(r['engine_only_ticks_per_s'])} ticks/s)",
              ratio=f"{r['engine_share']:.0%} of wall")
    if "overlap_s" in r:
        yield Row("backtest", "  the two side by side (parsing in a child process)",
                  f"{r['overlap_s']:.1f} s of them overlapped on two cores")
    if "cached_wall_s" in r:
        yield Row("backtest", "  first run with the tick cache (parses and writes it)",
                  f"{r['build_cache_s']:.1f} s ({r['cache_mb']:.0f} MB cache)",
                  f"no cache: {r['wall_s']:.1f} s",
                  f"{r['build_cache_s'] / r['wall_s']:.2f}x")
        yield Row("backtest", "  later runs, reading the cache: end to end over the engine "
                  "alone", f"{r['cached_wall_s']:.1f} s", f"engine alone: "
                  f"{r['engine_only_s']:.1f} s (no cache: {r['uncached_over_engine']:.2f}x)",
                  f"{r['e2e_over_engine']:.2f}x", goal="<= 1.3x (issue 17)",
                  verdict="met" if r["e2e_over_engine"] <= 1.3 else "missed")
    memory = r.get("memory") or {}
    files = memory.get("files", {})
    base = files.get(str(memory.get("baseline_days")))
    for days, f in files.items():
        if base is None or f is base:
            continue
        yield Row("backtest", f"  peak RSS of bot.py backtest, 1 instrument x {days} days "
                  f"({f['rows']:,} ticks, {f['file_mb']:.0f} MB)",
                  f"{f['peak_mb']:.0f} MB (main {f['main_mb']:.0f}, parser "
                  f"{f['parser_mb']:.0f})", f"{base['days']} day: {base['peak_mb']:.0f} MB",
                  f"{f['ratio']:.2f}x")
        if "cached_peak_mb" in f:
            yield Row("backtest", f"    the same, reading the tick cache ({days} days)",
                      f"{f['cached_peak_mb']:.0f} MB",
                      f"{base['days']} day: {base['cached_peak_mb']:.0f} MB",
                      f"{f['cached_ratio']:.2f}x")


def _charts(r: dict[str, Any]) -> Iterator[Row]:
    base = f"empty figure to PNG: {r['baseline_ms']:.0f} ms"
    c, e = r["candle"], r["equity"]
    yield Row("charts", f"candle chart, {r['candles']} five-minute candles, {r['trades']} "
              f"trades, {r['marks']} marks ({c['size']} PNG)", f"{c['ms']:.0f} ms", base,
              f"{c['ratio']:.1f}x", "< 1 s per chart")
    yield Row("charts", f"equity chart, {r['trades']} trades ({e['size']} PNG)",
              f"{e['ms']:.0f} ms", base, f"{e['ratio']:.1f}x")


def _redis(r: dict[str, Any]) -> Iterator[Row]:
    on, files = r["redis"], r["files"]
    yield Row("redis", f"candle writes, {r['instruments']} instruments, writer batches",
              f"{_num(on['candle_writes_per_s'])} candles/s",
              f"JSONL files {_num(files['candle_writes_per_s'])} candles/s",
              f"{on['candle_writes_per_s'] / files['candle_writes_per_s']:.2f}x")
    yield Row("redis", "a day of one instrument read back (75 candles)",
              f"{on['day_read_ms']:.2f} ms", f"JSONL file {files['day_read_ms']:.2f} ms",
              f"{on['day_read_ms'] / files['day_read_ms']:.1f}x the time")
    yield Row("redis", "state save (whole snapshot)", f"{_num(on['state_saves_per_s'])} saves/s",
              f"TinyDB atomic file {_num(files['state_saves_per_s'])} saves/s",
              f"{on['state_saves_per_s'] / files['state_saves_per_s']:.1f}x")


def _optimize(r: dict[str, Any]) -> Iterator[Row]:
    for key, label in (("cold", "first run"), ("warm", "again, the tick cache (if any) made")):
        f = r[key]
        case = (f"{r['backtests']} backtests ({r['grid']}), {r['instruments']} instruments x "
                f"{r['session_minutes']} min ({r['rows']:,} ticks), bot.py optimize --jobs "
                f"{r['jobs']}, {label}") if key == "cold" else f"  {label}"
        yield Row("optimize", case,
                  f"{f['optimizer_per_min']:.1f} backtests/min ({f['optimizer_s']:.1f} s)",
                  f"one by one: {f['sequential_per_min']:.1f}/min ({f['sequential_s']:.1f} s)",
                  f"{f['ratio']:.2f}x")


_RENDER: dict[str, Callable[[dict[str, Any]], Iterator[Row]]] = {
    "parse": _parse, "engine": _engine, "latency": _latency, "scale": _scale,
    "storage": _storage, "backtest": _backtest, "charts": _charts, "redis": _redis,
    "optimize": _optimize}


def _generic(part: str, r: dict[str, Any]) -> Row:
    """A row for figures this module does not know the shape of (yet)."""
    flat = ", ".join(f"{k}={v}" for k, v in r.items() if isinstance(v, int | float | str))
    return Row(part, "(raw figures)", flat[:120])


def rows(results: dict[str, Any]) -> list[Row]:
    """Every row of the table, parts in ``PARTS`` order, the goal verdicts filled in."""
    parts = results.get("parts", {})
    quick = bool(results.get("quick"))
    by_part = {v["part"]: v for v in verdicts(results)}
    goals = {g.part: g for g in GOALS}
    out: list[Row] = []
    for part in PARTS:
        if part not in parts:
            continue
        data = parts[part]
        if data is None:
            why = results.get("errors", {}).get(part)
            if why is not None:
                out.append(Row(part, "", f"FAILED: {why}"))
                continue
            why = results.get("not_measured", {}).get(part, "no figures")
            goal = goals[part].text if part in goals else ""
            out.append(Row(part, "", NOT_YET.format(why=why), goal=goal,
                           verdict="not measured" if part in goals else ""))
            continue
        try:
            made = list(_RENDER[part](data)) if part in _RENDER else [_generic(part, data)]
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            made = [_generic(part, data)]
        if part in by_part:  # the verdict goes on the row that carries the goal
            text = _verdict_text(by_part[part], quick)
            made = [Row(*astuple(m)[:-1], text) if m.goal else m for m in made]
        out.extend(made)
    return out


# ------------------------------------------------------------------ output


def _cells(table: list[Row]) -> list[tuple[str, ...]]:
    shown, last = [], None
    for row in table:
        cells = astuple(row)
        shown.append(("" if row.part == last else row.part, *cells[1:]))
        last = row.part
    return shown


def text_table(results: dict[str, Any]) -> str:
    body = _cells(rows(results))
    widths = [max(len(c[i]) for c in [HEAD, *body]) for i in range(len(HEAD))]
    lines = [title(results), ""]
    for cells in [HEAD, tuple("-" * w for w in widths), *body]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    lines += ["", *notes(results)]
    return "\n".join(lines).rstrip() + "\n"


def markdown(results: dict[str, Any]) -> str:
    """The table as Markdown for the README, with the machine it came from."""
    lines = [f"Measured on: {one_line(results.get('machine', {}))}"
             + (" (QUICK smoke run: not measurements)" if results.get("quick") else ""), "",
             "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for cells in _cells(rows(results)):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    extra = notes(results)
    if extra:
        lines.append("")
    for note in extra:
        if note.startswith("  "):  # a profile entry: "share function", the function as code
            share, _, func = note.strip().partition(" ")
            lines.append(f"  - {share} `{func}`")
        else:
            lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def title(results: dict[str, Any]) -> str:
    quick = " QUICK smoke run (not measurements)" if results.get("quick") else ""
    return f"bench{quick}: {one_line(results.get('machine', {}))}"


def _top(profile: dict[str, Any] | None, n: int) -> list[str]:
    if not profile:
        return []
    return [f"  {t['own_share']:.0%} {t['function']}" for t in profile["top"][:n]]


def notes(results: dict[str, Any]) -> list[str]:
    """Missed goals and where the time goes (from the profiles), one line each."""
    out = []
    for v in verdicts(results):
        if v["met"] is False:
            out.append(f"Missed: {v['part']} {v['goal']}: measured {_num(v['measured'])} "
                       f"(by {v['missed_by']:.0%}).")
    parts = results.get("parts", {})
    engine = parts.get("engine") or {}
    if engine.get("profile"):
        p = engine["profile"]
        out.append(f"Engine at {p['instruments']} instruments, own time by function "
                   f"(cProfile, {p['ticks']:,} ticks):")
        out += _top(p, 6)
    backtest = parts.get("backtest") or {}
    if backtest.get("profile"):
        p = backtest["profile"]
        out.append(f"Backtest profile ({p['rows']:,} rows, parsed in one process): CSV "
                   f"parsing (TickFile.chunks) {p['parsing_share']:.0%}, building ticks "
                   f"{p.get('ticks_share', 0):.0%}, engine (Engine.on_tick) "
                   f"{p['engine_share']:.0%}; own time by function:")
        out += _top(p, 6)
    return out
