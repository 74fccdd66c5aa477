"""The delivery queue in the store, on SQLite (store/sqlite/queue.py, on sqlite3) and
PostgreSQL (store/postgres/queue.py, on asyncpg): claims lease due rows with what they need,
records are fenced by claim token, endpoint health is tracked, and a lost PostgreSQL connection
is never handed out again. Every claim and record branch: test_store_queue_contract.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookpost.config import Settings
from hookpost.core.errors import Unavailable
from hookpost.core.fields import ApplicationFields, EndpointFields, NewMessage
from hookpost.core.ids import IdFactory
from hookpost.core.models import Claim, ClaimShares, DeliveryState, TriggerType
from hookpost.core.outcomes import AttemptRecord, Decision, ErrorClass, Outcome
from hookpost.runtime import open_runtime
from hookpost.store import Stores, migrate
from hookpost.store.database import Database
from hookpost.store.schema import attempts, deliveries, endpoints
from tests.support import databases

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEASE = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Queue:
    store: Stores
    clock: Clock
    org: str
    app: str
    endpoint: str
    url: str


@contextlib.asynccontextmanager
async def open_queue(url: str) -> AsyncIterator[Queue]:
    database = Database(url)
    try:
        await migrate.upgrade(database)
        clock = Clock()
        store = Stores(database, clock, IdFactory(clock, os.urandom))
        org = (await store.access.create_organization("queue")).id
        app = (await store.applications.create_application(org, ApplicationFields("app"))).id
        made = await store.endpoints.create_endpoint(
            org, app, EndpointFields(url="https://example.com/hook"), SECRET
        )
        yield Queue(store, clock, org, app, made.id, url)
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def postgres_queue() -> AsyncIterator[Queue]:
    """A queue on an empty PostgreSQL database of its own."""
    await asyncio.to_thread(databases.require_postgres)
    url = await asyncio.to_thread(databases.create_postgres_database)
    try:
        async with open_queue(url) as queue:
            yield queue
    finally:
        await asyncio.to_thread(databases.drop_postgres_database, url)


@pytest.fixture
async def pg_queue() -> AsyncIterator[Queue]:
    async with postgres_queue() as queue:
        yield queue


@pytest.fixture(params=["sqlite", "postgres"])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    """A store on an empty database of its own (a claim takes due rows of every tenant)."""
    if request.param == "postgres":
        async with postgres_queue() as queue:
            yield queue
        return
    async with open_queue(f"sqlite:///{tmp_path / 'queue.sqlite3'}") as queue:
        yield queue


async def publish(queue: Queue, count: int) -> list[str]:
    ids = []
    for n in range(count):
        new = NewMessage(event_type="invoice.paid", payload=b'{"n":%d}' % n)
        ids.append((await queue.store.publishing.publish(queue.org, queue.app, new)).message.id)
    return ids


def record(claim: Claim, status: int, state: DeliveryState, at: datetime) -> AttemptRecord:
    error = None if status else ErrorClass.REFUSED
    outcome = Outcome(
        status_code=status,
        duration_ms=12,
        error_class=error,
        response_body="ok" if status else "",
        request_headers={"webhook-id": claim.message.id},
    )
    next_at = at + timedelta(seconds=5) if state is DeliveryState.PENDING else None
    decision = Decision(state=state, attempts=claim.attempts + 1, next_attempt_at=next_at)
    return AttemptRecord(f"atmpt_{os.urandom(8).hex()}", claim, outcome, decision, at)


async def delivery_states(queue: Queue) -> dict[str, tuple[str, int, str | None]]:
    query = sa.select(
        deliveries.c.msg_id, deliveries.c.state, deliveries.c.attempts, deliveries.c.claim_token
    )
    async with queue.store.database.read() as conn:
        return {r.msg_id: (r.state, r.attempts, r.claim_token) for r in await conn.execute(query)}


async def failing_since(queue: Queue) -> int | None:
    query = sa.select(endpoints.c.failing_since).where(endpoints.c.id == queue.endpoint)
    async with queue.store.database.read() as conn:
        value: int | None = (await conn.execute(query)).scalar()
    return value


async def test_a_claim_leases_due_deliveries_with_their_message_and_endpoint(queue: Queue) -> None:
    published = await publish(queue, 3)
    claims = await queue.store.queue.claim_due(2, LEASE)
    assert len(claims) == 2
    assert {c.message.id for c in claims} < set(published)
    first = claims[0]
    assert first.endpoint.id == queue.endpoint
    assert first.endpoint.url == "https://example.com/hook"
    assert first.message.payload is not None
    assert first.message.payload.startswith(b'{"n":')
    assert first.message.event_type == "invoice.paid"
    assert first.trigger is TriggerType.SCHEDULED
    assert first.attempts == 0
    assert first.lease_until == queue.clock.now + LEASE
    assert len({c.token for c in claims}) == 1

    rest = await queue.store.queue.claim_due(10, LEASE)
    assert {c.message.id for c in rest} == set(published) - {c.message.id for c in claims}
    assert len(rest) == 1
    assert await queue.store.queue.claim_due(10, LEASE) == []  # everything is leased


async def test_a_claim_takes_no_more_than_each_endpoint_s_room_and_skips_full_endpoints(
    queue: Queue,
) -> None:
    """Shares are enforced in the claim itself: work beyond an endpoint's room stays queued
    (no worker slot held for it), and an endpoint with no room is skipped for the next."""
    busy, other, third = queue.endpoint, *await add_endpoints(queue, 2)
    published: dict[str, list[str]] = {}
    for endpoint in (busy, other, third):
        for n in range(6):
            queue.clock.now += timedelta(milliseconds=5)  # ids keep time in 4 ms steps
            new = NewMessage(event_type="invoice.paid", payload=b'{"n":%d}' % n)
            sent = await queue.store.publishing.publish(
                queue.org, queue.app, new, only_endpoint=endpoint
            )
            published.setdefault(endpoint, []).append(sent.message.id)
    shares = ClaimShares(size=50, room=2, rooms={busy: 0, other: 1})
    claimed = await queue.store.queue.claim_due(shares, LEASE)
    taken = Counter(c.endpoint.id for c in claimed)
    assert taken == {other: 1, third: 2}
    # Earliest first within each endpoint.
    assert {c.message.id for c in claimed if c.endpoint.id == third} == set(published[third][:2])
    assert [c.message.id for c in claimed if c.endpoint.id == other] == published[other][:1]
    # The rest are still due for a claim with room for them.
    rest = await queue.store.queue.claim_due(ClaimShares(size=50, room=50), LEASE)
    assert Counter(c.endpoint.id for c in rest) == {busy: 6, other: 5, third: 4}


async def test_an_expired_lease_is_claimed_again_and_the_old_holder_is_fenced_off(
    queue: Queue,
) -> None:
    [msg] = await publish(queue, 1)
    [stale] = await queue.store.queue.claim_due(5, LEASE)
    queue.clock.now += LEASE + timedelta(seconds=1)
    [fresh] = await queue.store.queue.claim_due(5, LEASE)
    assert fresh.message.id == msg
    assert fresh.token != stale.token

    late = record(stale, 200, DeliveryState.SUCCEEDED, queue.clock.now)
    assert await queue.store.queue.record_attempts([late]) == []  # its lease was taken over
    assert (await delivery_states(queue))[msg] == ("pending", 0, fresh.token)

    kept = await queue.store.queue.record_attempts(
        [record(fresh, 200, DeliveryState.SUCCEEDED, queue.clock.now)]
    )
    assert [r.claim.token for r in kept] == [fresh.token]
    assert (await delivery_states(queue))[msg] == ("succeeded", 1, None)
    async with queue.store.database.read() as conn:
        rows = (await conn.execute(sa.select(attempts))).all()
    assert len(rows) == 1
    assert rows[0].response_status_code == 200
    assert rows[0].response_body == "ok"
    assert rows[0].delivery_id == fresh.delivery_id
    assert rows[0].duration_ms == 12


async def test_records_of_a_batch_are_written_together_and_retries_stay_pending(
    queue: Queue,
) -> None:
    published = await publish(queue, 4)
    claims = await queue.store.queue.claim_due(10, LEASE)
    now = queue.clock.now
    outcomes = [
        record(claims[0], 200, DeliveryState.SUCCEEDED, now),
        record(claims[1], 500, DeliveryState.PENDING, now),
        record(claims[2], 0, DeliveryState.PENDING, now),
        record(claims[3], 410, DeliveryState.FAILED, now),
    ]
    assert len(await queue.store.queue.record_attempts(outcomes)) == 4
    states = await delivery_states(queue)
    by_claim = {c.message.id: states[c.message.id] for c in claims}
    assert sorted(by_claim.values()) == [
        ("failed", 1, None),
        ("pending", 1, None),
        ("pending", 1, None),
        ("succeeded", 1, None),
    ]
    assert set(states) == set(published)
    assert await queue.store.queue.claim_due(10, LEASE) == []  # retries are due in 5 s
    queue.clock.now += timedelta(seconds=5)
    assert len(await queue.store.queue.claim_due(10, LEASE)) == 2


async def test_a_delivery_paused_mid_flight_stays_paused_unless_the_attempt_succeeded(
    queue: Queue,
) -> None:
    await publish(queue, 2)
    failing, succeeding = await queue.store.queue.claim_due(10, LEASE)
    async with queue.store.database.write() as conn:
        await conn.execute(deliveries.update().values(state="paused"))
    now = queue.clock.now
    await queue.store.queue.record_attempts(
        [
            record(failing, 500, DeliveryState.PENDING, now),
            record(succeeding, 200, DeliveryState.SUCCEEDED, now),
        ]
    )
    states = await delivery_states(queue)
    assert states[failing.message.id][0] == "paused"
    assert states[succeeding.message.id][0] == "succeeded"


async def test_endpoint_health_starts_failing_on_a_failure_and_clears_on_a_success(
    queue: Queue,
) -> None:
    await publish(queue, 1)
    [claim] = await queue.store.queue.claim_due(1, LEASE)
    await queue.store.queue.record_attempts(
        [record(claim, 0, DeliveryState.PENDING, queue.clock.now)]
    )
    assert await failing_since(queue) == int(queue.clock.now.timestamp() * 1_000_000)

    queue.clock.now += timedelta(seconds=5)
    [again] = await queue.store.queue.claim_due(1, LEASE)
    assert again.endpoint.failing_since is not None  # the claim carries the endpoint's clock
    await queue.store.queue.record_attempts(
        [record(again, 204, DeliveryState.SUCCEEDED, queue.clock.now)]
    )
    assert await failing_since(queue) is None


async def test_connections_killed_under_the_pool_are_replaced_not_reused(
    pg_queue: Queue,
) -> None:
    queue = pg_queue
    await publish(queue, 3)
    for _ in range(3):  # put several connections in the pool
        assert await queue.store.queue.claim_due(1, LEASE)
    name = queue.url.rsplit("/", 1)[1]
    await asyncio.to_thread(
        databases.admin,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    )
    queue.clock.now += LEASE + timedelta(seconds=1)
    refused = 0
    claimed: list[Claim] = []
    for _ in range(12):  # at most one failure per dead pooled connection
        try:
            claimed = await queue.store.queue.claim_due(10, LEASE)
            break
        except Unavailable:
            refused += 1
    assert len(claimed) == 3
    assert refused <= 10
    kept = await queue.store.queue.record_attempts(
        [record(c, 200, DeliveryState.SUCCEEDED, queue.clock.now) for c in claimed]
    )
    assert len(kept) == 3
    assert {s for s, _, _ in (await delivery_states(queue)).values()} == {"succeeded"}


class Recorder:
    """The worker's side of a handover, recording what it is given (it delivers nothing)."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.reserved = 0
        self.accepted: list[Claim] = []

    @property
    def lease(self) -> timedelta:
        return LEASE

    @property
    def busy(self) -> bool:
        return False

    def reserve(self, endpoint_ids: Sequence[str]) -> Sequence[str]:
        granted = max(0, min(len(endpoint_ids), self.room - self.reserved - len(self.accepted)))
        self.reserved += granted
        return endpoint_ids[:granted]

    def accept(self, claims: Sequence[Claim], reserved: Sequence[str]) -> None:
        self.reserved -= len(reserved)
        self.accepted += claims


