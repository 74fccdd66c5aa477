"""/metrics read after known traffic, from real processes: `hookpost serve` on SQLite and
PostgreSQL, and `hookpost api` with two `hookpost worker` processes on PostgreSQL, whose
counters must add up to what the receiver got and the database holds.

Messages whose payload says "fail" get 500 from the receiver, the others 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from svix.api import ApplicationIn, EndpointIn, MessageIn, Svix, SvixOptions

from hookpost.store.database import Database
from hookpost.store.schema import attempts
from tests.support import databases
from tests.support.receiver import Behaviour, Received, Receiver
from tests.support.server import TOKEN, ServerProcess, free_port
from tests.support.waiting import eventually

SCRAPE_TOKEN = "scrape-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, token: str | None = SCRAPE_TOKEN) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def answer_by_payload(request: Received) -> Behaviour:
    return Behaviour(500 if b'"fail"' in request.body else 200)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    running.script(answer_by_payload)
    yield running
    running.stop()


def sdk(url: str) -> Svix:
    return Svix(TOKEN, SvixOptions(server_url=url, retry_schedule=[]))


def publish(url: str, receiver: Receiver, ok: int, fail: int) -> None:
    client = sdk(url)
    app = client.application.create(ApplicationIn(name="metrics"))
    client.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/hook"))
    for n in range(ok + fail):
        kind = "ok" if n < ok else "fail"
        client.message.create(app.id, MessageIn(event_type="a.b", payload={"kind": kind}))


# Failed deliveries are retried once, quickly, then wait an hour: they end up scheduled.
RETRY_ONCE_THEN_WAIT = {"HOOKPOST_RETRY_SCHEDULE": "0.1,3600", "HOOKPOST_RETRY_JITTER": "0"}


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {**RETRY_ONCE_THEN_WAIT, "HOOKPOST_METRICS_TOKEN": SCRAPE_TOKEN}
    process = ServerProcess(database_url, tmp_path / "serve.log", env=env).start()
    yield process
    process.stop()


def test_metrics_after_known_traffic(serve: ServerProcess, receiver: Receiver) -> None:
    ok, fail = 6, 4
    before = scrape(serve.url)
    publish(serve.url, receiver, ok, fail)
    receiver.wait_for(ok + 2 * fail)

    def settled() -> Samples | None:
        found = scrape(serve.url)
        done = total(found, "hookpost_attempts_total") - total(before, "hookpost_attempts_total")
        # Nothing left to do now but the retries an hour away (the gauges may lag by the
        # few seconds they are cached).
        queue = {
            state: value(found, "hookpost_queue_deliveries", state=state)
            for state in ("ready", "scheduled", "in_flight")
        }
        wanted = {"ready": 0, "scheduled": fail, "in_flight": 0}
        return found if done == ok + 2 * fail and queue == wanted else None

    after = eventually(settled, what="every attempt counted and the failures scheduled")

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("hookpost_attempts_total", outcome="success", error_class="none") == ok
    assert grew("hookpost_attempts_total", outcome="failure", error_class="http_status") == 2 * fail
    assert grew("hookpost_attempt_duration_seconds_count", outcome="success") == ok
    assert grew("hookpost_attempt_duration_seconds_count", outcome="failure") == 2 * fail
    assert grew("hookpost_first_attempt_latency_seconds_count") == ok + fail
    publishes = grew(
        "hookpost_http_request_duration_seconds_count",
        method="POST",
        route="/api/v1/app/{app_id}/msg",
        status_class="2xx",
    )
    assert publishes == ok + fail
    assert value(after, "hookpost_queue_oldest_ready_seconds") == 0
    assert value(after, "hookpost_queue_read_success") == 1
    connections = value(after, "hookpost_db_connections", state="in_use") + value(
        after, "hookpost_db_connections", state="idle"
    )
    assert 1 <= connections <= value(after, "hookpost_db_connections_max")
    dialect = "sqlite" if serve.database_url.startswith("sqlite") else "postgresql"
    assert total(after, "hookpost_info", role="api+worker", database=dialect) == 1


def test_the_metrics_token_is_required_when_set(serve: ServerProcess) -> None:
    url = f"{serve.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 401
    refused = httpx.get(url, headers={"authorization": SCRAPE_TOKEN})  # no scheme
    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"
    allowed = httpx.get(url, headers={"authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert allowed.status_code == 200
    assert "hookpost_attempts" in allowed.text


def test_api_and_workers_on_postgres_add_up(tmp_path: Path, receiver: Receiver) -> None:
    """The API counts the queue (every worker would read the same numbers); each worker
    serves its own counters on a port of its own; their sum is what was delivered."""
    databases.require_postgres()
    url = databases.create_postgres_database()
    env = {**RETRY_ONCE_THEN_WAIT, "HOOKPOST_METRICS_TOKEN": SCRAPE_TOKEN}
    api = ServerProcess(url, tmp_path / "api.log", env=env, command="api").start()
    workers: list[ServerProcess] = []
    try:
        ok, fail = 10, 5
        publish(api.url, receiver, ok, fail)
        waiting = scrape(api.url)  # no worker yet: everything is ready
        assert value(waiting, "hookpost_queue_deliveries", state="ready") == ok + fail
        assert value(waiting, "hookpost_queue_oldest_ready_seconds") > 0
        assert total(waiting, "hookpost_attempts_total") == 0

        ports = [free_port(), free_port()]
        for n, port in enumerate(ports):
            worker_env = {**env, "HOOKPOST_METRICS_PORT": str(port)}
            log = tmp_path / f"worker{n}.log"
            workers.append(ServerProcess(url, log, env=worker_env, command="worker").start())
        worker_urls = [f"http://127.0.0.1:{port}" for port in ports]
        for worker_url in worker_urls:
            eventually(lambda u=worker_url: _answers(u), what=f"{worker_url}/metrics")

        receiver.wait_for(ok + 2 * fail)

        def summed() -> list[Samples] | None:
            each = [scrape(u) for u in worker_urls]
            done = sum(total(s, "hookpost_attempts_total") for s in each)
            return each if done == ok + 2 * fail else None

        each = eventually(summed, what="the workers' attempts adding up")
        successes = sum(
            value(s, "hookpost_attempts_total", outcome="success", error_class="none") for s in each
        )
        failures = sum(
            value(s, "hookpost_attempts_total", outcome="failure", error_class="http_status")
            for s in each
        )
        assert (successes, failures) == (ok, 2 * fail)
        latencies = sum(value(s, "hookpost_first_attempt_latency_seconds_count") for s in each)
        assert latencies == ok + fail
        assert len(receiver.requests) == ok + 2 * fail
        assert _count_attempts(url) == ok + 2 * fail  # the counters say what the table holds
        for found in each:
            assert total(found, "hookpost_info", role="worker") == 1
            assert not any(name == "hookpost_queue_deliveries" for name, _ in found)
        assert httpx.get(f"{worker_urls[0]}/metrics").status_code == 401
        assert httpx.get(f"{worker_urls[0]}/api/v1/app").status_code == 404

        def drained() -> Samples | None:
            found = scrape(api.url)
            states = {
                state: value(found, "hookpost_queue_deliveries", state=state)
                for state in ("ready", "scheduled", "in_flight")
            }
            return found if states == {"ready": 0, "scheduled": fail, "in_flight": 0} else None

        after = eventually(drained, what="the API seeing the queue drained")
        assert total(after, "hookpost_attempts_total") == 0  # the API attempts nothing
        assert total(after, "hookpost_info", role="api") == 1
        for worker in workers:
            assert worker.stop() == 0
    finally:
        for process in (*workers, api):
            process.stop()
        databases.drop_postgres_database(url)


def test_a_worker_whose_metrics_port_is_taken_says_so(tmp_path: Path) -> None:
    with _held_port() as port:
        env = {"HOOKPOST_METRICS_PORT": str(port)}
        database = f"sqlite:///{tmp_path / 'w.sqlite3'}"
        worker = ServerProcess(database, tmp_path / "w.log", env=env, command="worker").start()
        assert worker.process is not None
        assert worker.process.wait(30) == 1
        logs = worker.logs()
        assert f"HOOKPOST_METRICS_PORT: cannot listen on 127.0.0.1:{port}" in logs
        assert "Traceback" not in logs


@contextlib.contextmanager
def _held_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/metrics", timeout=2).status_code == 401
    except httpx.HTTPError:
        return False


def _count_attempts(url: str) -> int:
    async def count() -> int:
        database = Database(url)
        try:
            async with database.read() as conn:
                return int(await conn.scalar(sa.select(sa.func.count()).select_from(attempts)))
        finally:
            await database.close()

    return asyncio.run(count())
