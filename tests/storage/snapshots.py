"""A realistic, pre-serialised state snapshot for the storage tests and the benchmark."""

from __future__ import annotations

from typing import Any


def make_snapshot(orders: int = 12, tag: str = "a") -> dict[str, Any]:
    """A snapshot shaped like the engine's: ISO times and Decimal strings only."""
    order_list = []
    for i in range(orders):
        order_list.append({
            "tag": f"{tag}{i:04d}",
            "instrument_token": 408065 + i % 3,
            "symbol": ["NSE:INFY", "NSE:TCS", "NSE:HDFCBANK"][i % 3],
            "side": "BUY" if i % 2 == 0 else "SELL",
            "quantity": 10 * (i + 1),
            "order_type": "SL" if i % 4 == 3 else "MARKET",
            "purpose": ["ENTRY", "EXIT", "STOP"][i % 3],
            "reason": "signal",
            "created_at": f"2024-01-05T09:{20 + i % 40:02d}:00+05:30",
            "price": None if i % 2 else f"{1520 + i}.35",
            "trigger_price": f"{1510 + i}.05" if i % 4 == 3 else None,
            "product": "MIS",
            "status": "COMPLETE",
            "filled_quantity": 10 * (i + 1),
            "average_price": f"{1519 + i}.80",
            "broker_order_id": f"2401050000{i:05d}",
            "message": "",
            "modifications": i % 3,
        })
    return {
        "meta": {"day": "2024-01-05", "saved_at": "2024-01-05T10:15:00+05:30", "mode": "paper"},
        "settings": {"NSE:INFY": {"percentage": "0.4", "trade_side": "BOTH"}, "paused": False},
        "orders": order_list,
        "trades": [
            {"symbol": "NSE:INFY", "side": "BUY", "quantity": 10, "entry_price": "1520.35",
             "exit_price": "1531.10", "pnl": "107.50", "exit_reason": "trailing_stop",
             "entry_time": "2024-01-05T09:25:00+05:30", "exit_time": "2024-01-05T10:05:00+05:30"},
        ],
        "positions": [],
        "strategy": {"alerts": {"408065": {"high": "1525.00", "low": "1512.40"}},
                     "stops": {"408065": "1515.10"}, "halted": []},
        "risk": {"day_pnl": "107.50", "halted": False, "trades_today": 1},
    }
