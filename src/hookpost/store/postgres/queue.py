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
    OLDEST_FIRST_WITHIN_US,
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

# What `chosen` names, each endpoint's earliest due deliveries within its room and share
# ($1 now, $2 size), locked as they are read (rows another worker holds are skipped). The
# ORDER BY is ix_deliveries_endpoint_due's, so that index serves it whatever the statistics.
_BY_ENDPOINT = f"""
quota AS (
    SELECT GREATEST(1, CEIL(2.0 * $2 / GREATEST(count(*), 1)))::integer AS per FROM chosen
), by_endpoint AS MATERIALIZED (
    SELECT c.id, c.next_attempt_at,
        row_number() OVER (PARTITION BY chosen.endpoint_id ORDER BY c.next_attempt_at, c.id)
            AS turn
    FROM chosen CROSS JOIN quota CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM deliveries AS d
        WHERE d.state = {PENDING} AND d.endpoint_id = chosen.endpoint_id
            AND d.next_attempt_at <= $1
        ORDER BY d.endpoint_id, d.next_attempt_at
        LIMIT LEAST(chosen.room, quota.per)
        FOR UPDATE OF d SKIP LOCKED
    ) AS c
)"""  # noqa: S608
# Lease `candidates` (rows locked as they were read), round-robin, $2 at most ($1 now, $3
# lease end, $4 token). The rows are not looked up again: a join of the picks with
# `deliveries` on their state and due time let the planner, with statistics taken before a
# backlog came due, scan every due row per claim (a 50,000-row drain fell to 400/s).
_LEASE = """
due AS MATERIALIZED (
    SELECT id, turn, next_attempt_at FROM candidates ORDER BY turn, next_attempt_at, id LIMIT $2
), claimed AS (
    UPDATE deliveries AS d
    SET next_attempt_at = $3, claim_token = $4, updated_at = $1
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.msg_id, d.endpoint_id, d.app_id, d.trigger, d.attempts
)
"""
_LOAD = f"""
SELECT stop.walked_to, stop.walk_cut, stop.oldest_taken, loaded.* FROM (
    SELECT {{walked_to}} AS walked_to, {{walk_cut}} AS walk_cut,
        {{oldest_taken}} AS oldest_taken
) AS stop LEFT JOIN LATERAL (
    SELECT claimed.id, claimed.trigger, claimed.attempts, a.uid AS app_uid,
        due.turn AS claim_turn, due.next_attempt_at AS claim_due,
        {column_list(messages, "m", "m_")},
        {column_list(endpoints, "e", "e_")}
    FROM claimed
    JOIN due ON due.id = claimed.id
    JOIN messages AS m ON m.id = claimed.msg_id
    JOIN endpoints AS e ON e.id = claimed.endpoint_id
    JOIN applications AS a ON a.id = claimed.app_id
) AS loaded ON true
ORDER BY loaded.claim_turn, loaded.claim_due, loaded.id
"""  # noqa: S608
_WALK_CUT = "(SELECT count(*) FROM walked) >= $6"
_WALKED_TO = "COALESCE((SELECT endpoint_id FROM walked ORDER BY step DESC LIMIT 1), $10)"


def _paced(endpoint_id: str) -> str:
    """True while the endpoint is paced to a later turn or holds off after a Retry-After
    (store/pacing.py): one probe of a small table."""
    return f"""EXISTS (
        SELECT 1 FROM endpoint_pacing AS p WHERE p.endpoint_id = {endpoint_id} AND p.not_before > $1
    )"""  # noqa: S608


def _takes(walked: str) -> str:
    """1 when the endpoint a walk step found (`walked`: its earliest pending delivery) has
    due work and may take it: not at its limit ($5) nor paced; else 0."""
    return f"""CASE WHEN {walked}.next_attempt_at <= $1
        AND {walked}.endpoint_id <> ALL($5::varchar[])
        AND NOT {_paced(f"{walked}.endpoint_id")} THEN 1 ELSE 0 END"""


