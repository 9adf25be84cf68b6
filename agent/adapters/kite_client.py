"""The one place a ``KiteConnect`` REST client is built: root, token and proxy.

``kite.proxy`` / ``KITE_PROXY`` send every REST call (orders included) through an HTTP(S)
proxy, for an agent whose own address is not the static IP registered with Kite (a home
line): run the proxy on the VPS or static-IP line and register that address. The ticker
WebSocket connects directly: Kite takes it from any IP. Any thread may call this.
"""

from __future__ import annotations

from typing import Any


def kite_client(api_key: str, root: str, *, proxy: str = "", access_token: str | None = None,
                timeout: float | None = None) -> Any:
    """A real ``kiteconnect.KiteConnect`` on ``root``, through ``proxy`` when given."""
    from kiteconnect import KiteConnect

    proxies = {"http": proxy, "https": proxy} if proxy else None
    kite = KiteConnect(api_key, root=root, timeout=timeout, proxies=proxies)
    if access_token:
        kite.set_access_token(access_token)
    return kite
