"""Nothing acknowledged is lost when a worker is killed, and nothing is sent twice without one.

Real processes, real receivers: a worker is SIGKILLed with 1,000+ deliveries in flight
against a slow receiver, restarted, and a checker compares published and received ids.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from svix.api import ApplicationIn, EndpointIn, Svix, SvixOptions

from hookpost.store.schema import deliveries
from tests.support import checker, databases
from tests.support.publisher import publish_many, publish_statuses
from tests.support.receiver import Behaviour, Receiver
from tests.support.server import TOKEN, ServerProcess
from tests.support.waiting import eventually

# No answer until the worker is killed: however slowly a loaded machine sends, every request
# counted is still open (a 6 s answer delay once left 71 of a thousand open). The lease only
# needs to outlast the time to reach a thousand requests; the take-over after kill -9 waits
# for it.
HOLD = Behaviour(status=0, mode="hang")
CRASH_ENV = {
    "HOOKPOST_WORKER_CONCURRENCY": "1200",
    "HOOKPOST_ENDPOINT_CONCURRENCY": "1200",
    "HOOKPOST_CLAIM_BATCH": "400",
    "HOOKPOST_REQUEST_TIMEOUT": "17",
    "HOOKPOST_LEASE_SECONDS": "20",  # attempts start at most 2.5 s after their claim
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def subscribe(base_url: str, receiver: Receiver, paths: list[str]) -> tuple[str, dict[str, str]]:
    sdk = Svix(TOKEN, SvixOptions(server_url=base_url, retry_schedule=[]))
    app = sdk.application.create(ApplicationIn(name="crash"))
    secrets = {}
    for path in paths:
        ep = sdk.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}{path}"))
        secrets[path] = sdk.endpoint.get_secret(app.id, ep.id).key
    return app.id, secrets


def unfinished(url: str) -> int:
    statement = sa.select(sa.func.count()).where(deliveries.c.state != "succeeded")
    return int(databases.query(url, statement)[0][0])


def number_in(body: bytes) -> int:
    return int(json.loads(body)["n"])


@pytest.mark.slow
def test_sigkill_with_a_thousand_in_flight_loses_nothing(
    empty_database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    log = tmp_path / "hookpost.log"
    api = ServerProcess(empty_database_url, log, env=CRASH_ENV, command="api").start()
    worker = ServerProcess(empty_database_url, log, env=CRASH_ENV, command="worker")
    restarted = ServerProcess(empty_database_url, log, env=CRASH_ENV, command="worker")
    try:
        receiver.script(lambda _r: HOLD)
        app_id, secrets = subscribe(api.url, receiver, ["/a", "/b"])
        acked = publish_many(api.url, app_id, 600)  # 1,200 deliveries waiting
        assert len(acked) == 600
        worker.start()
        receiver.wait_for(1000, timeout=180)  # a safety net, not a speed test
        in_flight = len(receiver.requests) - len(receiver.answered)
        assert in_flight >= 1000, f"only {in_flight} in flight when killed"
        worker.kill()
        receiver.script(lambda _r: Behaviour(200))
        restarted.start()
        eventually(
            lambda: checker.all_arrived(acked, list(receiver.requests), secrets),
            timeout=120,
            what="every acknowledged message at every endpoint",
        )
        verdict = checker.check(acked, list(receiver.requests), secrets)
        assert verdict.lost == 0
        assert verdict.unexpected == 0
        assert verdict.bad_signatures == 0
        eventually(lambda: unfinished(empty_database_url) == 0, what="no delivery left")
    finally:
        for process in (restarted, worker, api):
            process.kill()


@pytest.mark.slow
def test_two_workers_on_postgres_deliver_each_message_exactly_once(
    receiver: Receiver, tmp_path: Path
) -> None:
    databases.require_postgres()
    url = databases.create_postgres_database()
    api = ServerProcess(url, tmp_path / "api.log", command="api").start()
    workers = [ServerProcess(url, tmp_path / f"worker{n}.log", command="worker") for n in (1, 2)]
    try:
        app_id, secrets = subscribe(api.url, receiver, ["/only"])
        for worker in workers:
            worker.start()
        acked = publish_many(api.url, app_id, 2000)
        assert len(acked) == 2000
        eventually(
            lambda: checker.all_arrived(acked, list(receiver.requests), secrets),
            timeout=120,
            what="all 2000 messages",
        )
        eventually(lambda: unfinished(url) == 0, what="every delivery recorded")
        verdict = checker.check(acked, list(receiver.requests), secrets)
        assert verdict.lost == 0
        assert verdict.duplicates == 0
        assert verdict.unexpected == 0
        assert len(receiver.requests) == 2000
        for worker in workers:
            assert worker.stop() == 0
        shares = [_delivered(w.logs()) for w in workers]
        assert sum(shares) == 2000
        assert all(share > 0 for share in shares), shares  # both workers took part
    finally:
        api.stop()
        for worker in workers:
            worker.stop()
        databases.drop_postgres_database(url)


def _delivered(logs: str) -> int:
    found = re.findall(r"worker stopped after (\d+) successful deliveries", logs)
    assert found, logs[-2000:]
    return int(found[-1])


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_sigterm_finishes_or_hands_back_everything_in_flight(
    empty_database_url: str, receiver: Receiver, tmp_path: Path, sig: int
) -> None:
    env = {
        "HOOKPOST_SHUTDOWN_GRACE": "1",
        "HOOKPOST_REQUEST_TIMEOUT": "30",
        "HOOKPOST_LEASE_SECONDS": "60",
        "HOOKPOST_ENDPOINT_CONCURRENCY": "64",
    }
    process = ServerProcess(empty_database_url, tmp_path / "hookpost.log", env=env).start()
    try:
        quick = Behaviour(200, delay=0.2)
        hang = Behaviour(mode="hang")
        receiver.script(lambda r: quick if number_in(r.body) % 2 == 0 else hang)
        app_id, _ = subscribe(process.url, receiver, ["/x"])
        acked = publish_many(process.url, app_id, 40)
        receiver.wait_for(40)
        eventually(lambda: len(receiver.answered) >= 20, what="the quick half answered")
        assert process.stop(sig) == 0
    finally:
        process.stop()
    rows = databases.query(
        empty_database_url,
        sa.select(deliveries.c.state, deliveries.c.claim_token, deliveries.c.msg_id),
    )
    answered_ok = {msg for status, msg in receiver.answered if status == 200}
    succeeded = {r.msg_id for r in rows if r.state == "succeeded"}
    assert succeeded == answered_ok  # success recorded exactly for the 2xx answers
    leftover = [r for r in rows if r.state != "succeeded"]
    assert len(leftover) == 20
    assert all(r.state == "pending" and r.claim_token is None for r in leftover)  # handed back
    assert len(acked) == 40


def test_a_publish_on_one_process_wakes_a_worker_on_another_at_once(
    receiver: Receiver, tmp_path: Path
) -> None:
    """LISTEN/NOTIFY: with polling every 60 s, only a notification explains a quick delivery."""
    databases.require_postgres()
    url = databases.create_postgres_database()
    slow_polling = {"HOOKPOST_POLL_INTERVAL": "60"}
    api = ServerProcess(url, tmp_path / "api.log", env=slow_polling, command="api").start()
    worker = ServerProcess(url, tmp_path / "worker.log", env=slow_polling, command="worker")
    try:
        app_id, secrets = subscribe(api.url, receiver, ["/now"])
        worker.start()
        eventually(lambda: "worker (postgresql)" in worker.logs(), what="the worker to start")
        for round_ in range(3):
            acked = publish_many(api.url, app_id, 1)
            receiver.wait_for(round_ + 1, timeout=20)  # far sooner than the 60 s poll
            assert checker.all_arrived(acked, list(receiver.requests), secrets)
    finally:
        api.stop()
        worker.stop()
        databases.drop_postgres_database(url)


def test_lost_database_connections_are_replaced_without_a_restart(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Every server connection is killed (as in a database restart); nothing answers 500,
    nothing acknowledged is lost, and delivery resumes on new connections."""
    databases.require_postgres()
    url = databases.create_postgres_database()
    name = url.rsplit("/", 1)[1]
    server = ServerProcess(url, tmp_path / "hookpost.log").start()
    try:
        app_id, secrets = subscribe(server.url, receiver, ["/db"])
        before = publish_many(server.url, app_id, 20)
        receiver.wait_for(20)
        databases.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        statuses = publish_statuses(server.url, app_id, 20)
        assert set(statuses.values()) <= {202, 503}, statuses  # refused honestly, never a 500
        after = publish_many(server.url, app_id, 20)
        assert len(after) == 20  # the API recovered by itself
        acked = before + after + [i for i, s in statuses.items() if s == 202]
        eventually(
            lambda: checker.all_arrived(acked, list(receiver.requests), secrets),
            what="deliveries after the reconnect",
        )
    finally:
        server.stop()
        databases.drop_postgres_database(url)
