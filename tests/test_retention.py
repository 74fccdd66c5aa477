"""Retention on SQLite and PostgreSQL, time injected: expired payloads, old attempts, finished
deliveries and expired idempotency keys go, in batches; nothing younger is touched, and a
delivery still pending keeps its message and payload. Message idempotency keys honour their TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.fields import NewMessage
from hookpost.core.ids import IdFactory
from hookpost.core.models import Claim, DeliveryState
from hookpost.core.outcomes import AttemptRecord, Decision, ErrorClass, Outcome
from hookpost.service.retention import Retention, RetentionPolicy
from hookpost.store import Stores, migrate
from hookpost.store.database import Database
from hookpost.store.retention import RetentionStore
from hookpost.store.schema import attempts, deliveries, idempotency_keys, messages, retention_runs
from tests import test_query_plans as plans
from tests.support import databases
from tests.support.statements import Captured, capture
from tests.test_store_queue import Queue, open_queue, postgres_queue

DAY = timedelta(days=1)
LEASE = timedelta(seconds=30)


@pytest.fixture(params=["sqlite", "postgres"])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    """A store on an empty database of its own: retention deletes across every tenant."""
    if request.param == "postgres":
        async with postgres_queue() as queue:
            yield queue
        return
    async with open_queue(f"sqlite:///{tmp_path / 'retention.sqlite3'}") as queue:
        yield queue


def retention(queue: Queue, *, keep: timedelta = DAY, batch: int = 2) -> Retention:
    policy = RetentionPolicy(attempts_for=keep, batch=batch, interval=timedelta(minutes=10))
    store = RetentionStore(queue.store.database, queue.clock)
    return Retention(store, queue.clock, policy)


async def publish(queue: Queue, retention_days: float, body: bytes = b'{"n":1}') -> str:
    new = NewMessage(
        event_type="invoice.paid", payload=body, retention_seconds=retention_days * 86400
    )
    return (await queue.store.publishing.publish(queue.org, queue.app, new)).message.id


async def deliver(queue: Queue, *, succeed: set[str]) -> None:
    """Claim every due delivery and record an attempt now: a success for the messages in
    `succeed`, a failure with a retry (the delivery stays pending) for the others."""
    now = queue.clock()
    claims = await queue.store.queue.claim_due(100, LEASE)
    made = IdFactory(queue.clock, os.urandom)
    await queue.store.queue.record_attempts(
        [attempt(c, c.message.id in succeed, made.new(ids.ATTEMPT), now) for c in claims]
    )


def attempt(claim: Claim, ok: bool, attempt_id: str, now: datetime) -> AttemptRecord:
    outcome = Outcome(
        status_code=200 if ok else 0,
        duration_ms=5,
        error_class=None if ok else ErrorClass.REFUSED,
    )
    state = DeliveryState.SUCCEEDED if ok else DeliveryState.PENDING
    decision = Decision(state, claim.attempts + 1, None if ok else now + timedelta(hours=6))
    return AttemptRecord(attempt_id, claim, outcome, decision, now)


async def scalar(queue: Queue, query: sa.Select[tuple[object]]) -> object:
    async with queue.store.database.read() as conn:
        return await conn.scalar(query)


async def payload_of(queue: Queue, msg_id: str) -> bytes | None:
    found = await scalar(queue, sa.select(messages.c.payload).where(messages.c.id == msg_id))
    assert found is None or isinstance(found, bytes)
    return found


async def count(queue: Queue, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    found = await scalar(queue, sa.select(sa.func.count()).select_from(table).where(*where))
    assert isinstance(found, int)
    return found


async def test_a_pass_removes_what_expired_and_keeps_the_rest(queue: Queue) -> None:
    start = queue.clock.now
    short = await publish(queue, 1)  # payload kept one day
    long = await publish(queue, 90)
    waiting = await publish(queue, 1)  # its delivery will still be pending
    await deliver(queue, succeed={short, long})
    access = queue.store.access
    for n, keep_for in enumerate([timedelta(hours=1), timedelta(days=5)]):
        await access.claim_idempotency_key(f"key{n}", lock_for=LEASE, keep_for=keep_for)
        await access.finish_idempotency_key(f"key{n}", 200, b"{}")

    queue.clock.now = start + 2 * DAY
    young = await publish(queue, 1)
    await deliver(queue, succeed={young, waiting} - {waiting})  # young succeeds; waiting fails
    run = await retention(queue).run_once()

    assert run is not None
    assert run.error is None
    # Payloads: the expired one is gone, the message row stays (as Svix keeps it).
    assert await payload_of(queue, short) is None
    assert await count(queue, messages, messages.c.id == short) == 1
    assert await payload_of(queue, long) == b'{"n":1}'
    assert await payload_of(queue, young) == b'{"n":1}'
    assert await payload_of(queue, waiting) == b'{"n":1}', "a pending delivery needs it"
    # Attempts older than a day (three, in two batches of two) are gone; today's stay.
    assert await count(queue, attempts) == 2
    assert await count(queue, attempts, attempts.c.msg_id == young) == 1
    assert await count(queue, attempts, attempts.c.msg_id == waiting) == 1
    # Finished deliveries older than a day are gone; the pending one stays, however old.
    assert await count(queue, deliveries, deliveries.c.msg_id.in_([short, long])) == 0
    assert await count(queue, deliveries, deliveries.c.msg_id == young) == 1
    pending = deliveries.c.state == DeliveryState.PENDING.value
    assert await count(queue, deliveries, deliveries.c.msg_id == waiting, pending) == 1
    # Idempotency keys past their TTL are gone.
    assert await count(queue, idempotency_keys) == 1
    assert await count(queue, idempotency_keys, idempotency_keys.c.key_hash == "key1") == 1
    counts = run.counts
    assert (counts.payloads, counts.attempts, counts.deliveries, counts.idempotency_keys) == (
        1,
        3,
        2,
        1,
    )
    # The pass is recorded where an operator can query it.
    recorded = await RetentionStore(queue.store.database, queue.clock).recent_runs()
    assert [r.counts for r in recorded] == [counts]

    # Once its delivery is done, the waiting message's payload goes at the next pass; the
    # delivery itself is young again (it changed today) and stays.
    queue.clock.now = start + 2 * DAY + timedelta(hours=7)
    await deliver(queue, succeed={waiting})
    again = await retention(queue).run_once()
    assert again is not None
    assert again.counts.payloads == 1
    assert await payload_of(queue, waiting) is None
    assert await count(queue, deliveries, deliveries.c.msg_id == waiting) == 1


async def test_a_paused_delivery_keeps_its_payload(queue: Queue) -> None:
    msg = await publish(queue, 1)
    async with queue.store.database.write() as conn:
        await conn.execute(deliveries.update().values(state=DeliveryState.PAUSED.value))
    queue.clock.now += 200 * DAY
    run = await retention(queue).run_once()
    assert run is not None
    assert run.counts.payloads == 0
    assert run.counts.deliveries == 0
    assert await payload_of(queue, msg) == b'{"n":1}'


async def test_nothing_is_removed_before_its_time(queue: Queue) -> None:
    kept = await publish(queue, 1)
    await deliver(queue, succeed={kept})
    queue.clock.now += DAY - timedelta(minutes=1)
    run = await retention(queue).run_once()
    assert run is not None
    assert run.counts.rows == 0
    assert await payload_of(queue, kept) == b'{"n":1}'
    assert await count(queue, attempts) == 1
    assert await count(queue, deliveries) == 1


async def test_one_pass_per_interval_and_one_process_at_a_time(queue: Queue) -> None:
    first = retention(queue)
    assert await first.run_once() is not None
    queue.clock.now += timedelta(minutes=1)  # within half an interval of the last pass
    assert await retention(queue).run_once() is None
    queue.clock.now += timedelta(minutes=10)
    store = RetentionStore(queue.store.database, queue.clock)
    async with store.turn(queue.clock.now - timedelta(minutes=5)) as mine:
        assert mine
        if not queue.store.database.is_sqlite:  # another process waits its turn
            other = Database(queue.url)
            try:
                rival = RetentionStore(other, queue.clock)
                async with rival.turn(queue.clock.now - timedelta(minutes=5)) as theirs:
                    assert not theirs
            finally:
                await other.close()
    assert await retention(queue).run_once() is not None


async def test_the_loop_runs_a_pass_and_stops(queue: Queue) -> None:
    task = retention(queue)
    running = asyncio.create_task(task.run())
    runs = RetentionStore(queue.store.database, queue.clock)
    for _ in range(500):
        if await runs.recent_runs():
            break
        await asyncio.sleep(0.01)
    task.stop()
    await asyncio.wait_for(running, 10)
    assert len(await runs.recent_runs()) == 1


async def test_a_message_key_answers_only_within_its_ttl(queue: Queue) -> None:
    store = Stores(
        queue.store.database,
        queue.clock,
        IdFactory(queue.clock, os.urandom),
        idempotency_ttl=timedelta(seconds=1),
    )
    new = NewMessage(event_type="invoice.paid", payload=b"{}")
    first = await store.publishing.publish(queue.org, queue.app, new, idempotency_key="k")
    queue.clock.now += timedelta(milliseconds=500)
    same = await store.publishing.publish(queue.org, queue.app, new, idempotency_key="k")
    assert (same.message.id, same.created) == (first.message.id, False)
    queue.clock.now += timedelta(seconds=2)
    later = await store.publishing.publish(queue.org, queue.app, new, idempotency_key="k")
    assert later.created
    assert later.message.id != first.message.id
    queue.clock.now += timedelta(milliseconds=500)
    again = await store.publishing.publish(queue.org, queue.app, new, idempotency_key="k")
    assert again.message.id == later.message.id


async def test_an_idempotency_record_answers_only_within_its_ttl(queue: Queue) -> None:
    store = queue.store
    await store.access.claim_idempotency_key("h", lock_for=LEASE, keep_for=timedelta(seconds=1))
    await store.access.finish_idempotency_key("h", 200, b"{}")
    kept = await store.access.claim_idempotency_key(
        "h", lock_for=LEASE, keep_for=timedelta(seconds=1)
    )
    assert kept is not None
    assert kept.body == b"{}"
    queue.clock.now += timedelta(seconds=2)
    assert await store.access.claim_idempotency_key("h", lock_for=LEASE, keep_for=LEASE) is None


async def test_sqlite_gives_freed_pages_back(tmp_path: Path) -> None:
    async with open_queue(f"sqlite:///{tmp_path / 'vacuum.sqlite3'}") as queue:
        big = b'{"blob":"' + b"x" * 50_000 + b'"}'
        for _ in range(40):
            await publish(queue, 1, big)
        await deliver(queue, succeed=set())  # pending: nothing to expunge yet
        queue.clock.now += 3 * DAY
        await deliver(queue, succeed=set(await ids_of(queue)))
        run = await retention(queue, batch=100).run_once()
        assert run is not None
        assert run.counts.payloads == 40
        assert run.counts.freed_pages > 40 * 50_000 // 4096 // 2
        async with queue.store.database.read() as conn:
            assert await conn.scalar(sa.text("PRAGMA freelist_count")) == 0
            assert await conn.scalar(sa.text("PRAGMA auto_vacuum")) == 2


async def ids_of(queue: Queue) -> list[str]:
    async with queue.store.database.read() as conn:
        return list((await conn.execute(sa.select(messages.c.id))).scalars())


async def test_an_old_sqlite_file_is_named_and_still_cleaned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old:  # made before auto_vacuum was set
        old.execute("CREATE TABLE placeholder (x)")
    async with open_queue(f"sqlite:///{path}") as queue:
        msg = await publish(queue, 1)
        await deliver(queue, succeed={msg})
        queue.clock.now += 3 * DAY
        task = retention(queue)
        task.stop()  # the loop checks the file, then ends before its first pass
        with caplog.at_level(logging.WARNING, logger="hookpost.retention"):
            await task.run()
        assert "auto_vacuum=INCREMENTAL" in caplog.text
        run = await task.run_once()
        assert run is not None
        assert run.counts.payloads == 1
        assert run.counts.freed_pages == 0
        assert await count(queue, retention_runs) == 1


async def test_many_expired_keys_go_batch_by_batch(queue: Queue) -> None:
    for n in range(7):
        ttl = timedelta(minutes=1 + n % 3)  # some expire at the same time
        await queue.store.access.claim_idempotency_key(f"old{n}", lock_for=LEASE, keep_for=ttl)
        await queue.store.access.finish_idempotency_key(f"old{n}", 200, b"{}")
    await queue.store.access.claim_idempotency_key("running", lock_for=DAY, keep_for=LEASE)
    queue.clock.now += timedelta(hours=1)
    run = await retention(queue, batch=2).run_once()
    assert run is not None
    assert run.counts.idempotency_keys == 7
    assert await count(queue, idempotency_keys) == 1, "a request still running keeps its key"


@pytest.fixture(params=["sqlite", "postgres"])
async def seeded_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own, which the test seeds as test_query_plans.py does."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plans.sqlite3'}"
        return
    await asyncio.to_thread(databases.require_postgres)
    url = await asyncio.to_thread(databases.create_postgres_database)
    try:
        yield url
    finally:
        await asyncio.to_thread(databases.drop_postgres_database, url)


async def test_retention_statements_find_their_rows_by_index(seeded_url: str) -> None:
    """No statement of a pass scans a growing table; ranges of the primary key (attempts and
    deliveries, oldest first) are what a pass means to walk, a batch at a time."""
    database = Database(seeded_url)
    captured = Captured()
    capture(database, captured)
    try:
        await migrate.upgrade(database)
        await plans._seed(database, seeded_url)
        clock = plans.Clock()
        clock.now += 200 * DAY
        policy = RetentionPolicy(attempts_for=DAY, batch=500, interval=timedelta(minutes=10))
        task = Retention(RetentionStore(database, clock), clock, policy)
        captured.recording = True
        run = await task.run_once()
        captured.recording = False
    finally:
        await database.close()
    assert run is not None
    assert run.counts.deliveries == plans.SEEDED  # the capture saw whole passes
    scans: dict[str, list[str]] = {}
    for sql, args in captured.statements:
        if seeded_url.startswith("sqlite"):
            lines = await plans._plan_sqlite(seeded_url, sql)
            found = [line for line in lines if line.split(" ")[:2] in _SCANS]
        else:
            conn = await asyncpg.connect(seeded_url)
            try:
                found = plans._postgres_scans(await plans._plan_postgres(conn, sql, args))
            finally:
                await conn.close()
        if found:
            scans[sql] = found
    assert scans == {}, "\n\n".join(f"{sql}\n  -> {found}" for sql, found in scans.items())


_SCANS = [["SCAN", table] for table in plans.GROWING]
