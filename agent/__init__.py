"""The trading core: candles, strategy, risk, P&L, orders and the engine.

This package imports neither telegram nor tinydb: the Telegram side lives in
``handlers/`` and persistence in ``storage/``.
"""

__version__ = "0.1.0"
