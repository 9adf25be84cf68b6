"""A forward HTTP proxy on loopback whose outgoing connections leave from another address.

Stands in for a trader's static-IP proxy: the agent talks to it from 127.0.0.1, and it
talks to the (simulated) Kite from ``source`` (say 127.0.0.2, the "registered" IP), so the
exchange sees the proxy's address, as Kite would. Plain ``http://`` targets only (absolute
URIs in the request line, as ``requests`` sends them to a proxy); one request per client
connection (``Connection: close`` both ways). Its own threads; ``start``/``stop`` from the
test's thread; ``seen`` lists "METHOD path" of every request relayed.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from urllib.parse import urlsplit


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline(65536).decode("latin-1").rstrip("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers: list[tuple[str, str]] = []
        length = 0
        while True:
            line = self.rfile.readline(65536).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            if name.strip().lower() in ("proxy-connection", "connection", "keep-alive"):
                continue
            if name.strip().lower() == "content-length":
                length = int(value.strip())
            headers.append((name.strip(), value.strip()))
        body = self.rfile.read(length) if length else b""
        url = urlsplit(target)
        path = url.path + (f"?{url.query}" if url.query else "")
        self.server.seen.append(f"{method} {url.path}")
        head = [f"{method} {path or '/'} {version}"] + [f"{k}: {v}" for k, v in headers]
        head.append("Connection: close")
        upstream = socket.create_connection((url.hostname, url.port or 80), timeout=10,
                                            source_address=(self.server.source, 0))
        with upstream:
            upstream.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            while chunk := upstream.recv(65536):
                self.wfile.write(chunk)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, source: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.source = source
        self.seen: list[str] = []


class ForwardProxy:
    def __init__(self, source: str = "127.0.0.2") -> None:
        self._server = _Server(source)
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-proxy",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def seen(self) -> list[str]:
        return list(self._server.seen)

    def start(self) -> ForwardProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
