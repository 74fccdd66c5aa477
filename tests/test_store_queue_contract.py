"""The delivery queue's contract, branch by branch, on both dialects through the worker's port
(`store.queue`): claims (shares, excluded endpoints), recording (retry, exhausted, mid-flight
pause and deletion, a batch that disables its endpoint, failing-since), releases, next due.
test_store_queue.py has the rest (takeover and fencing, lost connections, handover).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookpost.core.models import Claim, ClaimShares, DeliveryState
from hookpost.core.outcomes import AttemptRecord
from hookpost.store import rows
from hookpost.store.schema import attempts, deliveries, endpoints
from tests.test_store_queue import (
    LEASE,
    Queue,
    add_endpoints,
    delivery_states,
    failing_since,
    open_queue,
    postgres_queue,
    publish,
    record,
)


@pytest.fixture(params=["sqlite", "postgres"])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    if request.param == "postgres":
        async with postgres_queue() as queue:
            yield queue
        return
    async with open_queue(f"sqlite:///{tmp_path / 'contract.sqlite3'}") as queue:
        yield queue


def us(queue: Queue, after: timedelta = timedelta()) -> int:
    return rows.to_us(queue.clock.now + after)


async def due_times(queue: Queue) -> dict[str, int | None]:
    query = sa.select(deliveries.c.msg_id, deliveries.c.next_attempt_at)
    async with queue.store.database.read() as conn:
        return {r.msg_id: r.next_attempt_at for r in await conn.execute(query)}


async def endpoint_row(queue: Queue, endpoint_id: str) -> sa.Row[tuple[bool, int | None]]:
    query = sa.select(endpoints.c.disabled, endpoints.c.failing_since).where(
        endpoints.c.id == endpoint_id
    )
    async with queue.store.database.read() as conn:
        return (await conn.execute(query)).one()


async def set_state(queue: Queue, claim: Claim, state: DeliveryState) -> None:
    """What an operator's pause or delete does to a delivery while its attempt runs."""
    async with queue.store.database.write() as conn:
        await conn.execute(
            deliveries.update().where(deliveries.c.id == claim.delivery_id).values(state=state)
        )


def disabling(attempt: AttemptRecord) -> AttemptRecord:
    decision = dataclasses.replace(attempt.decision, disable_endpoint=True)
    return dataclasses.replace(attempt, decision=decision)


async def test_nothing_asked_nothing_done(queue: Queue) -> None:
    await publish(queue, 1)
    assert await queue.store.queue.claim_due(0, LEASE) == []
    assert await queue.store.queue.claim_due(ClaimShares(size=0, room=1), LEASE) == []
    assert await queue.store.queue.record_attempts([]) == []
    await queue.store.queue.release([])
    assert (await delivery_states(queue)).popitem()[1] == ("pending", 0, None)


async def test_a_claim_skips_excluded_endpoints(queue: Queue) -> None:
    other, *_ = await add_endpoints(queue, 1)
    await publish(queue, 2)  # to both endpoints
    shares = ClaimShares(size=10, room=10, rooms={queue.endpoint: 0})
    claimed = await queue.store.queue.claim_due(shares, LEASE)
    assert Counter(c.endpoint.id for c in claimed) == {other: 2}
    rest = await queue.store.queue.claim_due(10, LEASE)
    assert Counter(c.endpoint.id for c in rest) == {queue.endpoint: 2}


async def test_a_retry_is_due_when_decided_and_an_exhausted_one_fails_for_good(
    queue: Queue,
) -> None:
    first, second = await publish(queue, 2)
    claims = {c.message.id: c for c in await queue.store.queue.claim_due(10, LEASE)}
    now = queue.clock.now
    kept = await queue.store.queue.record_attempts(
        [
            record(claims[first], 503, DeliveryState.PENDING, now),
            record(claims[second], 503, DeliveryState.FAILED, now),  # the schedule ran out
        ]
    )
    assert len(kept) == 2
    states, due = await delivery_states(queue), await due_times(queue)
    assert states[first] == ("pending", 1, None)
    assert due[first] == us(queue, timedelta(seconds=5))
    assert states[second] == ("failed", 1, None)
    assert due[second] is None
    assert await queue.store.queue.next_due_at() == now + timedelta(seconds=5)


async def test_a_delivery_canceled_mid_flight_stays_canceled_unless_the_attempt_succeeded(
    queue: Queue,
) -> None:
    await publish(queue, 2)
    failing, succeeding = await queue.store.queue.claim_due(10, LEASE)
    for claim in (failing, succeeding):
        await set_state(queue, claim, DeliveryState.CANCELED)
    now = queue.clock.now
    await queue.store.queue.record_attempts(
        [
            record(failing, 500, DeliveryState.PENDING, now),
            record(succeeding, 200, DeliveryState.SUCCEEDED, now),
        ]
    )
    states, due = await delivery_states(queue), await due_times(queue)
    assert states[failing.message.id] == ("canceled", 1, None)
    assert due[failing.message.id] is None
    assert states[succeeding.message.id] == ("succeeded", 1, None)


async def test_a_delivery_paused_mid_flight_comes_due_from_its_attempt_when_resumed(
    queue: Queue,
) -> None:
    await publish(queue, 1)
    [claim] = await queue.store.queue.claim_due(1, LEASE)
    await set_state(queue, claim, DeliveryState.PAUSED)
    started = queue.clock.now
    queue.clock.now += timedelta(seconds=3)
    await queue.store.queue.record_attempts([record(claim, 0, DeliveryState.FAILED, started)])
    assert (await delivery_states(queue))[claim.message.id] == ("paused", 1, None)
    assert (await due_times(queue))[claim.message.id] == rows.to_us(started)
    assert await queue.store.queue.next_due_at() is None  # paused is not due


