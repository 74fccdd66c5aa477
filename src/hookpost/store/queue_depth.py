"""How many deliveries wait in the database, for the metrics: ready, scheduled, in flight.

Read at scrape time, so each count walks one partial index and stops at a cap: its cost is
bounded however large the backlog grows (docs/operations.md, Metrics; plans checked in
tests/test_metrics_queries.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from hookpost.core.telemetry import QueueDepth
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.queue_sql import PENDING

COUNT_CAP = 100_000

# Due now, or leased with the lease run out (a claim takes those too): the front of
# ix_deliveries_due, as the claim reads it. `state` is a literal so that both planners see
# the partial index's condition; the ORDER BY keeps PostgreSQL on an index scan in index
# order, which the LIMIT stops (a bitmap scan would read every matching entry first).
READY = sa.text(
    f"""SELECT count(*) FROM (SELECT 1 FROM deliveries
    WHERE state = {PENDING} AND next_attempt_at <= :now
    ORDER BY next_attempt_at LIMIT :cap) AS d"""  # noqa: S608
)
# Pending and not due: scheduled retries and turns, and the leased rows (a lease is kept in
# next_attempt_at too), which IN_FLIGHT counts and the reader subtracts. Without a condition
# on claim_token the index alone answers (no heap fetch per row where the visibility map
# allows).
NOT_DUE = sa.text(
    f"""SELECT count(*) FROM (SELECT 1 FROM deliveries
    WHERE state = {PENDING} AND next_attempt_at > :now
    ORDER BY next_attempt_at LIMIT :limit) AS d"""  # noqa: S608
)
# Leased and not yet run out: ix_deliveries_claim, small by nature (the workers' slots); of
# them, the pending ones (a delivery paused or canceled mid-flight keeps its lease until its
# attempt is recorded). No condition on the state in the WHERE clause, or PostgreSQL's
# planner may prefer ix_deliveries_due and walk every scheduled retry.
IN_FLIGHT = sa.text(
    f"""SELECT count(*), coalesce(sum(CASE WHEN state = {PENDING} THEN 1 ELSE 0 END), 0)
    FROM (SELECT state FROM deliveries
        WHERE claim_token IS NOT NULL AND next_attempt_at > :now LIMIT :cap) AS d"""  # noqa: S608
)
# The first entry of ix_deliveries_due: when it is due (or its lease ends).
EARLIEST = sa.text(f"SELECT min(next_attempt_at) FROM deliveries WHERE state = {PENDING}")  # noqa: S608


class QueueDepthReader:
    """Counts the deliveries waiting, in one read transaction."""

    def __init__(self, db: Database, clock: Callable[[], datetime], cap: int = COUNT_CAP) -> None:
        self._db = db
        self._clock = clock
        self.cap = cap

    async def read(self) -> QueueDepth:
        now = self._clock()
        params = {"now": rows.to_us(now), "cap": self.cap}
        async with self._db.read() as conn:
            ready = int(await conn.scalar(READY, params))
            in_flight, leased = (int(n) for n in (await conn.execute(IN_FLIGHT, params)).one())
            not_due = int(await conn.scalar(NOT_DUE, {**params, "limit": self.cap + leased}))
            earliest = await conn.scalar(EARLIEST)
        scheduled = min(self.cap, max(0, not_due - leased))
        oldest = 0.0
        if ready and earliest is not None:
            oldest = max(0.0, (now - rows.from_us(earliest)).total_seconds())
        return QueueDepth(ready, scheduled, in_flight, oldest, self.cap)