# The oldest due deliveries as the claim (see ClaimShares), leased and loaded in one
# statement when they are: the $2 oldest (one range of ix_deliveries_due), locked as they are
# read so that another worker's claim at the same moment reads the next ones instead of the
# same ones (which it could then not lock, and come back empty). They are the claim
# (`plain`) when they are all there is (each endpoint then within its room and `per`), or
# belong to $2 different endpoints none of which is at its limit ($5) or paced
# (store/pacing.py) and none due before $9; otherwise nothing is leased and the caller
# walks (CLAIM_AND_LOAD). Rooms: $6, or as $7/$8 name them. A statement of its own, not a
# branch of the walk's: PostgreSQL planned a statement with both afresh at every claim (its
# generic plan looks dearer), which doubled a drain's PostgreSQL CPU.
CLAIM_OLDEST_AND_LOAD = f"""
WITH oldest AS MATERIALIZED (
    SELECT d.id, d.endpoint_id, d.next_attempt_at FROM deliveries AS d
    WHERE d.state = {PENDING} AND d.next_attempt_at <= $1
    ORDER BY d.next_attempt_at LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
), ranked AS MATERIALIZED (
    SELECT o.id, o.endpoint_id, o.next_attempt_at, COALESCE(r.room, $6) AS room,
        row_number() OVER (PARTITION BY o.endpoint_id ORDER BY o.next_attempt_at, o.id)
            AS turn,
        o.endpoint_id = ANY($5::varchar[]) OR {_paced("o.endpoint_id")} AS barred
    FROM oldest AS o
    LEFT JOIN unnest($7::varchar[], $8::integer[]) AS r(endpoint_id, room)
        ON r.endpoint_id = o.endpoint_id
), plain AS MATERIALIZED (
    SELECT count(*) < $2
            OR bool_and(NOT barred AND turn = 1) AND min(next_attempt_at) >= $9 AS taken,
        GREATEST(1, CEIL(2.0 * $2 / GREATEST(
            count(DISTINCT endpoint_id) FILTER (WHERE NOT barred), 1)))::integer AS per
    FROM ranked
), candidates AS (
    SELECT ranked.id, ranked.next_attempt_at, ranked.turn FROM ranked CROSS JOIN plain
    WHERE plain.taken AND NOT ranked.barred AND ranked.turn <= LEAST(ranked.room, plain.per)
),
{_LEASE}
{_LOAD.format(walked_to="NULL", walk_cut="false", oldest_taken="(SELECT taken FROM plain)")}
"""  # noqa: S608

# Claim and load in one statement by taking turns (see ClaimShares): `walk` visits the
# endpoints with pending work in turn, one index seek each (ix_deliveries_endpoint_due),
# from the endpoint the last claim stopped at ($10; past the last endpoint it wraps around
# to the first, up to $10): at most $6 endpoints, until $2 of them have due work and room
# (_takes). Each chosen endpoint's earliest due deliveries (its room: $7, or as $8/$9 name
# it; at most `per`) are taken round-robin, first of each, then second of each, $2 in all.
# Rows another worker holds are skipped. The rows are leased and returned with their
# message, endpoint and application uid, labelled as queue._claims reads them, and every
# row carries `walked_to`, where the next claim's walk starts (one row of NULLs when
# nothing was claimed), in the order taken. CTEs are materialised so each LIMIT is
# evaluated once.
CLAIM_AND_LOAD = f"""
WITH RECURSIVE walk(endpoint_id, wrapped, step, found, takes) AS (
    SELECT first.endpoint_id, first.wrapped, 1, first.takes, first.takes
    FROM (
        SELECT *, {_takes("f")} AS takes FROM (
            (SELECT endpoint_id, next_attempt_at, false AS wrapped FROM deliveries
                WHERE state = {PENDING} AND endpoint_id > $10
                ORDER BY endpoint_id, next_attempt_at LIMIT 1)
            UNION ALL
            (SELECT endpoint_id, next_attempt_at, true FROM deliveries
                WHERE state = {PENDING} AND endpoint_id <= $10
                ORDER BY endpoint_id, next_attempt_at LIMIT 1)
            LIMIT 1
        ) AS f
    ) AS first
    UNION ALL
    SELECT next.endpoint_id, next.wrapped, walk.step + 1, walk.found + next.takes, next.takes
    FROM walk CROSS JOIN LATERAL (
        SELECT *, {_takes("n")} AS takes FROM (
            (SELECT d.endpoint_id, d.next_attempt_at, walk.wrapped AS wrapped
                FROM deliveries AS d
                WHERE d.state = {PENDING} AND d.endpoint_id > walk.endpoint_id
                    AND (NOT walk.wrapped OR d.endpoint_id <= $10)
                ORDER BY d.endpoint_id, d.next_attempt_at LIMIT 1)
            UNION ALL
            (SELECT d.endpoint_id, d.next_attempt_at, true FROM deliveries AS d
                WHERE NOT walk.wrapped AND $10 <> '' AND d.state = {PENDING}
                    AND d.endpoint_id <= $10
                ORDER BY d.endpoint_id, d.next_attempt_at LIMIT 1)
            LIMIT 1
        ) AS n
    ) AS next
    WHERE walk.step < $6 AND walk.found < $2
), walked AS MATERIALIZED (
    SELECT endpoint_id, step, takes FROM walk
), chosen AS MATERIALIZED (
    SELECT w.endpoint_id, COALESCE(r.room, $7) AS room FROM walked AS w
    LEFT JOIN unnest($8::varchar[], $9::integer[]) AS r(endpoint_id, room)
        ON r.endpoint_id = w.endpoint_id
    WHERE w.takes = 1
),
{_BY_ENDPOINT}, candidates AS (SELECT id, next_attempt_at, turn FROM by_endpoint),
{_LEASE}
{_LOAD.format(walked_to=_WALKED_TO, walk_cut=_WALK_CUT, oldest_taken="false")}
"""  # noqa: S608

