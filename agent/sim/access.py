"""What the simulated account may do: its API plan and its registered static IPs.

Kite in 2026 (see the README's "Kite Connect in 2026"): the free Personal plan has no
market data (quotes and historical candles answer 403 PermissionException "Insufficient
permission for that call.", the ticker's handshake 403), and order calls (place, modify,
cancel) are taken only from the app's registered static IPs. The simulator's defaults are
the paid Connect plan and no static-IP rule (order calls from anywhere); a test switches
either at runtime. Locked: any thread.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable

from agent.sim import errors
from agent.sim.errors import KiteError


class Access:
    def __init__(self, market_data: bool = True,
                 static_ips: Iterable[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._market_data = market_data
        self._ips: frozenset[str] | None = None
        self.register_ips(static_ips)

    def set_market_data(self, on: bool) -> None:
        """True: the Connect plan (market data); False: the Personal plan (none)."""
        with self._lock:
            self._market_data = on

    def register_ips(self, ips: Iterable[str] | None) -> None:
        """The static IPs order calls must come from; None: any (Kite before April 2026).
        Raises ValueError naming an address that is not one."""
        if ips is None:
            chosen = None
        else:
            chosen = frozenset(str(ipaddress.ip_address(ip.strip())) for ip in ips)
        with self._lock:
            self._ips = chosen

    @property
    def market_data(self) -> bool:
        with self._lock:
            return self._market_data

    def check_market_data(self) -> None:
        """Quotes, historical candles, the ticker: refused without the Connect plan."""
        if not self.market_data:
            raise errors.permission_error(errors.INSUFFICIENT_PERMISSION)

    def check_order_ip(self, remote: str | None) -> None:
        """Place, modify, cancel: refused unless ``remote`` is a registered IP."""
        with self._lock:
            ips = self._ips
        if ips is None:
            return
        try:
            address = str(ipaddress.ip_address(remote or ""))
        except ValueError:
            address = remote or "unknown"
        if address not in ips:
            raise KiteError(errors.IP_NOT_ALLOWED.format(ip=address), "PermissionException",
                            403)