async def add_endpoints(queue: Queue, count: int) -> list[str]:
    made = []
    for n in range(count):
        fields = EndpointFields(url=f"https://example.com/hook/{n}")
        made.append(
            (await queue.store.endpoints.create_endpoint(queue.org, queue.app, fields, SECRET)).id
        )
    return made


async def claim_tokens(queue: Queue) -> dict[str, str | None]:
    query = sa.select(deliveries.c.endpoint_id, deliveries.c.claim_token)
    async with queue.store.database.read() as conn:
        return {r.endpoint_id: r.claim_token for r in await conn.execute(query)}


async def test_a_publish_leases_new_deliveries_to_the_local_worker_as_far_as_it_has_room(
    queue: Queue,
) -> None:
    endpoints_ = [queue.endpoint, *await add_endpoints(queue, 2)]
    worker = Recorder(room=2)
    queue.store.publishing.handover = worker
    new = NewMessage(event_type="invoice.paid", payload=b'{"n":1}')
    published = await queue.store.publishing.publish(queue.org, queue.app, new)

    assert published.deliveries == 3
    assert published.handed_over == 2
    assert worker.reserved == 0  # every reserved slot was settled
    claims = worker.accepted
    assert len(claims) == 2
    assert {c.endpoint.id for c in claims} < set(endpoints_)
    assert all(c.message.id == published.message.id for c in claims)
    assert all(c.message.payload == b'{"n":1}' for c in claims)
    assert all(c.lease_until == queue.clock.now + LEASE for c in claims)
    assert all(c.attempts == 0 for c in claims)
    assert all(c.trigger is TriggerType.SCHEDULED for c in claims)
    assert claims[0].endpoint.url.startswith("https://example.com/hook")
    tokens = await claim_tokens(queue)
    assert sorted(t is None for t in tokens.values()) == [False, False, True]
    assert {tokens[c.endpoint.id] for c in claims} == {claims[0].token}

    # The one left over waits in the queue; the leased ones are nobody else's until their
    # lease runs out (a worker that died with them), then any worker takes them over.
    [left] = await queue.store.queue.claim_due(10, LEASE)
    assert left.endpoint.id not in {c.endpoint.id for c in claims}
    assert await queue.store.queue.claim_due(10, LEASE) == []
    queue.clock.now += LEASE + timedelta(seconds=1)
    taken_over = await queue.store.queue.claim_due(10, LEASE)  # `left`'s lease ran out too
    assert {c.delivery_id for c in taken_over} == {c.delivery_id for c in [*claims, left]}