# A listed claim (ClaimShares.listed): only the endpoints named in $5 with their rooms in $6,
# in the order named, that have room, due work (one seek each of ix_deliveries_endpoint_due)
# and no pacing; the walk's position does not move (walked_to is NULL).
CLAIM_LISTED_AND_LOAD = f"""
WITH chosen AS MATERIALIZED (
    SELECT r.endpoint_id, r.room FROM unnest($5::varchar[], $6::integer[]) WITH ORDINALITY
        AS r(endpoint_id, room, n)
    CROSS JOIN LATERAL (  -- not EXISTS: planned as a search of all due rows, see _LEASE
        SELECT 1 FROM deliveries AS d
        WHERE d.state = {PENDING} AND d.endpoint_id = r.endpoint_id AND d.next_attempt_at <= $1
        ORDER BY d.endpoint_id, d.next_attempt_at LIMIT 1
    ) AS has_due
    WHERE r.room > 0 AND NOT {_paced("r.endpoint_id")}
    ORDER BY r.n LIMIT $2
),
{_BY_ENDPOINT}, candidates AS (SELECT id, next_attempt_at, turn FROM by_endpoint),
{_LEASE}
{_LOAD.format(walked_to="NULL", walk_cut="false", oldest_taken="false")}
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

    _cursor = ""  # the endpoint the last claim's walk stopped at

    async def _claim(
        self, now_us: int, lease_until_us: int, token: str, shares: ClaimShares
    ) -> list[asyncpg.Record]:
        if shares.listed:
            return await self._claim_listed(now_us, lease_until_us, token, shares)
        if self.oldest_first.ask():
            found = await self._fetch(
                CLAIM_OLDEST_AND_LOAD,
                now_us,
                shares.size,
                lease_until_us,
                token,
                shares.excluded,
                shares.room,
                list(shares.rooms),
                list(shares.rooms.values()),
                now_us - OLDEST_FIRST_WITHIN_US,
            )
            taken = bool(found[0]["oldest_taken"])
            self.oldest_first.answer(taken)
            if taken:
                self.walk_cut = False
                return [row for row in found if row["id"] is not None]
        found = await self._fetch(
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
            self._cursor,
        )
        self._cursor = found[0]["walked_to"]
        self.walk_cut = bool(found[0]["walk_cut"])
        return [row for row in found if row["id"] is not None]

    async def _fetch(self, sql: str, *arguments: object) -> list[asyncpg.Record]:
        """A claim statement, its own transaction. Its first row is always there: the
        claim's `stop` row, NULLs where nothing was claimed."""
        async with self._db.postgres_write(single_statement=True) as driver:
            found: list[asyncpg.Record] = await driver.fetch(sql, *arguments)
        return found

    async def _claim_listed(
        self, now_us: int, lease_until_us: int, token: str, shares: ClaimShares
    ) -> list[asyncpg.Record]:
        async with self._db.postgres_write(single_statement=True) as driver:
            found: list[asyncpg.Record] = await driver.fetch(
                CLAIM_LISTED_AND_LOAD,
                now_us,
                shares.size,
                lease_until_us,
                token,
                list(shares.rooms),
                list(shares.rooms.values()),
            )
        return [row for row in found if row["id"] is not None]

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
