"""The delivery queue's hot path on PostgreSQL, in SQL run straight on asyncpg.

A claim and a recording are small transactions that run once or more per delivery; through
SQLAlchemy each statement costs about three times the CPU it costs on the driver, which at
low batch sizes made the worker CPU-bound at a few hundred deliveries a second. The
statements here mean exactly what queue.py's SQLAlchemy statements mean (SQLite runs those);
the store contract suite runs both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg

from hookpost.store.driver_sql import Insert, column_list
from hookpost.store.schema import attempts, endpoints, messages

# Claim and load in one statement: lock due rows (skipping rows other workers hold; the CTE
# is materialised so the LIMIT is evaluated once), lease them, and return each with its
# message, endpoint and application uid, labelled as queue._load_claims reads them.
CLAIM_AND_LOAD = f"""
WITH due AS MATERIALIZED (
    SELECT id FROM deliveries
    WHERE state = 'pending' AND next_attempt_at <= $1
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
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

_STILL_HELD = """
SELECT id, claim_token, state FROM deliveries
WHERE claim_token = ANY($1::varchar[])
FOR UPDATE
"""

_UPDATE_DELIVERY = """
UPDATE deliveries
SET state = $3, attempts = $4, next_attempt_at = $5, claim_token = NULL, updated_at = $6
WHERE id = $1 AND claim_token = $2
"""

_INSERT_ATTEMPT = Insert(attempts)

_CLEAR_FAILING = """
UPDATE endpoints SET failing_since = NULL
WHERE id = ANY($1::varchar[]) AND failing_since IS NOT NULL
"""
_START_FAILING = """
UPDATE endpoints SET failing_since = $2
WHERE id = ANY($1::varchar[]) AND failing_since IS NULL
"""


async def claim(
    driver: asyncpg.Connection, now_us: int, limit: int, lease_until_us: int, token: str
) -> list[Any]:
    """Lease up to `limit` due deliveries under `token`; rows as `CLAIM_AND_LOAD` labels them."""
    found: list[Any] = await driver.fetch(CLAIM_AND_LOAD, now_us, limit, lease_until_us, token)
    return found


async def still_held(
    driver: asyncpg.Connection, tokens: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """(claim token, state) of every delivery still held under one of `tokens`, locked."""
    found = await driver.fetch(_STILL_HELD, list(tokens))
    return {row["id"]: (row["claim_token"], row["state"]) for row in found}


async def write_results(
    driver: asyncpg.Connection,
    delivery_updates: Sequence[Mapping[str, Any]],
    attempt_rows: Sequence[Mapping[str, Any]],
    now_us: int,
) -> None:
    """The deliveries' next states (fenced by claim token) and their attempt rows."""
    await driver.executemany(
        _UPDATE_DELIVERY,
        [
            (u["b_id"], u["b_token"], u["b_state"], u["b_attempts"], u["b_next"], now_us)
            for u in delivery_updates
        ],
    )
    await driver.executemany(_INSERT_ATTEMPT.sql, _INSERT_ATTEMPT.arguments(attempt_rows))


async def track_failing(
    driver: asyncpg.Connection, cleared: set[str], started: set[str], now_us: int
) -> None:
    """Clear the failing-since clock of endpoints that succeeded; start it for new failures."""
    if cleared:
        await driver.execute(_CLEAR_FAILING, sorted(cleared))
    if started:
        await driver.execute(_START_FAILING, sorted(started), now_us)
