"""hookpost's own HTTP/1.1 client: just what a webhook attempt needs, on asyncio Protocols
with httptools' (llhttp's) response parser.

Why not aiohttp: it caps one process at a few thousand signed POSTs/s on a small machine,
and most of its work (cookies, redirects, proxies, decompression, multipart, streaming) is
what the sender turns off. What this keeps:

- every new connection goes to an address the `GuardedResolver` vetted just before, and the
  socket connects to that very address (no second lookup, so no rebinding window);
- idle connections are kept per (scheme, host, port) and reused only while they are open and
  young (`IDLE_SECONDS`): a reused connection reaches the address that was vetted when it
  was opened, as aiohttp's pool did;
- a connect budget for lookup, TCP and TLS handshake together, and a total deadline for the
  whole attempt;
- at most `max_response_bytes` of a body are read; the rest never is, and that connection is
  dropped, as is any connection whose answer was not read cleanly to its end;
- at most `MAX_HEADERS` response headers of at most `MAX_HEAD_BYTES` together;
- TLS with the server name for SNI and verification, while the socket goes to the vetted IP.

Every failure is raised as a `TransportError` subclass (or the resolver's own errors) and
`sender.classify` turns it into an `Outcome`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httptools

from hookpost.core.urls import ParsedUrl
from hookpost.delivery.resolver import DestinationBlocked, GuardedResolver

MAX_HEADERS = 256  # response headers; more is not a webhook receiver's answer
MAX_HEAD_BYTES = 64 * 1024  # status line and headers together
IDLE_SECONDS = 15.0  # an idle connection older than this is closed, not reused
_FORBIDDEN_IN_HEADERS = frozenset("\r\n\0")
_FRAMING = (b"content-length", b"transfer-encoding")  # either one: the body does not end at close
_FRAMING_LENGTHS = frozenset(len(name) for name in _FRAMING)


class TransportError(Exception):
    """A failure of one exchange, before a complete answer was read."""


class ConnectTimeout(TransportError):
    pass


class ResponseTimeout(TransportError):
    pass


class ConnectFailed(TransportError):
    """The TCP connection could not be made (errno of the last address tried)."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {cause.strerror or cause}")
        self.host, self.port, self.errno = host, port, cause.errno


class TlsFailed(TransportError):
    pass


class NameNotResolved(TransportError):
    """The lookup answered, but with no usable address (NXDOMAIN, SERVFAIL, no records)."""


class Disconnected(TransportError):
    """The server closed the connection before the answer began."""


class Reset(TransportError):
    pass


class InvalidResponse(TransportError):
    pass


class InvalidRequest(TransportError):
    """The request itself cannot be written (a header with a line break, say)."""


