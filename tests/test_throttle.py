"""An endpoint's `throttleRate` holds across every worker process, its waiting deliveries hold
no worker capacity, and a 429 with Retry-After slows that endpoint alone; in `serve` on
SQLite and PostgreSQL and in `api` + 2 workers on PostgreSQL, against real receivers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from svix.api import ApplicationIn, EndpointIn, EventTypeIn, Svix, SvixOptions

from tests.support import databases
from tests.support.publisher import publish_many
from tests.support.receiver import Behaviour, Received, Receiver
from tests.support.server import TOKEN, ServerProcess
from tests.support.waiting import eventually

RATE = 5  # messages per second
THROTTLED = 3 * RATE + 1


@pytest.fixture(params=["serve-sqlite", "serve-postgres", "api+2-workers-postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    kind, backend = request.param.rsplit("-", 1)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'throttle.sqlite3'}"
    else:
        databases.require_postgres()
        url = databases.create_postgres_database()
    log = tmp_path / "hookpost.log"
    env = {"HOOKPOST_SHUTDOWN_GRACE": "1"}
    processes: list[ServerProcess] = []
    try:
        if kind == "serve":
            processes.append(ServerProcess(url, log, env=env).start())
        else:
            processes.append(ServerProcess(url, log, env=env, command="api").start())
            for _ in range(2):
                processes.append(ServerProcess(url, log, env=env, command="worker").start())
        yield processes[0]
    finally:
        for process in processes:
            process.kill()
        if backend != "sqlite":
            databases.drop_postgres_database(url)


def _arrivals(receiver: Receiver, path: str) -> list[Received]:
    return sorted((r for r in receiver.requests if r.path == path), key=lambda r: r.at)


def test_a_throttled_endpoint_receives_at_most_its_rate_and_others_do_not_wait(
    deployment: ServerProcess, receiver: Receiver
) -> None:
    sdk = Svix(TOKEN, SvixOptions(server_url=deployment.url, retry_schedule=[]))
    app = sdk.application.create(ApplicationIn(name="throttled"))
    sdk.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/slow", throttle_rate=RATE))
    other = sdk.application.create(ApplicationIn(name="other"))
    sdk.endpoint.create(other.id, EndpointIn(url=f"{receiver.url}/fast"))

    throttled = set(publish_many(deployment.url, app.id, THROTTLED))
    assert len(throttled) == THROTTLED
    fast = set(publish_many(deployment.url, other.id, 20))

    eventually(
        lambda: len(_arrivals(receiver, "/slow")) >= THROTTLED,
        timeout=THROTTLED / RATE * 10 + 30,
        what="every throttled message",
    )
    slow = _arrivals(receiver, "/slow")
    assert {r.headers["webhook-id"] for r in slow} == throttled  # each once, none lost
    # Turns are 1/RATE apart and nothing is sent before its turn, so the whole run spans at
    # least (n - 1) / RATE seconds, less at most one late first send (a stalled process).
    assert slow[-1].at - slow[0].at >= (THROTTLED - 1) / RATE - 1.0
    # No second holds more than twice the rate: a send may be late, never early, so only
    # deliveries whose turns passed while a process stalled can arrive together.
    for first, last in zip(slow, slow[2 * RATE :], strict=False):
        assert last.at - first.at >= 1.0, "more than twice the rate within one second"
    # The other application's messages did not queue behind the throttled ones.
    got = {r.headers["webhook-id"]: r.at for r in receiver.requests if r.path == "/fast"}
    assert set(got) == fast
    assert max(got.values()) < slow[-1].at


def test_retry_after_holds_that_endpoint_alone(
    deployment: ServerProcess, receiver: Receiver
) -> None:
    calls = itertools.count()

    def answer(request: Received) -> Behaviour:
        if request.path == "/busy" and next(calls) == 0:
            return Behaviour(429, headers={"retry-after": "3"})
        return Behaviour(200)

    receiver.script(answer)
    sdk = Svix(TOKEN, SvixOptions(server_url=deployment.url, retry_schedule=[]))
    for name in ("report.ready", "invoice.paid"):
        sdk.event_type.create(EventTypeIn(name=name, description=name))
    app = sdk.application.create(ApplicationIn(name="busy"))
    busy = sdk.endpoint.create(
        app.id, EndpointIn(url=f"{receiver.url}/busy", event_types=["report.ready"])
    )
    calm = sdk.endpoint.create(
        app.id, EndpointIn(url=f"{receiver.url}/calm", event_types=["invoice.paid"])
    )
    assert busy.id != calm.id

    [first] = publish_many(deployment.url, app.id, 1, event_type="report.ready")
    eventually(lambda: len(_arrivals(receiver, "/busy")) == 1, what="the 429")
    held = set(publish_many(deployment.url, app.id, 5, event_type="report.ready"))
    free = set(publish_many(deployment.url, app.id, 5, event_type="invoice.paid"))

    eventually(lambda: len(_arrivals(receiver, "/busy")) >= 7, timeout=60, what="the held messages")
    calm_arrivals = _arrivals(receiver, "/calm")
    assert {r.headers["webhook-id"] for r in calm_arrivals} == free
    busy_arrivals = _arrivals(receiver, "/busy")
    assert {r.headers["webhook-id"] for r in busy_arrivals} == held | {first}
    # Every later message to the busy endpoint waited for its Retry-After; the calm one's
    # did not wait for it.
    assert all(r.at - busy_arrivals[0].at >= 2.5 for r in busy_arrivals[1:])
    assert max(r.at for r in calm_arrivals) < min(r.at for r in busy_arrivals[1:])