async def test_a_batch_that_disables_its_endpoint_pauses_the_endpoint_s_other_work(
    queue: Queue,
) -> None:
    other, *_ = await add_endpoints(queue, 1)
    await publish(queue, 3)  # to both endpoints: six deliveries
    mine = [
        c for c in await queue.store.queue.claim_due(10, LEASE) if c.endpoint.id == queue.endpoint
    ]
    await queue.store.queue.release(mine[1:])  # due again, not held
    now = queue.clock.now
    kept = await queue.store.queue.record_attempts(
        [disabling(record(mine[0], 500, DeliveryState.FAILED, now))]
    )
    assert len(kept) == 1
    assert await endpoint_row(queue, queue.endpoint) == (True, us(queue))
    assert await endpoint_row(queue, other) == (False, None)
    async with queue.store.database.read() as conn:
        found = await conn.execute(
            sa.select(deliveries.c.id, deliveries.c.endpoint_id, deliveries.c.state)
        )
        by_endpoint: dict[str, Counter[str]] = {}
        for row in found:
            by_endpoint.setdefault(row.endpoint_id, Counter())[row.state] += 1
    assert by_endpoint[queue.endpoint] == {"failed": 1, "paused": 2}
    assert by_endpoint[other] == {"pending": 3}  # still held by the claim: untouched


async def test_a_fenced_off_batch_that_would_disable_its_endpoint_changes_nothing(
    queue: Queue,
) -> None:
    await publish(queue, 1)
    [stale] = await queue.store.queue.claim_due(1, LEASE)
    queue.clock.now += LEASE + timedelta(seconds=1)
    [fresh] = await queue.store.queue.claim_due(1, LEASE)
    late = disabling(record(stale, 500, DeliveryState.FAILED, queue.clock.now))
    assert await queue.store.queue.record_attempts([late]) == []
    assert await endpoint_row(queue, queue.endpoint) == (False, None)
    assert (await delivery_states(queue))[fresh.message.id] == ("pending", 0, fresh.token)


async def test_failing_since_starts_once_and_a_success_in_the_same_batch_wins(
    queue: Queue,
) -> None:
    await publish(queue, 4)
    claims = await queue.store.queue.claim_due(2, LEASE)
    started = us(queue)
    await queue.store.queue.record_attempts(
        [record(c, 0, DeliveryState.PENDING, queue.clock.now) for c in claims]
    )
    assert await failing_since(queue) == started
    queue.clock.now += timedelta(seconds=1)
    # A later failure, with the clock already running (as the claim says): it keeps running.
    [late] = await queue.store.queue.claim_due(1, LEASE)
    assert late.endpoint.failing_since is not None
    await queue.store.queue.record_attempts(
        [record(late, 0, DeliveryState.PENDING, late.lease_until)]
    )
    assert await failing_since(queue) == started
    # A failure and a success of one endpoint in one batch: the endpoint is healthy.
    queue.clock.now += timedelta(seconds=10)
    both = await queue.store.queue.claim_due(2, LEASE)
    assert len(both) == 2
    await queue.store.queue.record_attempts(
        [
            record(both[0], 0, DeliveryState.PENDING, queue.clock.now),
            record(both[1], 200, DeliveryState.SUCCEEDED, queue.clock.now),
        ]
    )
    assert await failing_since(queue) is None


@pytest.mark.parametrize(
    ("state", "expected", "due_now"),
    [
        (None, "pending", True),
        (DeliveryState.PAUSED, "paused", True),
        (DeliveryState.CANCELED, "canceled", False),
        (DeliveryState.FAILED, "failed", False),
    ],
)
async def test_a_release_gives_the_lease_back_due_again_or_moved_to_its_state(
    queue: Queue, state: DeliveryState | None, expected: str, due_now: bool
) -> None:
    [msg] = await publish(queue, 1)
    [claim] = await queue.store.queue.claim_due(1, LEASE)
    queue.clock.now += timedelta(seconds=2)
    await queue.store.queue.release([claim], state)
    assert (await delivery_states(queue))[msg] == (expected, 0, None)
    assert (await due_times(queue))[msg] == (us(queue) if due_now else None)
    if state is None:
        assert await queue.store.queue.next_due_at() == queue.clock.now
        assert len(await queue.store.queue.claim_due(1, LEASE)) == 1


async def test_a_release_under_a_lease_taken_over_changes_nothing(queue: Queue) -> None:
    [msg] = await publish(queue, 1)
    [stale] = await queue.store.queue.claim_due(1, LEASE)
    queue.clock.now += LEASE + timedelta(seconds=1)
    [fresh] = await queue.store.queue.claim_due(1, LEASE)
    await queue.store.queue.release([stale], DeliveryState.CANCELED)
    assert (await delivery_states(queue))[msg] == ("pending", 0, fresh.token)


async def test_an_attempt_keeps_its_error_code_beside_its_message(queue: Queue) -> None:
    await publish(queue, 1)
    [claim] = await queue.store.queue.claim_due(1, LEASE)
    refused = record(claim, 0, DeliveryState.PENDING, queue.clock.now)
    outcome = dataclasses.replace(
        refused.outcome, error_message="connection refused by x:1", error_code="connection_refused"
    )
    await queue.store.queue.record_attempts([dataclasses.replace(refused, outcome=outcome)])
    async with queue.store.database.read() as conn:
        row = (await conn.execute(sa.select(attempts))).one()
    assert (row.error_class, row.error_code) == ("refused", "connection_refused")
    assert rows.attempt(row).error_code == "connection_refused"