@dataclass(frozen=True)
class Answer:
    """A final (non-1xx) answer: its status, headers in arrival order, and the body read
    (at most the cap; `truncated` says there was more)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool

    def header(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found


class _Exchange(asyncio.Protocol):
    """One connection and the answer it is reading (one request at a time)."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._reset_answer()

    def _reset_answer(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.head_bytes = 0
        self.body: list[bytes] = []
        self.body_size = 0
        self.headers_done = False
        self.framed = False  # Content-Length or chunked; otherwise the body ends at close
        self.started = False
        self.head_received = 0  # bytes fed to the parser while the head was incomplete

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            # Bytes nobody asked for: the connection's framing can no longer be trusted.
            self.drop()
            return
        try:
            self.parser.feed_data(data)
            if not self.headers_done:
                # httptools gathers a header's pieces before handing it over, so a head that
                # never ends would grow in its buffer: bound what it may have been fed.
                self.head_received += len(data)
                if self.head_received > MAX_HEAD_BYTES:
                    message = f"the response head is larger than {MAX_HEAD_BYTES} bytes"
                    self.fail(InvalidResponse(message))
        except httptools.HttpParserUpgrade:
            self.fail(InvalidResponse("the server switched protocols"))
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Stop):
                return  # a callback ended the exchange on purpose
            self.fail(InvalidResponse(str(exc) or type(exc).__name__))
        except _Stop:
            pass

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost decides what the EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and not self.framed:
            # A close-delimited body ends here, and that is its valid end.
            self._finish(truncated=False)
        elif self.started:
            waiter.set_exception(InvalidResponse("the connection closed before the answer ended"))
        elif isinstance(exc, ConnectionResetError) or (
            isinstance(exc, OSError) and exc.errno == errno.ECONNRESET
        ):
            waiter.set_exception(Reset("the connection was reset by the server"))
        elif isinstance(exc, ssl.SSLError):
            waiter.set_exception(TlsFailed(str(exc)))
        else:
            waiter.set_exception(Disconnected("the server closed the connection without answering"))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():
            # A second answer behind the one asked for: the framing cannot be trusted.
            self.drop()
            raise _Stop
        self.started = True

    def on_status(self, status: bytes) -> None:
        self._count(len(status))

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp may hand a long header over in pieces; the cap counts every piece.
        self._count(len(name) + len(value))
        if len(self.headers) >= MAX_HEADERS:
            self._refuse(InvalidResponse(f"more than {MAX_HEADERS} response headers"))
        if len(name) in _FRAMING_LENGTHS and name.lower() in _FRAMING:
            self.framed = True
        self.headers.append((name.decode("latin-1"), value.decode("utf-8", errors="replace")))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        room = self.max_body - self.body_size
        if len(body) >= room:
            # The cap: keep what fits, answer now, and never read the rest.
            self.body.append(body[:room])
            self.body_size += room
            self._finish(truncated=True)
            self.drop()
            raise _Stop
        self.body.append(body)
        self.body_size += len(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (100 Continue, 102, 103): the final one follows.
            self._reset_answer()
            return
        # A body that ends at the close cannot be followed by another answer.
        self.reusable = (self.framed or status in (204, 304)) and self.parser.should_keep_alive()
        self._finish(truncated=False)

    # -- helpers ---------------------------------------------------------------------------

    def _count(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD_BYTES:
            self._refuse(
                InvalidResponse(f"the response head is larger than {MAX_HEAD_BYTES} bytes")
            )

    def _refuse(self, error: TransportError) -> None:
        self.fail(error)
        raise _Stop

    def _finish(self, *, truncated: bool) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        status = self.parser.get_status_code()
        if not 200 <= status <= 999:
            waiter.set_exception(InvalidResponse(f"invalid status code {status}"))
            return
        body = b"".join(self.body)
        waiter.set_result(Answer(status, self.headers, body, truncated))

    def fail(self, error: TransportError) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.drop()

    def drop(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def send(self, data: bytes, waiter: asyncio.Future[Answer]) -> None:
        self._reset_answer()
        self.reusable = False
        self.waiter = waiter
        assert self.transport is not None
        self.transport.write(data)


class _Stop(Exception):
    """Raised from a parser callback to stop parsing the rest of the data."""


class Http1Client:
    """Sends one request at a time per connection, over pools of keep-alive connections."""

    def __init__(
        self,
        guard: GuardedResolver,
        *,
        connect_timeout: float,
        max_response_bytes: int,
        max_connections: int,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.max_response_bytes = max_response_bytes
        # Made here, not on the first https attempt: loading the system's CAs takes 0.1-0.2 s,
        # which must not come out of an attempt's deadline.
        self.ssl_context = ssl_context if ssl_context is not None else default_tls()
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], list[_Exchange]] = {}
        self._idle_count = 0
        self._idle_limit = max_connections
        self._swept = time.monotonic()
        self._closed = False

    async def request(
        self,
        method: str,
        url: ParsedUrl,
        headers: Mapping[str, str],
        body: bytes,
        *,
        deadline: float,
    ) -> Answer:
        """One exchange within `deadline` seconds from now (lookup and connect included).

        `url` is what `parse_endpoint_url` accepted: its host is what is resolved (or, for an
        IP literal, connected to), never a re-reading of the URL string."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + deadline
        data = _request_bytes(method, url.path_and_query, url.host_header, headers, body)
        scheme, host, port = key = (url.scheme, url.host, url.port)
        if self._slots.locked():
            # Every connection is busy: waiting for one counts against the deadline too.
            try:
                async with asyncio.timeout_at(ends):
                    await self._slots.acquire()
            except TimeoutError:
                raise ResponseTimeout("no connection became free before the deadline") from None
        else:
            await self._slots.acquire()
        try:
            exchange = self._checkout(key)
            if exchange is None:
                exchange = await self._connect(scheme, host, port, ends, url.host_is_ip)
            waiter: asyncio.Future[Answer] = loop.create_future()
            timer = loop.call_at(ends, _expire, waiter)
            exchange.send(data, waiter)
            try:
                return await waiter
            finally:
                timer.cancel()
                exchange.waiter = None
                if exchange.reusable and not exchange.closed and not self._closed:
                    self._checkin(key, exchange)
                else:
                    exchange.drop()
        finally:
            self._slots.release()

    def _checkout(self, key: tuple[str, str, int]) -> _Exchange | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            exchange = idle.pop()
            self._idle_count -= 1
            if not exchange.closed and now - exchange.idle_since < IDLE_SECONDS:
                return exchange
            exchange.drop()
        return None

    def _checkin(self, key: tuple[str, str, int], exchange: _Exchange) -> None:
        now = time.monotonic()
        exchange.idle_since = now
        self._idle.setdefault(key, []).append(exchange)
        self._idle_count += 1
        if now - self._swept > IDLE_SECONDS or self._idle_count > self._idle_limit:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Close idle connections that are old or over the limit (a cheap, rare pass)."""
        self._swept = now
        kept = 0
        for key in list(self._idle):
            fresh = []
            for exchange in self._idle[key]:
                if (
                    exchange.closed
                    or now - exchange.idle_since >= IDLE_SECONDS
                    or kept >= self._idle_limit
                ):
                    exchange.drop()
                else:
                    fresh.append(exchange)
                    kept += 1
            if fresh:
                self._idle[key] = fresh
            else:
                del self._idle[key]
        self._idle_count = kept

    async def _connect(
        self, scheme: str, host: str, port: int, ends: float, host_is_ip: bool
    ) -> _Exchange:
        """A new connection to a vetted address of `host`.

        The lookup has its own budget (the resolver's); TCP and the TLS handshake together
        get the connect budget; all of it stays within the attempt's deadline.
        """
        tls = self.ssl_context if scheme == "https" else None
        if host_is_ip:
            # An IP literal is never looked up (as with aiohttp), but vetted here again.
            verdict = self.guard.vet([host], port)
            if not verdict.allowed:
                raise DestinationBlocked(host, verdict)
            return await self._open_within(tls, host, [host], port, ends)
        try:
            async with asyncio.timeout_at(ends):
                # Raises DestinationBlocked or DnsTimeout (the sender's classify names them);
                # only vetted addresses come back.
                found = await self.guard.resolve(host, port)
        except TimeoutError:
            raise ResponseTimeout("the deadline passed while resolving") from None
        except socket.gaierror as exc:
            raise NameNotResolved(f"cannot resolve {host}: {exc.strerror or exc}") from exc
        return await self._open_within(tls, host, found, port, ends)

    async def _open_within(
        self, tls: ssl.SSLContext | None, host: str, addresses: list[str], port: int, ends: float
    ) -> _Exchange:
        loop = asyncio.get_running_loop()
        budget = min(loop.time() + self.connect_timeout, ends)
        try:
            async with asyncio.timeout_at(budget):
                return await self._open(tls, host, addresses, port)
        except TimeoutError:
            if budget < ends:
                message = f"connecting took longer than {self.connect_timeout:g}s"
                raise ConnectTimeout(message) from None
            raise ResponseTimeout("the deadline passed while connecting") from None

    async def _open(
        self, tls: ssl.SSLContext | None, host: str, addresses: list[str], port: int
    ) -> _Exchange:
        """Connect to the first address that accepts; the socket goes to that vetted IP,
        while SNI and the certificate check use the host name."""
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for address in addresses:
            try:
                _, exchange = await loop.create_connection(
                    lambda: _Exchange(self.max_response_bytes),
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
            except ssl.SSLError as exc:
                raise TlsFailed(f"cannot connect to {host}:{port}: {exc}") from exc
            except OSError as exc:
                last = exc
            else:
                return exchange
        assert last is not None  # the resolver never returns no address
        raise ConnectFailed(host, port, last)

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for exchange in idle:
                exchange.drop()
        self._idle.clear()
        self._idle_count = 0


@functools.cache
def default_tls() -> ssl.SSLContext:
    """The system's CAs with host name checks on, made once per process and shared."""
    return ssl.create_default_context()


def _expire(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(ResponseTimeout("the deadline passed"))


def _request_bytes(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes
) -> bytes:
    """The request head and body. aiohttp sent `Accept: */*` too; receivers may rely on it."""
    # One scan of every name and value for what would end a header line early (a header
    # injection); the culprit is looked for only when there is one.
    every = "".join(headers) + "".join(headers.values())
    if "\r" in every or "\n" in every or "\0" in every:
        for name, value in headers.items():
            if not _FORBIDDEN_IN_HEADERS.isdisjoint(name + value):
                raise InvalidRequest(f"header {name!r} contains a line break or NUL")
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "".join(lines).encode("utf-8") + body
