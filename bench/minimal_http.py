"""Ceiling (a2)'s client: the least HTTP/1.1 client that sends a signed POST and reads the
answer, on an asyncio Protocol with httptools' response parser and keep-alive connections.

No guard, no deadlines, no caps: what the event loop and the parser cost, nothing more, so
the sender's own transport (`hookpost.delivery.http1`) is measured against it.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        body, self.body = b"".join(self.body), []
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("closed"))


class MinimalClient:
    """POSTs to one host:port over a pool of keep-alive connections."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[_Connection] = []
        self.host_header = f"{host}:{port}".encode()

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        conn = None
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                break
            conn = None
        if conn is None:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(_Connection, self.host, self.port)
        lines = [b"POST ", path.encode(), b" HTTP/1.1\r\nHost: ", self.host_header, b"\r\n"]
        for name, value in headers.items():
            lines += (name.encode(), b": ", value.encode(), b"\r\n")
        lines += (b"Content-Length: ", str(len(body)).encode(), b"\r\n\r\n", body)
        conn.waiter = asyncio.get_running_loop().create_future()
        assert conn.transport is not None
        conn.transport.write(b"".join(lines))
        result = await conn.waiter
        if conn.parser.should_keep_alive():
            self.idle.append(conn)
        else:
            assert conn.transport is not None
            conn.transport.close()
        return result

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()
