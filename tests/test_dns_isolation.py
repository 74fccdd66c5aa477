"""Name resolution cannot stall anyone: a real DNS server on 127.0.0.1 that answers late or never,
the caching resolver (TTLs, failures), uvloop connects to numeric addresses, endpoint creation.

The end-to-end test runs `hookpost serve` on SQLite and PostgreSQL with 50 endpoints of one
application on host names whose lookups hang, and a healthy endpoint of another on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from hookpost.config import Settings
from hookpost.core.addresses import AddressPolicy, parse_allowed_networks
from hookpost.core.outcomes import ErrorClass
from hookpost.delivery.dns import NameResolver
from hookpost.delivery.event_loop import DeliveryLoop
from hookpost.delivery.resolver import DnsTimeout
from hookpost.delivery.sender import HTTP_CLIENTS, Sender, SenderLimits
from hookpost.runtime import Runtime, open_runtime
from tests.support.dns_server import NXDOMAIN, DnsServer
from tests.support.receiver import Receiver
from tests.support.server import TOKEN, ServerProcess
from tests.support.waiting import eventually

AUTH = {"authorization": f"Bearer {TOKEN}"}
LOOPBACK = AddressPolicy(parse_allowed_networks("127.0.0.0/8"))
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    server = DnsServer().start()
    yield server
    server.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the resolver against a real DNS server -----------------------------------------------------


async def test_a_second_lookup_within_the_ttl_asks_the_server_nothing(dns: DnsServer) -> None:
    dns.set("cached.test", ["127.0.0.2", "::1"], ttl=300)
    names = NameResolver([dns.address], timeout=2)
    try:
        assert sorted(await names("cached.test", 443)) == ["127.0.0.2", "::1"]
        asked = dns.queries("cached.test")
        assert asked >= 1
        assert sorted(await names("Cached.TEST", 443)) == ["127.0.0.2", "::1"]
        assert dns.queries("cached.test") == asked
    finally:
        await names.close()


async def test_after_the_ttl_the_name_is_asked_again(dns: DnsServer) -> None:
    dns.set("short.test", ["127.0.0.2"], ttl=1)
    names = NameResolver([dns.address], timeout=2)
    try:
        assert await names("short.test", 80) == ["127.0.0.2"]
        asked = dns.queries("short.test")
        dns.set("short.test", ["127.0.0.3"], ttl=1)
        found: list[str] = []
        deadline = time.monotonic() + 10
        while dns.queries("short.test") == asked and time.monotonic() < deadline:
            found = await names("short.test", 80)  # from the cache until the TTL runs out
            if dns.queries("short.test") == asked:
                assert found == ["127.0.0.2"]
                await asyncio.sleep(0.05)
        assert dns.queries("short.test") > asked, "the server was never asked again"
        assert await names("short.test", 80) == ["127.0.0.3"]
    finally:
        await names.close()


async def test_failures_are_remembered_for_the_failure_ttl_only(dns: DnsServer) -> None:
    dns.set("gone.test", [], rcode=NXDOMAIN)
    clock = FakeClock()
    names = NameResolver([dns.address], timeout=2, failure_ttl=5, clock=clock)
    try:
        with pytest.raises(socket.gaierror, match=r"gone\.test"):
            await names("gone.test", 80)
        asked = dns.queries("gone.test")
        clock.now += 4.9
        with pytest.raises(socket.gaierror):
            await names("gone.test", 80)
        assert dns.queries("gone.test") == asked
        clock.now += 0.2
        dns.set("gone.test", ["127.0.0.2"])
        assert await names("gone.test", 80) == ["127.0.0.2"]
        assert dns.queries("gone.test") > asked
    finally:
        await names.close()


async def test_numeric_hosts_never_reach_the_server(dns: DnsServer) -> None:
    names = NameResolver([dns.address], timeout=2)
    try:
        assert await names("127.0.0.9", 80) == ["127.0.0.9"]
        assert await names("::1", 80) == ["::1"]
        assert names._channel is None  # no resolver was even made
    finally:
        await names.close()


async def test_silent_name_servers_cost_one_query_and_delay_no_other_name(dns: DnsServer) -> None:
    for n in range(50):
        dns.set(f"dead{n}.test", ["127.0.0.2"], delay=None)
    dns.set("alive.test", ["127.0.0.4"])
    names = NameResolver([dns.address], timeout=1.5)
    try:
        started = time.monotonic()
        hanging = [
            asyncio.create_task(names(f"dead{n % 50}.test", 80)) for n in range(200)
        ]  # four callers per dead name: they share its query
        await asyncio.sleep(0)
        assert await names("alive.test", 80) == ["127.0.0.4"]
        assert time.monotonic() - started < 1.0, "a healthy name waited for the dead ones"
        results = await asyncio.gather(*hanging, return_exceptions=True)
        assert all(isinstance(r, DnsTimeout) for r in results), results[:3]
        assert "dead0.test took longer than 1.5s" in str(results[0])
        # c-ares retries within the budget, but the 4 callers of a name asked it once.
        assert dns.queries("dead0.test") <= 4
        # the timeout is remembered: asking again costs nothing
        asked = dns.queries("dead0.test")
        with pytest.raises(DnsTimeout):
            await names("dead0.test", 80)
        assert dns.queries("dead0.test") == asked
    finally:
        await names.close()


# -- uvloop: connects to numeric addresses never wait for its thread pool -------------------


class _StuckPool:
    """A loop whose getaddrinfo never returns: what a thread pool full of slow lookups does."""

    calls = 0

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        _StuckPool.calls += 1
        await asyncio.Event().wait()


class StuckDeliveryLoop(_StuckPool, DeliveryLoop):
    pass


class StuckUvloop(_StuckPool, uvloop.Loop):
    pass


def _deliver_on(
    loop_factory: Any, url: str, dns: DnsServer, client: str = "builtin"
) -> ErrorClass | None:
    async def send() -> ErrorClass | None:
        names = NameResolver([dns.address], timeout=1)
        limits = SenderLimits(
            request_timeout=2,
            connect_timeout=1,
            max_response_bytes=64 * 1024,
            stored_response_bytes=20_000,
            max_connections=64,
            https_only=False,
            http_client=client,
        )
        sender = Sender(LOOPBACK, limits, lookup=names)
        try:
            outcome = await sender.send("POST", url, {}, b"{}", datetime.now(UTC))
        finally:
            await sender.close()
            await names.close()
        return outcome.error_class

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(send())


@pytest.mark.parametrize("client", HTTP_CLIENTS)
def test_a_numeric_destination_connects_without_the_loops_lookup_pool(
    receiver: Receiver, dns: DnsServer, client: str
) -> None:
    dns.set("named.test", ["127.0.0.1"])
    _StuckPool.calls = 0
    assert _deliver_on(StuckDeliveryLoop, f"{receiver.url}/numeric", dns, client) is None
    named = f"http://named.test:{receiver.port}/named"
    # c-ares, then a numeric connect
    assert _deliver_on(StuckDeliveryLoop, named, dns, client) is None
    assert _StuckPool.calls == 0
    assert [r.path for r in receiver.requests] == ["/numeric", "/named"]
    if client == "builtin":
        # The builtin client connects with `create_connection` to the vetted address, which
        # uvloop resolves without its pool: even plain uvloop does not stall.
        assert _deliver_on(StuckUvloop, f"{receiver.url}/plain", dns, client) is None
        assert _StuckPool.calls == 0
        return
    # aiohttp on plain uvloop waits for the stuck pool until the connect budget runs out:
    # this is the stall the delivery loop removes.
    assert _deliver_on(StuckUvloop, f"{receiver.url}/plain", dns, client) is ErrorClass.TIMEOUT
    assert _StuckPool.calls >= 1


# -- endpoint creation -----------------------------------------------------------------------


@pytest.fixture
async def runtime(database_url: str, dns: DnsServer) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=database_url,
        api_token=TOKEN,
        dns_servers=(dns.address,),
        dns_check_timeout=0.5,
        dns_timeout=5.0,
    )
    running = await open_runtime(settings)
    await running.admit_operator()
    yield running
    await running.close()


async def test_creating_an_endpoint_on_a_silent_name_answers_422_in_time(
    runtime: Runtime, dns: DnsServer
) -> None:
    dns.set("silent.test", ["93.184.215.14"], delay=None)
    dns.set("fine.test", ["93.184.215.14"])
    transport = httpx.ASGITransport(app=runtime.api())
    async with httpx.AsyncClient(transport=transport, base_url="http://h", headers=AUTH) as api:
        app = (await api.post("/api/v1/app", json={"name": "dns"})).json()["id"]

        async def create(url: str) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            response = await api.post(f"/api/v1/app/{app}/endpoint", json={"url": url})
            return response, time.monotonic() - started

        slow = [asyncio.create_task(create(f"https://silent.test/{n}")) for n in range(5)]
        await asyncio.sleep(0)
        fine, fine_took = await create("https://fine.test/hook")
        assert fine.status_code == 201, fine.text
        assert fine_took < 0.5, "another endpoint's creation waited for the silent name"
        for response, took in await asyncio.gather(*slow):
            assert response.status_code == 422, response.text
            [problem] = response.json()["detail"]
            assert problem["type"] == "url.dns_timeout"
            assert problem["loc"] == ["body", "url"]
            assert "silent.test did not answer within 0.5s" in problem["msg"]
            assert took < 3.0
        listed = (await api.get(f"/api/v1/app/{app}/endpoint")).json()["data"]
        assert [e["url"] for e in listed] == ["https://fine.test/hook"]


# -- `serve`: 50 endpoints on hanging names, one healthy endpoint of another application ------


def test_hanging_lookups_of_one_customer_do_not_delay_another(
    database_url: str, tmp_path: Path, dns: DnsServer, receiver: Receiver
) -> None:
    slow = [f"slow{n}.test" for n in range(50)]
    for name in slow:
        dns.set(name, ["127.0.0.1"], ttl=0)  # answers at creation, never cached
    server = ServerProcess(
        database_url,
        tmp_path / "server.log",
        env={
            "HOOKPOST_DNS_SERVERS": dns.address,
            "HOOKPOST_DNS_TIMEOUT": "30s",  # the lookups outlive the test
            "HOOKPOST_CONNECT_TIMEOUT": "30s",
            "HOOKPOST_REQUEST_TIMEOUT": "30s",
            "HOOKPOST_LEASE_SECONDS": "60s",
            "HOOKPOST_SHUTDOWN_GRACE": "0",
        },
    ).start()
    try:
        http = httpx.Client(base_url=server.url, headers=AUTH, timeout=30)
        a = http.post("/api/v1/app", json={"name": "A"}).json()["id"]
        for n, name in enumerate(slow):
            url = f"http://{name}:{receiver.port}/a/{n}"
            created = http.post(f"/api/v1/app/{a}/endpoint", json={"url": url})
            assert created.status_code == 201, created.text
        b = http.post("/api/v1/app", json={"name": "B"}).json()["id"]
        created = http.post(f"/api/v1/app/{b}/endpoint", json={"url": f"{receiver.url}/b"})
        assert created.status_code == 201, created.text
        for n, name in enumerate(slow):  # half answer after 10 s, half never
            dns.set(name, ["127.0.0.1"], delay=10.0 if n % 2 else None)

        asked = {name: dns.queries(name) for name in slow}  # by the creations
        sent_a = http.post(f"/api/v1/app/{a}/msg", json={"eventType": "x", "payload": {}})
        assert sent_a.status_code == 202
        eventually(
            lambda: all(dns.queries(name) > asked[name] for name in slow),  # ttl 0: not cached
            timeout=30,
            what="every slow name being looked up by its delivery",
        )
        sent_b, waited = [], []
        for n in range(5):
            published_at = time.monotonic()
            message = {"eventType": "x", "payload": {"n": n}}
            published = http.post(f"/api/v1/app/{b}/msg", json=message)
            assert published.status_code == 202
            sent_b.append(published.json()["id"])
            eventually(
                lambda n=n: sum(r.path == "/b" for r in receiver.requests) > n,
                timeout=30,
                what=f"B's message {n}",
            )
            waited.append(time.monotonic() - published_at)
        # The request timeout is 30 s, longer than each wait above allows: B's first attempts
        # cannot have timed out and been retried; their recorded history says so below.
        assert len(waited) == 5
        # ... and the lookups of the silent names were still hanging all along.
        silent = {f"/a/{n}" for n in range(0, 50, 2)}
        assert not silent & {r.path for r in receiver.requests}
        for msg in sent_b:

            def recorded(msg: str = msg) -> list[tuple[int, str | None]]:
                attempts = http.get(f"/api/v1/app/{b}/attempt/msg/{msg}").json()["data"]
                return [(x["responseStatusCode"], x["errorClass"]) for x in attempts]

            # The receiver sees a request a moment before its attempt is recorded.
            assert eventually(recorded, timeout=30, what=f"{msg}'s attempt recorded") == [
                (200, None)
            ]
    finally:
        server.kill()