async def test_a_handed_over_claim_is_recorded_and_fenced_like_a_claimed_one(
    queue: Queue,
) -> None:
    worker = Recorder(room=5)
    queue.store.publishing.handover = worker
    [msg] = await publish(queue, 1)
    [claim] = worker.accepted
    kept = await queue.store.queue.record_attempts(
        [record(claim, 200, DeliveryState.SUCCEEDED, queue.clock.now)]
    )
    assert len(kept) == 1
    assert (await delivery_states(queue))[msg] == ("succeeded", 1, None)
    again = await queue.store.queue.record_attempts(
        [record(claim, 200, DeliveryState.SUCCEEDED, queue.clock.now)]
    )
    assert again == []  # the lease ended with the first record


async def test_a_full_worker_gets_nothing_and_the_message_waits_in_the_queue(
    queue: Queue,
) -> None:
    queue.store.publishing.handover = Recorder(room=0)
    [msg] = await publish(queue, 1)
    published_claims = await queue.store.queue.claim_due(10, LEASE)
    assert [c.message.id for c in published_claims] == [msg]


async def test_a_message_with_a_deliver_at_waits_in_the_queue_until_then(queue: Queue) -> None:
    """Never handed to the local worker, even in a batch where other messages leave it room
    for the same endpoint; due at its deliverAt (issue 9, item 5)."""
    worker = Recorder(room=10)
    queue.store.publishing.handover = worker
    later = queue.clock.now + timedelta(minutes=5)
    news = [
        NewMessage(event_type="t", payload=b"{}", deliver_at=later if n % 2 else None)
        for n in range(6)
    ]
    published = await asyncio.gather(
        *(queue.store.publishing.publish(queue.org, queue.app, m) for m in news)
    )
    delayed = {p.message.id for p in published if p.message.deliver_at is not None}
    assert len(delayed) == 3
    assert {c.message.id for c in worker.accepted} == {p.message.id for p in published} - delayed
    assert all(p.handed_over == 0 for p in published if p.message.id in delayed)
    assert await queue.store.queue.claim_due(10, LEASE) == []  # not due yet
    queue.clock.now = later  # (the handed-over ones' leases have run out by then too)
    assert delayed <= {c.message.id for c in await queue.store.queue.claim_due(10, LEASE)}


