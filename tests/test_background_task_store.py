"""Background tasks in the store, on SQLite and PostgreSQL, with an injected clock: batches
that move a cursor, leases that pass to another runner when they run out (and fence off the
old one), and tasks that kill their runner too often being marked failed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hookpost.core import ids as prefixes
from hookpost.core.fields import ApplicationFields, EndpointFields, NewMessage
from hookpost.core.ids import IdFactory
from hookpost.core.models import DeliveryState, Task, TaskKind, TaskStatus
from hookpost.service.background import TaskRunner
from hookpost.store import Stores
from hookpost.store.background_tasks import BackgroundTaskStore, LeaseLost
from hookpost.store.schema import deliveries, messages

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEASE = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def app_with_messages(store: Stores, count: int) -> tuple[str, str, str, list[str]]:
    org = (await store.access.create_organization("tasks")).id
    app = (await store.applications.create_application(org, ApplicationFields("tasks"))).id
    endpoint = await store.endpoints.create_endpoint(
        org, app, EndpointFields(url="https://example.com/hook"), SECRET
    )
    sent = []
    for n in range(count):
        new = NewMessage(event_type="a.b", payload=b'{"n":%d}' % n)
        sent.append((await store.publishing.publish(org, app, new)).message.id)
    return org, app, endpoint.id, sorted(sent)  # in id order (ids of one second may not be)


def tasks_of(store: Stores, clock: Clock, batch: int) -> BackgroundTaskStore:
    return BackgroundTaskStore(store.database, clock, IdFactory(clock, os.urandom), batch=batch)


async def test_a_purge_runs_in_batches_and_passes_on_when_its_lease_runs_out(
    store: Stores,
) -> None:
    org, app, _, sent = await app_with_messages(store, 5)
    clock = Clock()
    tasks = tasks_of(store, clock, batch=2)
    created = await tasks.create(
        org, TaskKind.APPLICATION_PURGE_CONTENT, {}, {"messagesPurged": 0}, app_id=app
    )
    first = await tasks.claim(LEASE, max_runs=5)
    assert first is not None
    assert (first.id, first.runs) == (created.id, 1)
    first = await tasks.step(first, LEASE)
    assert (first.status, first.data, first.cursor) == (
        TaskStatus.RUNNING,
        {"messagesPurged": 2},
        sent[1],
    )
    assert await tasks.claim(LEASE, max_runs=5) is None  # held
    clock.now += LEASE + timedelta(seconds=1)  # the first runner stalls past its lease
    second = await tasks.claim(LEASE, max_runs=5)
    assert second is not None
    assert (second.runs, second.cursor) == (2, sent[1])
    with pytest.raises(LeaseLost):
        await tasks.step(first, LEASE)  # fenced: its batch is undone
    # A runner's copy may be older than the row (read before the last batch committed): a
    # batch starts from the stored cursor and counts, never from the copy's.
    second = Task(**{**vars(second), "cursor": None, "data": {"messagesPurged": 0}})
    while second.status is TaskStatus.RUNNING:
        second = await tasks.step(second, LEASE)
    stored = await tasks.get(org, created.id)
    assert stored is not None
    assert (stored.status, stored.data) == (TaskStatus.FINISHED, {"messagesPurged": 5})
    assert stored.finished_at == clock.now
    async with store.database.read() as conn:
        left = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.app_id == app, messages.c.payload.is_not(None))
            )
        ).scalar()
    assert left == 0


async def test_a_task_that_keeps_dying_is_marked_failed(store: Stores) -> None:
    org, app, _, _ = await app_with_messages(store, 1)
    clock = Clock()
    tasks = tasks_of(store, clock, batch=2)
    created = await tasks.create(
        org, TaskKind.APPLICATION_PURGE_CONTENT, {}, {"messagesPurged": 0}, app_id=app
    )
    for run in range(1, 4):
        claimed = await tasks.claim(LEASE, max_runs=3)
        assert claimed is not None
        assert claimed.runs == run
        clock.now += LEASE * 2  # dies without a step
    assert await tasks.claim(LEASE, max_runs=3) is None
    failed = await tasks.get(org, created.id)
    assert failed is not None
    assert failed.status is TaskStatus.FAILED
    assert "interrupted 3 times" in (failed.error or "")
    assert failed.data == {"messagesPurged": 0}


async def test_recover_queues_failed_deliveries_batch_by_batch(store: Stores) -> None:
    org, app, endpoint, sent = await app_with_messages(store, 7)
    async with store.database.write() as conn:  # as the worker leaves them once exhausted
        await conn.execute(
            deliveries.update()
            .where(deliveries.c.msg_id.in_(sent[:5]))
            .values(state=DeliveryState.FAILED.value, attempts=3)
        )
        await conn.execute(
            deliveries.update()
            .where(deliveries.c.msg_id.in_(sent[5:]))
            .values(state=DeliveryState.SUCCEEDED.value, attempts=1)
        )
    clock = Clock()
    tasks = tasks_of(store, clock, batch=2)
    params = {"since": (clock.now - timedelta(hours=1)).isoformat(), "until": None}
    created = await tasks.create(
        org,
        TaskKind.ENDPOINT_RECOVER,
        params,
        {"messagesSent": 0},
        app_id=app,
        endpoint_id=endpoint,
    )
    woken: list[int] = []
    runner = TaskRunner(tasks, lease=LEASE, wake=lambda: woken.append(1))
    assert await runner.run_one() is True
    assert await runner.run_one() is False
    done = await tasks.get(org, created.id)
    assert done is not None
    assert (done.status, done.data) == (TaskStatus.FINISHED, {"messagesSent": 5})
    assert len(woken) == 3  # one wake-up per batch that queued something (2 + 2 + 1)
    async with store.database.read() as conn:
        manual = (
            await conn.execute(
                sa.select(deliveries.c.msg_id).where(
                    deliveries.c.endpoint_id == endpoint, deliveries.c.trigger == 1
                )
            )
        ).scalars()
        assert sorted(manual) == sorted(sent[:5])


async def test_a_runner_stops_when_told(store: Stores) -> None:
    clock = Clock()
    runner = TaskRunner(tasks_of(store, clock, batch=2), lease=LEASE)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    runner.kick()
    stop.set()
    await asyncio.wait_for(running, timeout=10)


async def test_requests_are_served_between_the_batches_of_a_large_recover(store: Stores) -> None:
    """A recover of 1,500 failed messages runs as three batches of 500; a reader running
    beside it gets answers between every two batches (the API is not held up)."""
    org, app, endpoint, _ = await app_with_messages(store, 0)
    clock = Clock()
    ids = IdFactory(clock, os.urandom)
    now = int(clock.now.timestamp() * 1_000_000)
    sent = sorted(ids.new(prefixes.MESSAGE) for _ in range(1500))
    async with store.database.write() as conn:  # as 1,500 exhausted deliveries leave them
        await conn.execute(
            messages.insert(),
            [
                {
                    "id": msg,
                    "org_id": org,
                    "app_id": app,
                    "event_type": "a.b",
                    "payload": b"{}",
                    "raw_payload": False,
                    "created_at": now,
                    "expires_at": now + 10**12,
                }
                for msg in sent
            ],
        )
        await conn.execute(
            deliveries.insert(),
            [
                {
                    "id": ids.new(prefixes.DELIVERY),
                    "org_id": org,
                    "app_id": app,
                    "msg_id": msg,
                    "endpoint_id": endpoint,
                    "state": DeliveryState.FAILED.value,
                    "trigger": 0,
                    "attempts": 3,
                    "created_at": now,
                    "updated_at": now,
                }
                for msg in sent
            ],
        )
    tasks = tasks_of(store, clock, batch=500)
    params = {"since": (clock.now - timedelta(hours=1)).isoformat(), "until": None}
    await tasks.create(
        org,
        TaskKind.ENDPOINT_RECOVER,
        params,
        {"messagesSent": 0},
        app_id=app,
        endpoint_id=endpoint,
    )
    marks: list[str] = []
    runner = TaskRunner(tasks, lease=LEASE, wake=lambda: marks.append("batch"))
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            assert await store.lookups.get_application(org, app) is not None
            marks.append("read")
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    await asyncio.sleep(0)  # the reader is under way before the task starts
    assert await runner.run_one() is True
    done.set()
    await reading
    batches = [n for n, mark in enumerate(marks) if mark == "batch"]
    assert len(batches) == 3
    for before, after in itertools.pairwise(batches):
        assert "read" in marks[before + 1 : after], marks
    async with store.database.read() as conn:
        manual = (
            await conn.execute(
                sa.select(sa.func.count(sa.distinct(deliveries.c.msg_id))).where(
                    deliveries.c.endpoint_id == endpoint, deliveries.c.trigger == 1
                )
            )
        ).scalar()
    assert manual == 1500
