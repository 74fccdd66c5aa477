"""Claims serve due work fairly across endpoints and applications, on both dialects: a claim
visits the endpoints with pending work in turn (from where the last one stopped) and takes
each one's earliest due deliveries round-robin, so one tenant's backlog, however old, never
stands in front of another tenant's delivery (issue 8), and an endpoint at its limit is
skipped without its backlog being read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from hookpost.core.fields import ApplicationFields, EndpointFields, NewMessage
from hookpost.core.models import OLDEST_FIRST_WITHIN, ClaimShares
from hookpost.store.pacing import EndpointPacing
from hookpost.store.queue import OldestFirst
from tests.test_store_queue import LEASE, SECRET, Queue, open_queue, postgres_queue


@pytest.fixture(params=["sqlite", "postgres"])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    if request.param == "postgres":
        async with postgres_queue() as queue:
            yield queue
        return
    async with open_queue(f"sqlite:///{tmp_path / 'fairness.sqlite3'}") as queue:
        yield queue


async def tenant(queue: Queue, name: str) -> tuple[str, str]:
    """A new application with one endpoint: (app id, endpoint id)."""
    app = (await queue.store.applications.create_application(queue.org, ApplicationFields(name))).id
    fields = EndpointFields(url=f"https://{name}.example.com/hook")
    endpoint = (await queue.store.endpoints.create_endpoint(queue.org, app, fields, SECRET)).id
    return app, endpoint


async def publish_to(queue: Queue, app: str, count: int) -> None:
    for n in range(count):
        new = NewMessage(event_type="invoice.paid", payload=b'{"n":%d}' % n)
        await queue.store.publishing.publish(queue.org, app, new)
        queue.clock.now += timedelta(seconds=1)  # due in publishing order


async def test_a_small_tenant_is_not_served_behind_a_big_tenant_s_older_backlog(
    queue: Queue,
) -> None:
    await publish_to(queue, queue.app, 300)  # the big tenant's backlog, all older
    queue.clock.now += timedelta(seconds=5)
    small_app, small_endpoint = await tenant(queue, "small")
    await publish_to(queue, small_app, 1)
    claimed = await queue.store.queue.claim_due(ClaimShares(size=10, room=32), LEASE)
    # Oldest-first would have been ten of the big tenant's.
    assert Counter(c.endpoint.id for c in claimed) == {queue.endpoint: 9, small_endpoint: 1}


async def test_endpoints_are_served_in_turn_across_claims_without_repeats(queue: Queue) -> None:
    endpoints = [(await tenant(queue, f"t{n}")) for n in range(12)]
    for app, _ in endpoints:
        await publish_to(queue, app, 3)
    seen: list[str] = []
    for _ in range(6):  # each claim takes two endpoints' earliest delivery, in turn
        claimed = await queue.store.queue.claim_due(ClaimShares(size=2, room=1), LEASE)
        assert len(claimed) == 2
        seen += [c.endpoint.id for c in claimed]
    assert sorted(seen) == sorted(endpoint for _, endpoint in endpoints)  # none twice
    # Past the last endpoint the walk wraps around: every endpoint's second delivery next.
    again = [
        c.endpoint.id
        for _ in range(6)
        for c in await queue.store.queue.claim_due(ClaimShares(size=2, room=1), LEASE)
    ]
    assert sorted(again) == sorted(seen)


async def test_a_claim_takes_round_robin_within_each_endpoint_s_room(queue: Queue) -> None:
    other_app, other = await tenant(queue, "other")
    await publish_to(queue, queue.app, 20)
    await publish_to(queue, other_app, 20)
    claimed = await queue.store.queue.claim_due(
        ClaimShares(size=12, room=32, rooms={other: 2}), LEASE
    )
    assert Counter(c.endpoint.id for c in claimed) == {queue.endpoint: 10, other: 2}
    # Each endpoint's earliest first.
    mine = [c.message.payload for c in claimed if c.endpoint.id == queue.endpoint]
    assert mine == [b'{"n":%d}' % n for n in range(10)]


async def test_endpoints_with_nothing_due_yet_are_passed_over(queue: Queue) -> None:
    later_app, later = await tenant(queue, "later")
    await publish_to(queue, later_app, 5)
    # Nothing of `later` is due until its (lease) time: claim it, let the lease stand.
    assert len(await queue.store.queue.claim_due(ClaimShares(size=5, room=5), LEASE)) == 5
    await publish_to(queue, queue.app, 3)
    claimed = await queue.store.queue.claim_due(ClaimShares(size=5, room=5), LEASE)
    assert Counter(c.endpoint.id for c in claimed) == {queue.endpoint: 3}
    assert await queue.store.queue.claim_due(ClaimShares(size=5, room=5), LEASE) == []
    queue.clock.now += LEASE  # the leases ran out: all due again
    claimed = await queue.store.queue.claim_due(ClaimShares(size=8, room=5), LEASE)
    assert Counter(c.endpoint.id for c in claimed) == {later: 5, queue.endpoint: 3}


async def test_an_endpoint_at_its_limit_leaves_the_claim_to_the_others(queue: Queue) -> None:
    other_app, other = await tenant(queue, "other")
    await publish_to(queue, queue.app, 200)
    await publish_to(queue, other_app, 2)
    shares = ClaimShares(size=50, room=50, rooms={queue.endpoint: 0})
    claimed = await queue.store.queue.claim_due(shares, LEASE)
    assert Counter(c.endpoint.id for c in claimed) == {other: 2}


async def test_a_listed_claim_takes_only_the_named_endpoints_and_keeps_the_walk_s_place(
    queue: Queue,
) -> None:
    """While probation is full, a worker names its trusted endpoints: a thousand others with
    due work are not visited, and the walk resumes where it stopped."""
    others = [(await tenant(queue, f"dead{n}")) for n in range(40)]
    for app, _ in others:
        await publish_to(queue, app, 1)
    trusted_app, trusted = await tenant(queue, "trusted")
    _idle_app, idle = await tenant(queue, "idle")  # named, but nothing due
    paused_app, paused = await tenant(queue, "full")  # named with no room
    await publish_to(queue, trusted_app, 5)
    await publish_to(queue, paused_app, 2)
    walked = await queue.store.queue.claim_due(ClaimShares(size=2, room=1), LEASE)
    assert len(walked) == 2
    shares = ClaimShares(size=10, room=0, rooms={idle: 8, paused: 0, trusted: 3}, listed=True)
    listed = await queue.store.queue.claim_due(shares, LEASE)
    assert Counter(c.endpoint.id for c in listed) == {trusted: 3}  # its room, no one else
    queue.clock.now += timedelta(seconds=1)
    # The next walk continues after the first claim's two endpoints, not from the start.
    after = await queue.store.queue.claim_due(ClaimShares(size=2, room=1), LEASE)
    assert not {c.endpoint.id for c in after} & {c.endpoint.id for c in walked}
    assert len(after) == 2


async def test_a_walk_says_when_its_window_cut_it_short(queue: Queue) -> None:
    endpoints = [(await tenant(queue, f"busy{n}")) for n in range(10)]
    for app, _ in endpoints:
        await publish_to(queue, app, 1)
    taken = await queue.store.queue.claim_due(ClaimShares(size=10, room=1), LEASE)
    assert len(taken) == 10  # all leased: pending, none due
    assert await queue.store.queue.claim_due(ClaimShares(size=2, room=1), LEASE) == []
    assert queue.store.queue.walk_cut  # 8 visited of 10 with pending work
    assert await queue.store.queue.claim_due(ClaimShares(size=5, room=1), LEASE) == []
    assert not queue.store.queue.walk_cut  # 20 allowed: it went round


# Oldest first: while nothing due has waited long and no endpoint holds more than one of the
# oldest, a claim takes the oldest due deliveries in one read instead of walking (the walk's
# seeks per endpoint made a fan-out to a thousand endpoints twice as slow).

FRESH = timedelta(milliseconds=10)  # published this far apart: nothing waits long


async def publish_fresh(queue: Queue, app: str, count: int = 1) -> None:
    for n in range(count):
        new = NewMessage(event_type="invoice.paid", payload=b'{"n":%d}' % n)
        await queue.store.publishing.publish(queue.org, app, new)
        queue.clock.now += FRESH


async def fan_out_newest_first(queue: Queue, count: int) -> list[str]:
    """`count` tenants with one due delivery each, published in the reverse of the order a
    walk visits their endpoints (endpoint id order): the endpoint ids in walk order."""
    tenants = sorted([await tenant(queue, f"f{n}") for n in range(count)], key=lambda t: t[1])
    for app, _ in reversed(tenants):
        await publish_fresh(queue, app)
    return [endpoint for _, endpoint in tenants]


async def test_a_fresh_fan_out_is_claimed_oldest_first(queue: Queue) -> None:
    walk_order = await fan_out_newest_first(queue, 6)
    claimed = await queue.store.queue.claim_due(ClaimShares(size=2, room=1), LEASE)
    assert [c.endpoint.id for c in claimed] == walk_order[:-3:-1]  # the two published first
    assert not queue.store.queue.walk_cut
    claimed = await queue.store.queue.claim_due(ClaimShares(size=4, room=1), LEASE)
    assert [c.endpoint.id for c in claimed] == walk_order[3::-1]


async def test_work_that_waited_past_the_bound_is_claimed_in_turn(queue: Queue) -> None:
    walk_order = await fan_out_newest_first(queue, 6)
    queue.clock.now += OLDEST_FIRST_WITHIN  # the queue is behind: every endpoint in turn
    claimed = await queue.store.queue.claim_due(ClaimShares(size=2, room=1), LEASE)
    assert sorted(c.endpoint.id for c in claimed) == walk_order[:2]


async def test_a_fresh_backlog_of_one_endpoint_does_not_crowd_out_another(queue: Queue) -> None:
    await publish_fresh(queue, queue.app, 20)
    small_app, small_endpoint = await tenant(queue, "small")
    await publish_fresh(queue, small_app)
    claimed = await queue.store.queue.claim_due(ClaimShares(size=10, room=32), LEASE)
    assert Counter(c.endpoint.id for c in claimed) == {queue.endpoint: 9, small_endpoint: 1}


async def test_oldest_deliveries_of_an_endpoint_that_may_take_none_leave_the_claim_to_others(
    queue: Queue,
) -> None:
    await publish_fresh(queue, queue.app, 3)  # the oldest, but at its limit
    others = [await tenant(queue, f"o{n}") for n in range(3)]
    for app, _ in others:
        await publish_fresh(queue, app)
    shares = ClaimShares(size=3, room=3, rooms={queue.endpoint: 0})
    claimed = await queue.store.queue.claim_due(shares, LEASE)
    assert sorted(c.endpoint.id for c in claimed) == sorted(e for _, e in others)


@pytest.mark.parametrize("size", [3, 10])  # its deliveries fill the first read, or all fit
async def test_a_held_endpoint_s_oldest_deliveries_wait_and_the_others_are_claimed(
    queue: Queue, size: int
) -> None:
    await publish_fresh(queue, queue.app, 3)
    await EndpointPacing(queue.store.database, queue.clock).hold(
        queue.endpoint, queue.clock.now + timedelta(minutes=1)
    )
    others = [await tenant(queue, f"o{n}") for n in range(3)]
    for app, _ in others:
        await publish_fresh(queue, app)
    claimed = await queue.store.queue.claim_due(ClaimShares(size=size, room=3), LEASE)
    assert sorted(c.endpoint.id for c in claimed) == sorted(e for _, e in others)


async def test_when_all_that_is_due_fits_each_endpoint_keeps_to_its_room(queue: Queue) -> None:
    roomy_app, roomy = await tenant(queue, "roomy")
    tight_app, tight = await tenant(queue, "tight")
    await publish_fresh(queue, queue.app, 8)
    await publish_fresh(queue, roomy_app)
    await publish_fresh(queue, tight_app, 3)
    shares = ClaimShares(size=20, room=32, rooms={tight: 2})  # 12 due, 20 asked
    claimed = await queue.store.queue.claim_due(shares, LEASE)
    assert Counter(c.endpoint.id for c in claimed) == {queue.endpoint: 8, roomy: 1, tight: 2}


async def test_when_all_that_is_due_fits_each_endpoint_keeps_to_its_share(queue: Queue) -> None:
    others = [await tenant(queue, f"o{n}") for n in range(2)]
    await publish_fresh(queue, queue.app, 9)
    for app, _ in others:
        await publish_fresh(queue, app)
    # 11 due, 12 asked: as the walk would, at most 2 x 12 / 3 = 8 of any of 3 endpoints.
    claimed = await queue.store.queue.claim_due(ClaimShares(size=12, room=32), LEASE)
    assert Counter(c.endpoint.id for c in claimed) == {
        queue.endpoint: 8,
        **{endpoint: 1 for _, endpoint in others},
    }


def test_after_a_read_that_was_not_the_claim_the_next_claims_walk_at_once() -> None:
    oldest_first = OldestFirst()

    def walks_before_next_read() -> int:
        walks = 0
        while not oldest_first.ask():
            walks += 1
        return walks

    assert walks_before_next_read() == 0
    for expected in [2, 4, 8, 16, 16]:  # each read in a row that is not the claim
        oldest_first.answer(False)
        assert walks_before_next_read() == expected
    oldest_first.answer(True)
    assert walks_before_next_read() == 0
    oldest_first.answer(False)
    assert walks_before_next_read() == 2
