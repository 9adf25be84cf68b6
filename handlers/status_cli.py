"""``python bot.py status --redis URL [--json]``: every agent that ran on a shared Redis
(issue 16), read from its keys without touching the processes: account, mode, alive or
not (the heartbeat key ``agent:{account}`` expires 30 s after the last beat), the last
beat, open positions and the day's realized P&L (gross, charges, net) as of its last saved
state. The password comes from REDIS_PASSWORD. Main thread.
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from redis.exceptions import RedisError

from agent.money import money
from storage.redis_conn import RedisUnavailable, connect, describe
from storage.redis_keys import AGENTS, Keys
from storage.redis_presence import info_key


def agents(url: str, password: str) -> list[dict[str, Any]]:
    """One dict per account ever seen on that Redis, alive first, then by account."""
    client = connect(url, password, name="kite-agent-status")
    try:
        accounts = sorted(m.decode() for m in client.smembers(AGENTS))
        rows = []
        for account in accounts:
            keys = Keys(account)
            raw = client.get(info_key(keys))
            try:
                info = json.loads(raw) if raw else {}
            except ValueError:
                info = {"problem": "its heartbeat record is not JSON"}
            info = info if isinstance(info, dict) else {}
            info["account"] = account
            info["alive"] = bool(client.exists(keys.heartbeat))
            rows.append(info)
    except RedisError as exc:
        raise RedisUnavailable(url, f"cannot be read ({describe(exc)})") from None
    finally:
        client.close()
    return sorted(rows, key=lambda r: (not r["alive"], r["account"]))


def _money(value: Any) -> str:
    try:
        return money(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return "-"


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no agent has run on this Redis"
    lines = [f"{'ACCOUNT':<12} {'MODE':<5} {'STATE':<7} {'LAST BEAT':<19} {'POS':>3} "
             f"{'DAY P&L':>11} {'NET':>11}"]
    for r in rows:
        beat = str(r.get("at") or "-")[:19].replace("T", " ")
        positions = r.get("positions") if isinstance(r.get("positions"), list) else []
        state = "alive" if r["alive"] else "stopped"
        lines.append(f"{r['account']:<12} {r.get('mode', '-')!s:<5} {state:<7} "
                     f"{beat:<19} {len(positions):>3} {_money(r.get('realized')):>11} "
                     f"{_money(r.get('net')):>11}")
        for p in positions:
            lines.append(f"{'':<12} {p.get('symbol')} {p.get('quantity')}")
    return "\n".join(lines)


def status_command(url: str, *, as_json: bool = False, out: TextIO = sys.stdout) -> int:
    try:
        rows = agents(url, os.environ.get("REDIS_PASSWORD", ""))
    except RedisUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if as_json:
        json.dump({"agents": rows}, out, indent=1, ensure_ascii=False)
        out.write("\n")
    else:
        print(table(rows), file=out)
    return 0
