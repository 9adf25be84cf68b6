"""Login tokens of the simulated exchange: request tokens, access tokens, the checksum.

Kite's flow: the login redirect carries a one-time ``request_token``; the app exchanges it
with ``checksum = sha256(api_key + request_token + api_secret)`` for an ``access_token``,
sent on every call as ``Authorization: token api_key:access_token``. Any thread (locked).
"""

from __future__ import annotations

import hashlib
import secrets
import threading

from agent.sim import errors
from agent.sim.errors import KiteError


def checksum(api_key: str, request_token: str, api_secret: str) -> str:
    return hashlib.sha256((api_key + request_token + api_secret).encode()).hexdigest()


def _token() -> str:
    return secrets.token_hex(16)


class Sessions:
    """The tokens of the one simulated user."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._lock = threading.Lock()
        self._request_tokens: set[str] = set()
        self._access_tokens: dict[str, str] = {}  # access token -> public token

    def issue_request_token(self) -> str:
        """A fresh one-time request token (what the login redirect carries)."""
        token = _token()
        with self._lock:
            self._request_tokens.add(token)
        return token

    def exchange(self, api_key: str, request_token: str, given_checksum: str) -> tuple[str, str]:
        """Trade a request token for (access_token, public_token); raises KiteError 403."""
        if api_key != self.api_key:
            raise errors.token_error(errors.INVALID_SESSION)
        with self._lock:
            if request_token not in self._request_tokens:
                raise errors.token_error(errors.TOKEN_INVALID)
            if given_checksum != checksum(api_key, request_token, self.api_secret):
                raise KiteError("Invalid `checksum`.", "TokenException", 403)
            self._request_tokens.discard(request_token)
            access, public = _token(), _token()
            self._access_tokens[access] = public
        return access, public

    def add_access_token(self, access_token: str) -> None:
        """Accept an access token minted elsewhere (tests, a saved session)."""
        with self._lock:
            self._access_tokens[access_token] = _token()

    def is_valid(self, api_key: str, access_token: str) -> bool:
        with self._lock:
            return api_key == self.api_key and access_token in self._access_tokens

    def check_header(self, header: str | None) -> str:
        """The access token of a valid ``Authorization`` header; raises 403 otherwise."""
        if not header or not header.startswith("token "):
            raise errors.token_error()
        api_key, _, access_token = header[len("token "):].partition(":")
        if not self.is_valid(api_key.strip(), access_token.strip()):
            raise errors.token_error()
        return access_token.strip()

    def invalidate(self, access_token: str) -> bool:
        with self._lock:
            return self._access_tokens.pop(access_token, None) is not None

    def expire_all(self) -> None:
        """Every current access token (and pending request token) stops working."""
        with self._lock:
            self._access_tokens.clear()
            self._request_tokens.clear()
