"""The delivery queue's hot path on PostgreSQL, in SQL run straight on asyncpg.

A claim and a recording are small transactions that run once or more per delivery; through
SQLAlchemy each statement costs about three times the CPU it costs on the driver, which at
low batch sizes made the worker CPU-bound at a few hundred deliveries a second. The rules
they share with SQLite are queue_sql's; the store contract suite runs both dialects.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from hookpost.core.models import ClaimShares
from hookpost.core.outcomes import AttemptRecord
from hookpost.store import queue_sql
from hookpost.store.driver_sql import array_parameters, column_list, column_names, columns_of
from hookpost.store.queue import (
    QueueBase,
    attempt_row,
    disabling,
    endpoint_changes,
    failing_changes,
    proposed,
    still_holding,
)
from hookpost.store.queue_sql import PENDING
from hookpost.store.schema import attempts, endpoints, messages

# Claim and load in one statement. Among the earliest due rows ($6 of them, skipping the
# endpoints $5 that have no room left and those paced to a later turn or holding off after
# a Retry-After, see store/pacing.py), each endpoint gets at most its room: $7, or the room
# $8/$9 names for it; locked rows (another worker's) are skipped, the CTEs materialised so the
# LIMITs are evaluated once. The rows are leased and returned with their message, endpoint
# and application uid, labelled as queue._claims reads them.
CLAIM_AND_LOAD = f"""
WITH candidates AS MATERIALIZED (
    SELECT id, endpoint_id, next_attempt_at FROM deliveries
    WHERE state = {PENDING} AND next_attempt_at <= $1
        AND NOT (endpoint_id = ANY($5::varchar[]))
        AND NOT EXISTS (
            SELECT 1 FROM endpoint_pacing AS p
            WHERE p.endpoint_id = deliveries.endpoint_id AND p.not_before > $1
        )
    ORDER BY next_attempt_at
    LIMIT $6
), ranked AS (
    SELECT c.id, c.next_attempt_at, COALESCE(r.room, $7) AS room,
        row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n
    FROM candidates AS c
    LEFT JOIN unnest($8::varchar[], $9::integer[]) AS r(endpoint_id, room)
        ON r.endpoint_id = c.endpoint_id
), due AS MATERIALIZED (
    SELECT d.id FROM deliveries AS d JOIN ranked ON ranked.id = d.id
    WHERE ranked.n <= ranked.room AND d.state = {PENDING} AND d.next_attempt_at <= $1
    ORDER BY ranked.next_attempt_at
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE deliveries AS d
    SET next_attempt_at = $3, claim_token = $4, updated_at = $1
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.msg_id, d.endpoint_id, d.app_id, d.trigger, d.attempts
)
SELECT claimed.id, claimed.trigger, claimed.attempts, a.uid AS app_uid,
    {column_list(messages, "m", "m_")},
    {column_list(endpoints, "e", "e_")}
FROM claimed
JOIN messages AS m ON m.id = claimed.msg_id
JOIN endpoints AS e ON e.id = claimed.endpoint_id
JOIN applications AS a ON a.id = claimed.app_id
"""  # noqa: S608

# Record a batch of attempts in one statement: each delivery's next state (queue_sql.recorded),
# fenced by its claim token (a lease taken over is not written), and an attempt row for each
# delivery that was. Returns the delivery ids written.
_RECORD = f"""
WITH proposed AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[],
        $6::bigint[]) AS p(id, token, state, attempts, next_at, started_at)
), kept AS (
    UPDATE deliveries AS d SET
        {queue_sql.recorded("d.state", "p.state", "p.next_at", "p.started_at")},
        attempts = p.attempts,
        claim_token = NULL,
        updated_at = $7
    FROM proposed AS p
    WHERE d.id = p.id AND d.claim_token = p.token
    RETURNING d.id
)
INSERT INTO attempts ({column_names(attempts)})
SELECT * FROM unnest({array_parameters(attempts, 8)}) AS a({column_names(attempts)})
WHERE a.delivery_id IN (SELECT id FROM kept)
RETURNING delivery_id
"""  # noqa: S608
_AFTER_RECORDING = queue_sql.after_recording("= ANY($1::varchar[])", "$2")


class PostgresQueue(QueueBase):
    """Claims and recordings on asyncpg; release and the next due time as QueueBase has them."""

    async def _claim(
        self, now_us: int, lease_until_us: int, token: str, shares: ClaimShares
    ) -> list[asyncpg.Record]:
        async with self._db.postgres_write(single_statement=True) as driver:
            found: list[asyncpg.Record] = await driver.fetch(
                CLAIM_AND_LOAD,
                now_us,
                shares.size,
                lease_until_us,
                token,
                shares.excluded,
                shares.window,
                shares.room,
                list(shares.rooms),
                list(shares.rooms.values()),
            )
        return found

    async def _record(self, records: Sequence[AttemptRecord], now_us: int) -> list[AttemptRecord]:
        # One statement, its own transaction, unless endpoints' health or state may change.
        alone = not any(failing_changes(records)) and not disabling(records)
        async with self._db.postgres_write(single_statement=alone) as driver:
            wanted = [proposed(r) for r in records]
            found = await driver.fetch(
                _RECORD,
                *([p[name] for p in wanted] for name in _PROPOSED),
                now_us,
                *columns_of(attempts, [attempt_row(r) for r in records]),
            )
            kept = still_holding(records, (row["delivery_id"] for row in found))
            if alone:
                return kept
            for (sql, takes_now), ids in zip(_AFTER_RECORDING, endpoint_changes(kept), strict=True):
                if ids:
                    await driver.execute(sql, sorted(ids), *([now_us] if takes_now else []))
        return kept


_PROPOSED = ("id", "token", "state", "attempts", "next_at", "started_at")
