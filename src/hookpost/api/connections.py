"""What one HTTP connection to the API may cost: uvicorn's httptools protocol with a cap on header
bytes (431), a deadline for headers and body (408) and a cap on open connections (503).

uvicorn enforces none of these with httptools (no header limit; `limit_concurrency` still
accepts and holds every connection; its keep-alive timer starts only after a first response),
so a client could hold memory and file descriptors without ever sending a complete request.
At the connection cap, the connection that has waited longest for its own request to arrive
is shed first, so slow or idle clients cannot lock out one that sends its request promptly.
Refusals are JSON, sent with a lingering close so the client can read them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LINGER_SECONDS = 1.0  # after a refusal, how long the client's unread bytes are drained
_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int = 64 * 1024
    read_timeout: float = 30.0
    max_connections: int = 512


def limited_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """The protocol class uvicorn is given (`uvicorn.Config(http=...)`)."""
    return type("LimitedHttpToolsProtocol", (GuardedProtocol,), {"limits": limits, "lingering": 0})


class GuardedProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    lingering: ClassVar[int] = 0  # refused connections still draining (per server class)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refused = False
        self._lingers = False
        self._in_headers = True
        self._header_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None  # waiting for a complete request since
        if self._over_capacity() and not self._shed_one():
            self._refuse(503, "too_many_connections", "The server has too many connections")
            return
        self._wait_for_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        if self._lingers:
            self._lingers = False
            type(self).lingering -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # drained, unread, until the lingering close
        if not self._in_headers:
            super().data_received(data)
            return
        if self._waiting_since is None:
            self._wait_for_request()
        self._header_bytes += len(data)
        super().data_received(data)
        # Checked while the headers are still arriving, so at most one read past the limit
        # is ever buffered; complete headers are measured exactly in on_headers_complete.
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes:
            self._headers_too_large()

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()
            return
        super().eof_received()

    # -- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        if self._waiting_since is None:
            self._wait_for_request()

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_headers = False
        self._header_bytes = 0
        # "METHOD url HTTP/1.1\r\n", "name: value\r\n" per field, and the blank line.
        request_line = len(self.parser.get_method()) + len(self.url) + 12
        size = request_line + sum(len(n) + len(v) + 4 for n, v in self.headers) + 2
        if size > self.limits.max_header_bytes:
            self._headers_too_large()
            return
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_deadline()  # the connection is the WebSocket protocol's from here on
        self._waiting_since = None
        self._in_headers = False
        super().handle_websocket_upgrade()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._stop_deadline()
        self._waiting_since = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = not self.pipeline and (self.cycle is None or self.cycle.response_complete)
        if idle and not self.transport.is_closing():
            self._in_headers = True
            self._header_bytes = 0
            self._wait_for_request()

    # -- limits ----------------------------------------------------------------------------
    def _wait_for_request(self) -> None:
        self._stop_deadline()
        self._waiting_since = self.loop.time()
        self._deadline = self.loop.call_later(self.limits.read_timeout, self._too_slow)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._in_headers and self._header_bytes == 0:
            self._close_quietly()  # nothing of a request arrived: nothing to answer
            return
        seconds = f"{self.limits.read_timeout:g}"
        detail = f"The request did not arrive complete within {seconds}s"
        self._refuse(408, "request_timeout", detail)

    def _headers_too_large(self) -> None:
        detail = f"The request line and headers exceed {self.limits.max_header_bytes} bytes"
        self._refuse(431, "request_header_fields_too_large", detail)

    def _over_capacity(self) -> bool:
        if len(self.connections) <= self.limits.max_connections:
            return False
        # Refused connections linger for a moment but no longer count.
        live = sum(1 for c in self.connections if not getattr(c, "_refused", False))
        return live > self.limits.max_connections

    def _shed_one(self) -> bool:
        """Refuse the connection waiting longest for its request; False if none is waiting."""
        waiting = [
            c
            for c in self.connections
            if isinstance(c, GuardedProtocol)
            and c is not self
            and not c._refused
            and c._waiting_since is not None
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._waiting_since or 0.0)
        if oldest._in_headers and oldest._header_bytes == 0:
            # Nothing of a request has arrived (new or idle keep-alive): closing is the
            # answer HTTP expects, and clients retry; a response would be unsolicited.
            oldest._close_quietly()
        else:
            oldest._refuse(503, "too_many_connections", "The server has too many connections")
        return True

    def _close_quietly(self) -> None:
        self._refused = True
        self._stop_deadline()
        self._waiting_since = None
        self.transport.close()

    def _refuse(self, status: int, code: str, detail: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._stop_deadline()
        self._waiting_since = None
        body = json.dumps({"code": code, "detail": detail}).encode()
        retry = b"retry-after: 1\r\n" if status == 503 else b""
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"%bconnection: close\r\n\r\n%b" % (status, _REASONS[status], len(body), retry, body)
        )
        cycle: Any = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application's answer, if any, goes nowhere
            cycle.message_event.set()
        # A lingering close: shut our side, drain theirs briefly, so a client still writing
        # reads the refusal instead of a connection reset. At most max_connections linger at
        # once, so a flood of refusals cannot hold descriptors either.
        if (
            type(self).lingering >= self.limits.max_connections
            or not self.transport.can_write_eof()
        ):
            self.transport.close()
            return
        type(self).lingering += 1
        self._lingers = True
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
