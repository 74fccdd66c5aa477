"""The builtin HTTP/1.1 client (`delivery.http1`) against raw servers on 127.0.0.1: framing
(chunked, Content-Length, close-delimited), the caps, deadlines, and when a connection is
reused and when it must be dropped.

Each server is an asyncio server in the test's own loop that reads one request at a time and
answers with exactly the bytes a test scripts, so every edge case is on the wire as written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from hookpost.core.addresses import AddressPolicy, parse_allowed_networks
from hookpost.core.urls import ParsedUrl, parse_endpoint_url
from hookpost.delivery import http1
from hookpost.delivery.resolver import DestinationBlocked, GuardedResolver

pytestmark = pytest.mark.timeout(20)
CAP = 1024
DEADLINE = 3.0  # generous: the machine running the suite may be loaded
SLOW = 0.5  # the deadline of the tests that wait for it
LOOPBACK = AddressPolicy(parse_allowed_networks("127.0.0.0/8"))

# A script answers one request: it gets the request's head and body and the stream to write.
Script = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[None]]


def answer(data: bytes, *, close: bool = False) -> Script:
    async def script(_head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if close:
            writer.close()

    return script


def hold(data: bytes) -> Script:
    """Write `data`, then keep the connection open and silent until the client leaves."""

    async def script(_head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        await asyncio.Event().wait()

    return script


OK = answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


@dataclass
class RawServer:
    """Answers the n-th request with `scripts[n]` (the last one repeats)."""

    scripts: list[Script] = field(default_factory=lambda: [OK])
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    server: asyncio.Server | None = None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, check: Callable[[], bool]) -> None:
        """Wait for a condition on what the server saw (re-checked at every change)."""
        while not check():
            self.changed.clear()
            await self.changed.wait()

    def close_clients(self) -> None:
        for writer in self.writers:
            writer.close()

    async def start(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def url(self, path: str = "/hook") -> ParsedUrl:
        parsed = parse_endpoint_url(f"http://127.0.0.1:{self.port}{path}", policy=LOOPBACK)
        assert isinstance(parsed, ParsedUrl), parsed
        return parsed

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        self.writers.add(writer)
        self.changed.set()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                self.changed.set()
                index = min(len(self.requests), len(self.scripts)) - 1
                await self.scripts[index](head, body, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            self.writers.discard(writer)
            self.changed.set()
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        self.close_clients()
        await self.server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    running = await RawServer().start()
    yield running
    await running.stop()


def client(max_connections: int = 8, policy: AddressPolicy = LOOPBACK) -> http1.Http1Client:
    async def lookup(host: str, _port: int) -> list[str]:
        return [host]

    guard = GuardedResolver(policy, lookup=lookup, timeout=DEADLINE)
    return http1.Http1Client(
        guard,
        connect_timeout=DEADLINE,
        max_response_bytes=CAP,
        max_connections=max_connections,
        ssl_context=None,
    )


@pytest.fixture
async def http() -> AsyncIterator[http1.Http1Client]:
    running = client()
    yield running
    await running.close()


async def post(
    http: http1.Http1Client, server: RawServer, body: bytes = b"{}", **headers: str
) -> http1.Answer:
    return await http.request("POST", server.url(), headers, body, deadline=DEADLINE)


# -- framing -----------------------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection(http: http1.Http1Client, server: RawServer) -> None:
    for _ in range(5):
        got = await post(http, server)
        assert (got.status, got.body, got.truncated) == (200, b"ok", False)

    assert len(server.requests) == 5
    assert server.connections == 1


async def test_the_request_is_what_was_given(http: http1.Http1Client, server: RawServer) -> None:
    await http.request(
        "PUT", server.url("/in?a=1"), {"X-Tenant": "acme"}, b'{"a":1}', deadline=DEADLINE
    )

    ((head, body),) = server.requests
    lines = head.decode().split("\r\n")
    assert lines[0] == "PUT /in?a=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "X-Tenant: acme" in lines
    assert "Content-Length: 7" in lines
    assert body == b'{"a":1}'


async def test_a_chunked_answer_is_joined_and_the_connection_kept(
    http: http1.Http1Client, server: RawServer
) -> None:
    server.scripts = [
        answer(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\nx-trailer: t\r\n\r\n"
        ),
        OK,
    ]

    first = await post(http, server)
    second = await post(http, server)

    assert (first.status, first.body) == (200, b"abcdefg")
    assert first.header("Transfer-Encoding") == "chunked"
    assert second.body == b"ok"
    assert server.connections == 1


async def test_a_close_delimited_answer_ends_at_the_close(
    http: http1.Http1Client, server: RawServer
) -> None:
    server.scripts = [answer(b"HTTP/1.1 202 Accepted\r\n\r\nuntil the end", close=True), OK]

    first = await post(http, server)
    second = await post(http, server)

    assert (first.status, first.body, first.truncated) == (202, b"until the end", False)
    assert second.body == b"ok"
    assert server.connections == 2  # a body that ends at the close leaves nothing to reuse


async def test_no_body_answers_keep_the_connection(
    http: http1.Http1Client, server: RawServer
) -> None:
    server.scripts = [answer(b"HTTP/1.1 204 No Content\r\n\r\n"), OK]

    first = await post(http, server)
    second = await post(http, server)

    assert (first.status, first.body) == (204, b"")
    assert second.body == b"ok"
    assert server.connections == 1


async def test_connection_close_from_the_server_is_honoured(
    http: http1.Http1Client, server: RawServer
) -> None:
    server.scripts = [
        answer(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n1"),
        OK,
    ]

    await post(http, server)
    await post(http, server)

    assert server.connections == 2


async def test_interim_answers_are_skipped(http: http1.Http1Client, server: RawServer) -> None:
    server.scripts = [
        answer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
            b"HTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx"
        )
    ]

    got = await post(http, server)

    assert (got.status, got.body, got.headers) == (201, b"x", [("content-length", "1")])


# -- caps --------------------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_cut_and_its_connection_dropped(
    http: http1.Http1Client, server: RawServer
) -> None:
    big = b"y" * (CAP * 3)
    server.scripts = [
        answer(b"HTTP/1.1 500 Oops\r\ncontent-length: %d\r\n\r\n" % len(big) + big),
        OK,
    ]

    first = await post(http, server)
    second = await post(http, server)

    assert (first.status, first.body, first.truncated) == (500, b"y" * CAP, True)
    assert second.body == b"ok"
    assert server.connections == 2  # the unread remainder is never read: a new connection


async def test_an_endless_chunked_body_is_cut_at_the_cap(
    http: http1.Http1Client, server: RawServer
) -> None:
    async def endless(_head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        while not writer.is_closing():
            writer.write(b"10\r\n0123456789abcdef\r\n")
            await writer.drain()

    server.scripts = [endless]

    got = await post(http, server)

    assert (got.status, len(got.body), got.truncated) == (200, CAP, True)


@pytest.mark.parametrize(
    "head",
    [
        b"".join(b"x-h%d: v\r\n" % i for i in range(http1.MAX_HEADERS + 1)),
        b"x-big: " + b"a" * (http1.MAX_HEAD_BYTES + 1) + b"\r\n",
    ],
    ids=["too-many-headers", "head-too-large"],
)
async def test_a_head_over_its_caps_is_invalid(
    http: http1.Http1Client, server: RawServer, head: bytes
) -> None:
    server.scripts = [hold(b"HTTP/1.1 200 OK\r\n" + head + b"content-length: 0\r\n\r\n"), OK]

    with pytest.raises(http1.InvalidResponse):
        await post(http, server)
    assert (await post(http, server)).body == b"ok"
    assert server.connections == 2


async def test_a_head_that_never_ends_is_refused_before_the_deadline(
    http: http1.Http1Client, server: RawServer
) -> None:
    async def endless_header(_head: bytes, _body: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nx-endless: ")
        while not writer.is_closing():
            writer.write(b"a" * 4096)
            await writer.drain()

    server.scripts = [endless_header]
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(http1.InvalidResponse, match="head is larger"):
        await post(http, server)
    assert loop.time() - started < DEADLINE


# -- broken answers ----------------------------------------------------------------------------

MALFORMED = [
    pytest.param(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n", id="chunk-size"
    ),
    pytest.param(b"HTTP/1.1 2x0 OK\r\n\r\n", id="status"),
    pytest.param(b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n", id="header-line"),
    pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", id="negative-length"),
    pytest.param(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n", id="upgrade"),
]


@pytest.mark.parametrize("data", MALFORMED)
async def test_a_malformed_answer_is_invalid_and_its_connection_dropped(
    http: http1.Http1Client, server: RawServer, data: bytes
) -> None:
    server.scripts = [hold(data), OK]

    with pytest.raises(http1.InvalidResponse):
        await post(http, server)
    assert (await post(http, server)).body == b"ok"
    assert server.connections == 2


async def test_bytes_after_a_complete_answer_drop_the_connection(
    http: http1.Http1Client, server: RawServer
) -> None:
    # A second, unasked-for answer right behind the first: the framing cannot be trusted.
    doubled = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" * 2
    server.scripts = [answer(doubled), OK]

    first = await post(http, server)
    second = await post(http, server)

    assert (first.body, second.body) == (b"ok", b"ok")
    assert server.connections == 2


async def test_a_body_cut_short_by_the_close_is_invalid(
    http: http1.Http1Client, server: RawServer
) -> None:
    server.scripts = [answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", close=True)]

    with pytest.raises(http1.InvalidResponse):
        await post(http, server)


async def test_a_close_before_any_answer_is_a_disconnect(
    http: http1.Http1Client, server: RawServer
) -> None:
    server.scripts = [answer(b"", close=True)]

    with pytest.raises(http1.Disconnected):
        await post(http, server)


async def test_an_idle_connection_closed_by_the_server_is_not_reused(
    http: http1.Http1Client, server: RawServer
) -> None:
    server.scripts = [OK]
    await post(http, server)
    server.close_clients()
    await server.until(lambda: server.open_now == 0)
    # The server's side is closed; the client's end learns of it on its next loop turns.
    for _ in range(5):
        await asyncio.sleep(0)

    got = await post(http, server)

    assert got.body == b"ok"
    assert server.connections == 2


# -- deadlines and limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        hold(b""),
        hold(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"),
        hold(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"),
        hold(b"HTTP/1.1 200 OK\r\n\r\nclose-delimited, never closed"),
    ],
    ids=["silent", "short-body", "unterminated-chunks", "unclosed"],
)
async def test_a_slow_answer_hits_the_deadline(
    http: http1.Http1Client, server: RawServer, script: Script
) -> None:
    server.scripts = [script, OK]
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(http1.ResponseTimeout):
        await http.request("POST", server.url(), {}, b"{}", deadline=SLOW)

    assert SLOW * 0.9 <= loop.time() - started < SLOW + 1.5
    assert (await post(http, server)).body == b"ok"
    assert server.connections == 2


async def test_connections_never_exceed_the_limit(server: RawServer) -> None:
    gate = asyncio.Event()

    async def slow_ok(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        await gate.wait()
        await OK(head, body, writer)

    server.scripts = [slow_ok]
    limited = client(max_connections=2)
    try:
        sending = [asyncio.create_task(post(limited, server)) for _ in range(6)]
        await server.until(lambda: len(server.requests) >= 2)
        assert server.most_open == 2
        gate.set()
        answers = await asyncio.gather(*sending)
    finally:
        await limited.close()

    assert [a.body for a in answers] == [b"ok"] * 6
    assert server.most_open == 2


async def test_waiting_for_a_free_connection_counts_against_the_deadline(
    server: RawServer,
) -> None:
    server.scripts = [hold(b""), OK]
    limited = client(max_connections=1)
    try:
        busy = asyncio.create_task(post(limited, server))
        await server.until(lambda: bool(server.requests))
        with pytest.raises(http1.ResponseTimeout):
            await limited.request("POST", server.url(), {}, b"", deadline=0.2)
        assert len(server.requests) == 1
        # A cancelled attempt (a worker shutting down) frees its slot and drops its connection.
        busy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await busy
        assert (await post(limited, server)).body == b"ok"
    finally:
        await limited.close()
    assert server.connections == 2


# -- what is never sent ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nX-Injected: 1"}, {"X-Evil\r\nX-Injected": "1"}, {"X-Nul": "a\0b"}],
)
async def test_a_header_with_a_line_break_is_never_sent(
    http: http1.Http1Client, server: RawServer, headers: dict[str, str]
) -> None:
    with pytest.raises(http1.InvalidRequest):
        await http.request("POST", server.url(), headers, b"{}", deadline=DEADLINE)
    assert server.connections == 0


async def test_an_address_the_policy_refuses_is_never_connected(server: RawServer) -> None:
    closed = client(policy=AddressPolicy(parse_allowed_networks("127.0.0.2/32")))
    try:
        with pytest.raises(DestinationBlocked):
            await post(closed, server)
    finally:
        await closed.close()
    assert server.connections == 0
