"""Endpoint safety through the API: URLs refused at creation (literal or resolved), and the
test delivery, which reports what happened without storing or counting it.

The API runs in process so DNS can be scripted; the deliveries are real HTTP to receivers
on 127.0.0.x, and nothing may reach the trap on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import standardwebhooks
from svix.webhooks import Webhook as SvixWebhook

from hookpost.config import Settings
from hookpost.core.addresses import parse_allowed_networks
from hookpost.runtime import Runtime, open_runtime
from tests.support.dns import ScriptedLookup
from tests.support.receiver import Behaviour, Receiver
from tests.support.server import TOKEN
from tests.support.trap import Trap

AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def lookup() -> ScriptedLookup:
    return ScriptedLookup()


@pytest.fixture
async def runtime(database_url: str, lookup: ScriptedLookup) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=database_url,
        api_token=TOKEN,
        allowed_networks=parse_allowed_networks("127.0.0.2/32"),
        request_timeout=1.0,
        connect_timeout=0.5,
        lease_seconds=5.0,
    )
    running = await open_runtime(settings, lookup=lookup)
    await running.admit_operator()  # registers TOKEN
    yield running
    await running.close()


@pytest.fixture
async def api(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=runtime.api())
    async with httpx.AsyncClient(
        transport=transport, base_url="http://hookpost", headers=AUTH
    ) as c:
        yield c


@pytest.fixture
def receiver() -> Any:
    running = Receiver("127.0.0.2").start()
    yield running
    running.stop()


async def new_app(api: httpx.AsyncClient) -> str:
    response = await api.post("/api/v1/app", json={"name": "safety"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create(api: httpx.AsyncClient, app: str, url: str) -> httpx.Response:
    return await api.post(f"/api/v1/app/{app}/endpoint", json={"url": url})


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("10.0.0.5", "private"),
        ("169.254.169.254", "cloud_metadata"),
        ("127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("fd00::1", "ipv6_unique_local"),
    ],
)
async def test_a_name_resolving_to_a_blocked_address_is_refused_at_creation(
    api: httpx.AsyncClient, lookup: ScriptedLookup, address: str, rule: str
) -> None:
    lookup.set("inside.example", [address])
    app = await new_app(api)
    response = await create(api, app, "https://inside.example/hook")
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "url"]
    assert rule in problem["msg"]
    assert "inside.example" in problem["msg"]
    listed = await api.get(f"/api/v1/app/{app}/endpoint")
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://10.0.0.1/", "blocked_address"),
        ("http://2130706433/", "blocked_address"),
        ("http://[::1]/", "blocked_address"),
        ("http://localhost/", "blocked_name"),
        ("ftp://example.com/", "scheme"),
        ("https://user:pass@example.com/", "credentials"),
    ],
)
async def test_urls_break_named_rules(api: httpx.AsyncClient, url: str, rule: str) -> None:
    app = await new_app(api)
    response = await create(api, app, url)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["type"] == f"url.{rule}"
    assert problem["msg"].startswith(rule)


async def test_a_name_that_does_not_resolve_yet_is_accepted_and_fails_as_dns(
    api: httpx.AsyncClient, lookup: ScriptedLookup
) -> None:
    app = await new_app(api)
    response = await create(api, app, "https://not-yet.example/hook")
    assert response.status_code == 201, response.text
    ep = response.json()["id"]
    result = (await api.post(f"/api/v1/app/{app}/endpoint/{ep}/test")).json()
    assert result["success"] is False
    assert result["errorClass"] == "dns"
    assert result["statusCode"] == 0
    assert lookup.count("not-yet.example") == 2  # once at creation, once at the test


async def test_the_test_delivery_reports_a_healthy_receiver(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    app = await new_app(api)
    ep = (await create(api, app, f"{receiver.url}/hook")).json()["id"]
    secret = (await api.get(f"/api/v1/app/{app}/endpoint/{ep}/secret")).json()["key"]
    response = await api.post(
        f"/api/v1/app/{app}/endpoint/{ep}/test", json={"payload": {"hello": "world"}}
    )
    assert response.status_code == 200
    result = response.json()
    assert result["success"] is True
    assert result["statusCode"] == 200
    assert result["statusCodeName"] == "OK"
    assert result["response"] == "ok"
    assert result["durationMs"] >= 0
    [request] = receiver.requests
    assert request.headers["webhook-id"] == result["webhookId"]
    assert standardwebhooks.Webhook(secret).verify(request.body, request.headers) == {
        "hello": "world"
    }
    SvixWebhook(secret).verify(request.body, request.headers)
    attempts = await api.get(f"/api/v1/app/{app}/attempt/endpoint/{ep}")
    assert attempts.json()["data"] == []  # a test is never stored in the history


async def test_the_test_delivery_explains_a_failing_receiver_without_counting_it(
    api: httpx.AsyncClient, receiver: Receiver, runtime: Runtime
) -> None:
    app = await new_app(api)
    ep = (await create(api, app, f"{receiver.url}/hook")).json()["id"]
    receiver.answer(Behaviour(500, body=b"boom"))
    result = (await api.post(f"/api/v1/app/{app}/endpoint/{ep}/test")).json()
    assert result["success"] is False
    assert result["statusCode"] == 500
    assert result["statusCodeName"] == "Internal Server Error"
    assert "crashed" in result["explanation"]
    assert result["errorClass"] == "http_status"
    assert result["response"] == "boom"
    org = await runtime.services.access.default_organization()
    endpoint = await runtime.store.lookups.get_endpoint(org.id, app, ep)
    assert endpoint is not None
    assert endpoint.failing_since is None  # the failure clock did not start


async def test_the_test_delivery_reports_a_closed_port(api: httpx.AsyncClient) -> None:
    closed = Receiver("127.0.0.2").start()
    url = f"{closed.url}/hook"
    closed.stop()
    app = await new_app(api)
    ep = (await create(api, app, url)).json()["id"]
    result = (await api.post(f"/api/v1/app/{app}/endpoint/{ep}/test")).json()
    assert result["errorClass"] == "refused"
    assert result["statusCode"] == 0
    assert "Nothing accepted the connection" in result["explanation"]


async def test_the_test_delivery_reports_a_receiver_slower_than_the_timeout(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    app = await new_app(api)
    ep = (await create(api, app, f"{receiver.url}/hook")).json()["id"]
    receiver.answer(Behaviour(mode="hang"))
    result = (await api.post(f"/api/v1/app/{app}/endpoint/{ep}/test")).json()
    assert result["errorClass"] == "timeout"
    assert result["statusCode"] == 0
    assert result["durationMs"] < 2500  # bounded by the 1 s request timeout


async def test_a_name_rebound_to_loopback_after_creation_is_blocked(
    api: httpx.AsyncClient, lookup: ScriptedLookup, receiver: Receiver
) -> None:
    with Trap("127.0.0.1", receiver.port) as trap:
        lookup.set("rebind.example", ["127.0.0.2"], ["127.0.0.1"])
        app = await new_app(api)
        response = await create(api, app, f"http://rebind.example:{receiver.port}/hook")
        assert response.status_code == 201, response.text  # it was allowed when registered
        ep = response.json()["id"]
        result = (await api.post(f"/api/v1/app/{app}/endpoint/{ep}/test")).json()
        assert result["errorClass"] == "blocked"
        assert "127.0.0.1" in result["errorMessage"]
        assert "loopback" in result["errorMessage"]
        assert trap.hits() == []
        assert receiver.requests == []
