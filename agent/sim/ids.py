"""Ids of the simulated exchange's orders and trades, shaped like Kite's.

Kite's order ids are 19-digit strings since 2025 (kiteconnect-mocks ``orders.json``:
``1953341975595868160``, autoslice ``1953367517686685697``). They decode as Twitter-style
snowflakes: the milliseconds since 2010-11-04 01:42:54.657 UTC shifted left by 22 bits
(``1953341975595868160 >> 22`` is 2025-08-07 11:56:32.978 IST, the row's order_timestamp),
then a worker number (6 in both samples) and a sequence in the low 22 bits. The simulator
makes them the same way from the exchange's clock, so they grow with time and are unique
within a run (a repeat millisecond takes the next number). Exchange order ids keep the
16-digit shape of the samples (``1300000038792287``); trade ids the 8 digits of
``trades.json``. Loop thread only.
"""

from __future__ import annotations

from datetime import date, datetime

SNOWFLAKE_EPOCH_MS = 1_288_834_974_657
WORKER = 6
SMALLEST = 10**18  # 19 digits even for a date before mid-2018


class Ids:
    def __init__(self, day: date) -> None:
        self._day = day
        self._last_order = 0
        self._exchange_seq = 0
        self._trade_seq = 0

    def order_id(self, when: datetime) -> str:
        """A 19-digit snowflake of ``when`` (exchange time), larger than every earlier one."""
        ms = int(when.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS
        value = max((ms << 22) | (WORKER << 12), self._last_order + 1, SMALLEST)
        self._last_order = value
        return str(value)

    def exchange_order_id(self) -> str:
        self._exchange_seq += 1
        return f"1{self._day:%y%m%d}{self._exchange_seq:09d}"

    def trade_id(self) -> str:
        self._trade_seq += 1
        return f"{10_000_000 + self._trade_seq}"
