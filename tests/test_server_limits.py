"""The API server refuses costly clients clearly and stays small: oversize headers (431), slow
headers and bodies (408), too many connections (503 / shed), large bodies without a token (401).

Each attack runs against a real `hookpost serve` while a legitimate client keeps being served;
the server's memory (RSS) and open file descriptors are read with psutil as it happens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.support.receiver import Behaviour, Receiver
from tests.support.server import TOKEN, ServerProcess

MAX_CONNECTIONS = 40
READ_TIMEOUT = 2.0
HEADER_LIMIT = 64 * 1024  # the default
MiB = 1024 * 1024
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("limits")
    process = ServerProcess(
        f"sqlite:///{path / 'limits.sqlite3'}",
        path / "server.log",
        env={
            "HOOKPOST_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
            "HOOKPOST_REQUEST_READ_TIMEOUT": f"{READ_TIMEOUT:g}s",
            "HOOKPOST_KEEP_ALIVE_TIMEOUT": "1s",
            "HOOKPOST_REQUEST_TIMEOUT": "8s",
            "HOOKPOST_LEASE_SECONDS": "20s",
        },
    ).start()
    yield process
    process.stop()


def usage(server: ServerProcess) -> tuple[int, int]:
    """(RSS bytes, open file descriptors) of the server process."""
    assert server.process is not None
    proc = psutil.Process(server.process.pid)
    return proc.memory_info().rss, proc.num_fds()


async def collect(reader: asyncio.StreamReader, within: float) -> bytes:
    """Every byte the server sends until it closes (a reset after its answer is no failure)."""
    got = b""
    async with asyncio.timeout(within):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionError:
                return got
            if not chunk:
                return got
            got += chunk


def parse(raw: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), raw[:200]
    return int(head.split()[1]), json.loads(body)


async def answer_of(reader: asyncio.StreamReader, within: float) -> tuple[int, dict[str, str]]:
    """The status and JSON body of the one response on a connection (read to its close)."""
    return parse(await collect(reader, within))


async def legitimate(server: ServerProcess, count: int = 5) -> list[float]:
    """`count` authenticated requests, each on a new connection; how long each took."""
    took = []
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=10) as client:
        for _ in range(count):
            started = time.monotonic()
            response = await client.get("/api/v1/app", headers={"authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 200, response.text
            took.append(time.monotonic() - started)
    return took


async def open_connection(
    server: ServerProcess,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


# -- oversize headers --------------------------------------------------------------------------


async def send_huge_header(server: ServerProcess, total: int) -> tuple[int, dict[str, str], int]:
    """Send a header of `total` bytes in 64 KiB writes until the server answers; bytes sent."""
    reader, writer = await open_connection(server)
    writer.write(b"GET /api/v1/app HTTP/1.1\r\nhost: x\r\nx-big: ")
    sent, chunk = 0, b"a" * (64 * 1024)
    read = asyncio.ensure_future(answer_of(reader, 60))
    try:
        while sent < total and not read.done():
            writer.write(chunk)
            sent += len(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (ConnectionError, TimeoutError):
                break
            await asyncio.sleep(0)
        status, body = await read
    finally:
        writer.close()
    return status, body, sent


async def test_oversize_headers_are_refused_431_with_memory_bounded(server: ServerProcess) -> None:
    rss_before, _ = usage(server)
    peak = rss_before
    attacks = asyncio.gather(*(send_huge_header(server, 64 * MiB) for _ in range(8)))
    served: list[float] = []
    while not attacks.done():
        served += await legitimate(server, 1)
        peak = max(peak, usage(server)[0])
    for status, body, sent in await attacks:
        assert status == 431
        assert body["code"] == "request_header_fields_too_large"
        assert "65536 bytes" in body["detail"]
        assert sent < 16 * MiB, "the server kept reading a header far past its limit"
    assert served, "no legitimate request was made during the attack"
    assert max(served) < 2.0
    assert peak - rss_before < 40 * MiB, f"RSS grew {(peak - rss_before) / MiB:.0f} MiB"


@pytest.mark.parametrize(("size", "status"), [(HEADER_LIMIT - 200, 200), (HEADER_LIMIT + 1, 431)])
async def test_the_header_limit_is_exact_when_headers_arrive_at_once(
    server: ServerProcess, size: int, status: int
) -> None:
    request_line = b"GET /api/v1/app HTTP/1.1\r\n"
    auth = f"authorization: Bearer {TOKEN}\r\n".encode()
    fixed = len(request_line) + len(auth) + len(b"x-pad: \r\nconnection: close\r\n")
    padding = b"p" * (size - fixed)
    reader, writer = await open_connection(server)
    writer.write(request_line + auth + b"x-pad: " + padding + b"\r\nconnection: close\r\n\r\n")
    async with asyncio.timeout(10):
        raw = await reader.read(-1)
    writer.close()
    assert int(raw.split()[1]) == status, raw[:200]


# -- slow headers and bodies --------------------------------------------------------------------


async def slow_client(server: ServerProcess, pace: float) -> bytes:
    """After `pace` s, half a header, then a byte every 0.3 s until the server answers or closes."""
    await asyncio.sleep(pace)  # an attacker opening its connections one after another
    reader, writer = await open_connection(server)
    writer.write(b"GET /api/v1/app HTTP/1.1\r\nhost: x\r\nx-slow: ")
    got = b""
    try:
        async with asyncio.timeout(READ_TIMEOUT + 10):
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), 0.3)
                except TimeoutError:
                    if not got:
                        writer.write(b"a")
                    continue
                except ConnectionError:
                    return got
                if not chunk:
                    return got
                got += chunk
    finally:
        writer.close()


async def test_slow_headers_get_408_and_do_not_pile_up(server: ServerProcess) -> None:
    """Slowloris: 150 connections send half a header and then a byte now and then."""
    rss_before, fds_before = usage(server)
    started = time.monotonic()
    attack = asyncio.gather(*(slow_client(server, n * 0.01) for n in range(150)))
    await asyncio.sleep(0.5)  # the attack is under way
    served = await legitimate(server, 5)
    _, fds = usage(server)
    # The cap, plus refused connections that linger (at most as many, for a second).
    assert fds - fds_before <= 2 * MAX_CONNECTIONS + 5, "connections beyond the cap were held"
    raws = await attack
    took = time.monotonic() - started
    # Each was refused: shed at the cap (503), out of time (408), or closed quietly when shed
    # before the server had read a byte of it (HTTP's answer to a request never seen).
    answers = [parse(raw) for raw in raws if raw]
    statuses = [status for status, _ in answers]
    assert set(statuses) == {408, 503}, statuses
    assert len(answers) >= len(raws) // 2, f"only {len(answers)} of {len(raws)} were answered"
    for status, body in answers:
        expected = "request_timeout" if status == 408 else "too_many_connections"
        assert body["code"] == expected
    assert took < READ_TIMEOUT + 10
    assert max(served) < 2.0, served
    assert usage(server)[0] - rss_before < 40 * MiB


async def test_a_slow_body_gets_408(server: ServerProcess) -> None:
    reader, writer = await open_connection(server)
    started = time.monotonic()
    writer.write(
        b"POST /api/v1/app HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {TOKEN}\r\ncontent-length: 1000\r\n\r\n".encode()
        + b'{"name": "'
    )
    status, body = await answer_of(reader, READ_TIMEOUT + 10)
    writer.close()
    assert status == 408
    assert body["code"] == "request_timeout"
    assert f"within {READ_TIMEOUT:g}s" in body["detail"]
    assert time.monotonic() - started < READ_TIMEOUT + 5


async def test_a_large_body_without_a_valid_token_is_refused_before_it_is_read(
    server: ServerProcess,
) -> None:
    for authorization in (b"", b"authorization: Bearer hp_sk_wrong\r\n"):
        reader, writer = await open_connection(server)
        writer.write(
            b"POST /api/v1/app/app_x/msg HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + authorization
            + b"content-length: 900000\r\n\r\n"
        )  # ... and not one byte of the body
        status, body = await answer_of(reader, 10)
        writer.close()
        assert status == 401, body
        assert body["code"] == "authentication_failed"


# -- too many connections ----------------------------------------------------------------------


async def test_idle_connections_beyond_the_cap_are_shed_for_a_prompt_client(
    server: ServerProcess,
) -> None:
    _, fds_before = usage(server)
    idle = [await open_connection(server) for _ in range(MAX_CONNECTIONS * 3)]
    try:
        served = await legitimate(server, 5)
        assert max(served) < 2.0
        _, fds = usage(server)
        assert fds - fds_before <= MAX_CONNECTIONS + 5  # shed quietly: nothing lingers
        closed = 0
        for reader, _ in idle:
            try:
                async with asyncio.timeout(0.05):
                    closed += await reader.read(-1) == b""  # closed quietly: sent nothing
            except TimeoutError:
                pass
        assert closed >= MAX_CONNECTIONS * 2
    finally:
        for _, writer in idle:
            writer.close()


@pytest.fixture
def hanging_receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    running.script(lambda _r: Behaviour(status=0, mode="hang"))
    yield running
    running.stop()


async def test_when_every_connection_is_busy_a_new_one_gets_503(
    server: ServerProcess, hanging_receiver: Receiver
) -> None:
    """Busy: requests received whole and being answered (test deliveries to a hanging URL)."""
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        app = (await client.post("/api/v1/app", json={"name": "busy"})).json()["id"]
        ep = (
            await client.post(
                f"/api/v1/app/{app}/endpoint", json={"url": f"{hanging_receiver.url}/hang"}
            )
        ).json()["id"]
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=30, limits=limits
    ) as busy:
        tests = [
            asyncio.create_task(busy.post(f"/api/v1/app/{app}/endpoint/{ep}/test"))
            for _ in range(MAX_CONNECTIONS)
        ]
        # every busy request has reached the receiver
        await asyncio.to_thread(hanging_receiver.wait_for, MAX_CONNECTIONS, 30)
        reader, writer = await open_connection(server)
        writer.write(b"GET /api/v1/health/ping HTTP/1.1\r\nhost: x\r\n\r\n")
        status, body = await answer_of(reader, 5)
        writer.close()
        assert status == 503
        assert body["code"] == "too_many_connections"
        for done in await asyncio.gather(*tests):
            assert done.status_code == 200  # the busy ones were not disturbed
