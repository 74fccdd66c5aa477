"""One customer's dead endpoints never delay another's deliveries, in `serve` and in `api` +
`worker`, on SQLite and PostgreSQL, against real receivers on 127.0.0.1.

The hanging endpoints never answer and the request timeout is far longer than the test, so
application B's messages can only arrive if the worker did not let A's endpoints take its
capacity: before the scheduler, they waited for A's attempts to time out.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from svix.api import ApplicationIn, EndpointIn, Svix, SvixOptions

from tests.support import databases
from tests.support.publisher import publish_many
from tests.support.receiver import Behaviour, Receiver
from tests.support.server import TOKEN, ServerProcess
from tests.support.waiting import eventually

HANGING_ENV = {
    "HOOKPOST_REQUEST_TIMEOUT": "600",  # a hanging attempt outlives the test
    "HOOKPOST_LEASE_SECONDS": "700",
    "HOOKPOST_SHUTDOWN_GRACE": "1",
    "HOOKPOST_WORKER_CONCURRENCY": "64",
    "HOOKPOST_ENDPOINT_CONCURRENCY": "16",
    # Endpoints on probation are tried 16 per 2 s: trying a thousand dead ones takes minutes,
    # far longer than the test needs to see whether a trusted endpoint waits behind them.
    "HOOKPOST_PROBATION_SLOW_AFTER": "2s",
}
ENDPOINT_SHARE = 16


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()

    def answer(request: object) -> Behaviour:
        path = getattr(request, "path", "")
        if path.startswith("/hang"):
            return Behaviour(status=0, mode="hang")
        if path.startswith("/fail"):
            return Behaviour(500)
        return Behaviour(200)

    running.script(answer)  # type: ignore[arg-type]
    yield running
    running.stop()


@pytest.fixture(params=["serve-sqlite", "serve-postgres", "api+worker-postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, list[ServerProcess]]]:
    kind, backend = request.param.rsplit("-", 1)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'isolation.sqlite3'}"
    else:
        databases.require_postgres()
        url = databases.create_postgres_database()
    log = tmp_path / "hookpost.log"
    if kind == "serve":
        api = ServerProcess(url, log, env=HANGING_ENV).start()
        workers: list[ServerProcess] = []
    else:
        api = ServerProcess(url, log, env=HANGING_ENV, command="api").start()
        workers = [ServerProcess(url, log, env=HANGING_ENV, command="worker").start()]
    try:
        yield api, workers
    finally:
        for process in (*workers, api):
            process.kill()
        if backend != "sqlite":
            databases.drop_postgres_database(url)


def _app(sdk: Svix, name: str, urls: list[str]) -> str:
    app = sdk.application.create(ApplicationIn(name=name))
    for url in urls:
        sdk.endpoint.create(app.id, EndpointIn(url=url))
    return app.id


def test_hanging_and_failing_endpoints_of_one_customer_do_not_delay_another(
    deployment: tuple[ServerProcess, list[ServerProcess]], receiver: Receiver
) -> None:
    api, _ = deployment
    sdk = Svix(TOKEN, SvixOptions(server_url=api.url, retry_schedule=[]))
    # Customer A: one endpoint that hangs with 200 messages queued, four more with 16 each
    # (together more than the worker's 64 slots), and 20 endpoints that answer 500.
    flooded = _app(sdk, "A-flooded", [f"{receiver.url}/hang/0"])
    others = [_app(sdk, f"A-{n}", [f"{receiver.url}/hang/{n}"]) for n in range(1, 5)]
    failing = _app(sdk, "A-failing", [f"{receiver.url}/fail/{n}" for n in range(20)])
    assert len(publish_many(api.url, flooded, 200)) == 200
    for app in others:
        assert len(publish_many(api.url, app, 16)) == 16
    assert len(publish_many(api.url, failing, 5)) == 5

    # Customer B: one healthy endpoint and a stream of messages.
    healthy = _app(sdk, "B", [f"{receiver.url}/ok"])
    sent = []
    for _ in range(4):
        sent += publish_many(api.url, healthy, 5, concurrency=1)

    def all_of_b() -> bool:
        got = {r.headers.get("webhook-id") for r in receiver.requests if r.path == "/ok"}
        return set(sent) <= got

    eventually(all_of_b, timeout=120, what="every message of customer B")
    # A's flooded endpoint never had more than its share open, and its queue is still there.
    hanging = [r for r in receiver.requests if r.path == "/hang/0"]
    assert 1 <= len(hanging) <= ENDPOINT_SHARE
    # ... and every request to a hanging endpoint is still open: B did not wait for them.
    held = {r.headers.get("webhook-id") for r in receiver.requests if r.path.startswith("/hang")}
    assert held
    assert not held & {msg_id for _, msg_id in receiver.answered}


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> httpx.Response:
    """POST as the SDKs do: with an idempotency key, sent again after a transport error. A
    loaded machine can stall the server past its keep-alive timeout, which then closes a
    connection the client has just sent a request on (httpx.ReadError, seen once in CI's
    full run); the same key makes the repeat safe (one object, one answer)."""
    headers = {"idempotency-key": f"test-{uuid.uuid4().hex}"}
    for attempt in range(5):
        try:
            answer = await client.post(path, json=body, headers=headers)
        except httpx.TransportError:
            if attempt == 4:
                raise
            continue
        conflict = answer.status_code == 409 and "idempotency" in answer.text
        if not conflict or attempt == 4:  # 409: the first send is still being answered
            return answer
        await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


async def _many_hanging_apps(base_url: str, receiver_url: str, count: int) -> list[str]:
    """`count` applications with one hanging endpoint and one message each; the message ids."""
    headers = {"authorization": f"Bearer {TOKEN}"}
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:

        async def one(n: int) -> str:
            async with limit:
                app = await _post(client, "/api/v1/app", {"name": f"dead-{n}"})
                app_id = app.json()["id"]
                made = await _post(
                    client, f"/api/v1/app/{app_id}/endpoint", {"url": f"{receiver_url}/hang/{n}"}
                )
                assert made.status_code == 201, made.text
                sent = await _post(
                    client,
                    f"/api/v1/app/{app_id}/msg",
                    {"eventType": "invoice.paid", "payload": {"n": n}},
                )
                assert sent.status_code == 202, sent.text
                return str(sent.json()["id"])

        return list(await asyncio.gather(*(one(n) for n in range(count))))


@pytest.mark.slow
@pytest.mark.parametrize("deployment", ["serve-sqlite", "api+worker-postgres"], indirect=True)
def test_a_thousand_hanging_endpoints_of_a_thousand_customers_do_not_delay_another(
    deployment: tuple[ServerProcess, list[ServerProcess]], receiver: Receiver
) -> None:
    """Each dead endpoint holds one attempt only, but together they are far more than the
    worker's slots: endpoints that never answered share probation's part of the slots, and a
    trusted endpoint's deliveries go out at once instead of after everyone's turn."""
    api, _ = deployment
    sdk = Svix(TOKEN, SvixOptions(server_url=api.url, retry_schedule=[]))
    healthy = _app(sdk, "B", [f"{receiver.url}/ok"])
    first = publish_many(api.url, healthy, 1)  # B's endpoint answers: the worker trusts it
    eventually(
        lambda: any(r.headers.get("webhook-id") == first[0] for r in receiver.requests),
        timeout=60,
        what="B's first message",
    )
    hanging = asyncio.run(_many_hanging_apps(api.url, receiver.url, 1000))
    assert len(hanging) == 1000
    # B publishes once the dead endpoints have taken more than the worker's 64 slots.
    eventually(
        lambda: sum(r.path.startswith("/hang") for r in receiver.requests) > 64,
        timeout=120,
        what="the hanging endpoints taking more than the worker's slots",
    )
    sent = publish_many(api.url, healthy, 20, concurrency=1)

    def all_of_b() -> bool:
        got = {r.headers.get("webhook-id") for r in receiver.requests if r.path == "/ok"}
        return set(sent) <= got

    eventually(all_of_b, timeout=120, what="every message of customer B")
    held = {r.headers.get("webhook-id") for r in receiver.requests if r.path.startswith("/hang")}
    assert len(held) > 64
    # B did not wait its turn behind the dead endpoints: most were not even tried yet.
    assert len(held) < 1000
    assert not held & {msg_id for _, msg_id in receiver.answered}
