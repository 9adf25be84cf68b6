"""``/set`` of a strategy's own parameter through the chat (the fake Bot API, the real
engine): checked by the instrument's strategy, refused for a strategy that lacks it, and a
name that cannot be a parameter is a usage error before anything is sent."""

from __future__ import annotations

from pathlib import Path

from tests.handlers.harness import run, telegram_env
from tests.helpers import AAA, Sym


async def _said(env, text: str) -> str:
    """The reply, its lines (wrapped to a phone's 40 columns) joined again."""
    return (await env.text(text)).replace("\n", " ")


def test_set_a_declared_parameter_from_the_chat(tmp_path: Path) -> None:
    orb = Sym("NSE:BBB", 2, overrides={"strategy": "opening_range"})

    async def body() -> None:
        async with telegram_env(tmp_path, (AAA, orb)) as env:
            ok = await _said(env, "/set range_minutes 20 NSE:BBB")
            assert "range_minutes = 20 for NSE:BBB" in ok, ok
            assert env.engine.runtimes[2].params.value("range_minutes") == 20
            bad = await _said(env, "/set range_minutes 999 NSE:BBB")
            assert bad.startswith("❌ range_minutes: expected a whole number"), bad
            other = await _said(env, "/set range_minutes 20 NSE:AAA")
            assert other.startswith("❌ range_minutes: not a setting of alert_breakout"), other
            wrong = await _said(env, "/set percentage 0.4 NSE:BBB")
            assert wrong.startswith("❌ percentage: not a setting of opening_range"), wrong
            nonsense = await _said(env, "/set Range-Minutes 20")
            assert nonsense.startswith("❌ 'Range-Minutes': not a settable key"), nonsense
            assert env.engine.runtimes[2].params.value("range_minutes") == 20

    run(body())
