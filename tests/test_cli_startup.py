"""The command line starts light: building the parser (every ``bot.py`` command does it)
loads neither python-telegram-bot, nor aiohttp, nor the agent's runtime; only the command
that runs imports what it needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_parser_loads_no_heavy_module() -> None:
    heavy = ("telegram", "aiohttp", "handlers.runtime", "kiteconnect", "matplotlib", "optuna")
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bot; bot._parser(); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

