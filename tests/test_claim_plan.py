"""A claim on PostgreSQL reads about as many deliveries as it takes, even when the planner's
statistics were taken before a backlog came due (a held backlog released at once, retries
falling due together, a table not analysed since it grew).

With such statistics the planner believed almost nothing was due, and a claim that looked
its picks up again by state and due time was planned as a scan of every due delivery with
the picks as a join filter: a 50,000-delivery drain fell from 4,500/s to 400/s with
PostgreSQL's CPU saturated (bench/results/claim-after.md). Each branch is explained here
with the statistics stale: the oldest due deliveries taken as read (a fan-out), the walk
(one endpoint's backlog), and a listed claim.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from hookpost.core.fields import ApplicationFields, EndpointFields
from hookpost.core.models import ClaimShares
from hookpost.store.database import Database
from tests.support.statements import Captured, capture
from tests.test_store_queue import LEASE, SECRET, Queue, open_queue

BACKLOG = 3_000  # one endpoint's deliveries, all due at once
FAN_OUT = 300  # endpoints with one due delivery each
SIZE = 40  # deliveries per claim
# What a claim may read of `deliveries`, all nodes together: its rows, what the walk and the
# first read pass over, and slack; far below the thousands of due rows the bad plan read.
READ_BOUND = 15 * SIZE


@pytest.fixture
async def stale(fresh_postgres_url: str) -> AsyncIterator[tuple[Queue, Captured]]:
    """A queue whose `deliveries` statistics say nothing is due while 3,300 are."""
    captured = Captured()
    original = Database.__init__

    def hooked(self: Database, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        capture(self, captured)

    Database.__init__ = hooked  # type: ignore[method-assign]
    try:
        async with open_queue(fresh_postgres_url) as queue:
            Database.__init__ = original  # type: ignore[method-assign]
            await _seed_held(queue)
            yield queue, captured
    finally:
        Database.__init__ = original  # type: ignore[method-assign]


async def _seed_held(queue: Queue) -> None:
    app = (await queue.store.applications.create_application(queue.org, ApplicationFields("f"))).id
    fields = EndpointFields(url="https://fan.example.com/hook")
    fan = [
        (await queue.store.endpoints.create_endpoint(queue.org, app, fields, SECRET)).id
        for _ in range(FAN_OUT)
    ]
    held = _us(queue) + 86_400_000_000  # due in a day, as bench/backlog.py seeds
    conn = await asyncpg.connect(queue.url)
    try:
        await conn.execute("ALTER TABLE deliveries SET (autovacuum_enabled = false)")
        rows = [(queue.app, queue.endpoint, n) for n in range(BACKLOG)]
        rows += [(app, endpoint, BACKLOG + n) for n, endpoint in enumerate(fan)]
        await conn.executemany(
            "INSERT INTO messages (id, org_id, app_id, event_type, payload, raw_payload,"
            " created_at, expires_at) VALUES ('msg_' || $2, $3, $1, 'invoice.paid', '{}',"
            " false, 0, $4)",
            [(a, str(n), queue.org, held) for a, _, n in rows],
        )
        await conn.executemany(
            "INSERT INTO deliveries (id, org_id, app_id, msg_id, endpoint_id, state, trigger,"
            " attempts, next_attempt_at, created_at, updated_at) VALUES ('dlv_' || $3, $4, $1,"
            " 'msg_' || $3, $2, 'pending', 0, 0, $5, 0, 0)",
            [(a, e, str(n), queue.org, held + n) for a, e, n in rows],
        )
        await conn.execute("ANALYZE deliveries")  # nothing is due yet
        # Released: all due now, in insertion order, the statistics none the wiser.
        await conn.execute(
            "UPDATE deliveries SET next_attempt_at = next_attempt_at - $1 WHERE state = 'pending'",
            held - _us(queue) + 10_000,
        )
    finally:
        await conn.close()


def _us(queue: Queue) -> int:
    return int(queue.clock.now.timestamp() * 1_000_000)


async def _claims_read(queue: Queue, captured: Captured, shares: ClaimShares) -> list[int]:
    """Claim with `shares`; for each claim statement sent, the rows its plan read of
    `deliveries` (explained again with ANALYZE in a transaction rolled back)."""
    captured.statements.clear()
    captured.recording = True
    claimed = await queue.store.queue.claim_due(shares, LEASE)
    captured.recording = False
    assert claimed
    reads = []
    conn = await asyncpg.connect(queue.url)
    try:
        for sql, args in captured.statements:
            if "claim_token = $4" not in sql:
                continue
            tr = conn.transaction()
            await tr.start()
            try:
                text = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
            finally:
                await tr.rollback()
            reads.append(_deliveries_read(json.loads(text)[0]["Plan"]))
    finally:
        await conn.close()
    assert reads
    return reads


def _deliveries_read(plan: dict[str, Any]) -> int:
    """Rows the plan read of `deliveries`: kept, filtered out, or dropped by the filter of
    the join they were read for."""
    nodes = [plan]
    read = 0
    while nodes:
        node = nodes.pop()
        children = node.get("Plans", [])
        nodes.extend(children)
        loops = node.get("Actual Loops", 1)
        if _reads_deliveries(node):
            read += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        if any(_reads_deliveries(child) for child in children):
            read += node.get("Rows Removed by Join Filter", 0) * loops
    return read


def _reads_deliveries(node: dict[str, Any]) -> bool:
    return node.get("Relation Name") == "deliveries" and node["Node Type"] != "ModifyTable"


async def test_a_fan_out_taken_as_read_reads_its_rows_only(
    stale: tuple[Queue, Captured],
) -> None:
    queue, captured = stale
    # The backlog's endpoint is at its limit: the oldest are the fan-out's.
    shares = ClaimShares(size=SIZE, room=2, rooms={queue.endpoint: 0})
    for read in await _claims_read(queue, captured, shares):
        assert read <= READ_BOUND


async def test_a_walk_over_one_endpoint_s_backlog_reads_its_rows_only(
    stale: tuple[Queue, Captured],
) -> None:
    queue, captured = stale
    for _ in range(2):  # the first read finds one endpoint's backlog, then straight to the walk
        for read in await _claims_read(queue, captured, ClaimShares(size=SIZE, room=32)):
            assert read <= READ_BOUND


async def test_a_listed_claim_reads_its_rows_only(stale: tuple[Queue, Captured]) -> None:
    queue, captured = stale
    shares = ClaimShares(size=SIZE, room=0, rooms={queue.endpoint: 32}, listed=True)
    for read in await _claims_read(queue, captured, shares):
        assert read <= READ_BOUND