async def test_a_stopping_worker_reserves_nothing_and_hands_late_claims_back(queue: Queue) -> None:
    settings = Settings.from_env(
        {"HOOKPOST_DATABASE_URL": queue.url, "HOOKPOST_API_TOKEN": "hp_sk_" + "q" * 40}
    )
    runtime = await open_runtime(settings, clock=queue.clock)
    try:
        worker = runtime.worker()
        wanted = ["ep_a", "ep_b", "ep_a", "ep_c", "ep_d"]
        assert worker.reserve(wanted) == wanted
        worker.accept([], wanted)
        assert worker.scheduler.running == 0
        worker.stop()
        assert worker.reserve(wanted) == ()

        recorder = Recorder(room=5)
        queue.store.publishing.handover = recorder
        [msg] = await publish(queue, 1)
        assert (await delivery_states(queue))[msg][2] is not None  # leased
        worker.accept(recorder.accepted, ())  # the publish committed as the worker stopped
        await worker.run()  # returns at once, after handing the claim back
        assert (await delivery_states(queue))[msg] == ("pending", 0, None)
        [claim] = await queue.store.queue.claim_due(10, LEASE)
        assert claim.message.id == msg
    finally:
        await runtime.close()


async def test_a_transaction_cancelled_mid_statement_leaves_no_connection_in_it(
    pg_queue: Queue,
) -> None:
    """A cancelled hot-path transaction (a worker shutting down, a client gone) must not
    return its connection to the pool still inside the transaction."""
    database = pg_queue.store.database
    started = asyncio.Event()

    async def slow_write() -> None:
        async with database.postgres_write() as driver:
            await driver.execute("UPDATE endpoints SET description = 'x'")  # takes row locks
            started.set()
            await driver.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow_write())
    await started.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    name = pg_queue.url.rsplit("/", 1)[1]

    def idle_in_transaction() -> int:
        found = databases.query(
            pg_queue.url.rsplit("/", 1)[0] + "/postgres",
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                "AND state LIKE 'idle in transaction%'"
            ).bindparams(name=name),
        )
        return int(found[0][0])

    assert await asyncio.to_thread(idle_in_transaction) == 0
    # The rows it locked are free, and the pool serves working connections.
    await publish(pg_queue, 2)
    assert len(await pg_queue.store.queue.claim_due(10, LEASE)) == 2
    async with database.postgres_write() as driver:
        assert await driver.fetchval("SELECT count(*) FROM endpoints WHERE description = 'x'") == 0
