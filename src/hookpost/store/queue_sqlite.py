"""The delivery queue's hot path on SQLite, in SQL run straight on the sqlite3 connection.

The same statements as queue_postgres.py, in SQLite's dialect: the writer transaction the
caller holds already excludes every other writer, so a claim needs no row locks. Run inline
(SQLite calls take microseconds), these skip SQLAlchemy's per-statement CPU, a quarter of
a delivery's cost when draining a backlog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hookpost.store.driver_sql import Insert, column_list, marks
from hookpost.store.schema import attempts, endpoints, messages

_CLAIM = """
UPDATE deliveries SET next_attempt_at = ?, claim_token = ?, updated_at = ?
WHERE id IN (
    SELECT id FROM deliveries
    WHERE state = 'pending' AND next_attempt_at <= ?
    ORDER BY next_attempt_at
    LIMIT ?
)
"""
# Labelled as queue._claims reads them.
_LOAD_CLAIMED = f"""
SELECT d.id, d.trigger, d.attempts, a.uid AS app_uid,
    {column_list(messages, "m", "m_")},
    {column_list(endpoints, "e", "e_")}
FROM deliveries AS d
JOIN messages AS m ON m.id = d.msg_id
JOIN endpoints AS e ON e.id = d.endpoint_id
JOIN applications AS a ON a.id = d.app_id
WHERE d.claim_token = ?
"""  # noqa: S608
_UPDATE_DELIVERY = """
UPDATE deliveries
SET state = ?, attempts = ?, next_attempt_at = ?, claim_token = NULL, updated_at = ?
WHERE id = ? AND claim_token = ?
"""
_INSERT_ATTEMPT = Insert(attempts)


def _rows(raw: sqlite3.Connection, sql: str, parameters: Sequence[Any]) -> list[sqlite3.Row]:
    cursor = raw.cursor()
    cursor.row_factory = sqlite3.Row
    try:
        return cursor.execute(sql, parameters).fetchall()
    finally:
        cursor.close()


async def claim(
    raw: sqlite3.Connection, now_us: int, limit: int, lease_until_us: int, token: str
) -> list[Any]:
    """Lease up to `limit` due deliveries under `token`, with their message and endpoint."""
    if raw.execute(_CLAIM, (lease_until_us, token, now_us, now_us, limit)).rowcount == 0:
        return []
    return _rows(raw, _LOAD_CLAIMED, (token,))


async def still_held(raw: sqlite3.Connection, tokens: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(claim token, state) of every delivery still held under one of `tokens`."""
    wanted = list(tokens)
    sql = (
        f"SELECT id, claim_token, state FROM deliveries WHERE claim_token IN ({marks(len(wanted))})"  # noqa: S608
    )
    return {row[0]: (row[1], row[2]) for row in raw.execute(sql, wanted)}


async def write_results(
    raw: sqlite3.Connection,
    delivery_updates: Sequence[Mapping[str, Any]],
    attempt_rows: Sequence[Mapping[str, Any]],
    now_us: int,
) -> None:
    """The deliveries' next states (fenced by claim token) and their attempt rows."""
    raw.executemany(
        _UPDATE_DELIVERY,
        [
            (u["b_state"], u["b_attempts"], u["b_next"], now_us, u["b_id"], u["b_token"])
            for u in delivery_updates
        ],
    )
    raw.executemany(_INSERT_ATTEMPT.sql, _INSERT_ATTEMPT.arguments(attempt_rows))


async def track_failing(
    raw: sqlite3.Connection, cleared: set[str], started: set[str], now_us: int
) -> None:
    """Clear the failing-since clock of endpoints that succeeded; start it for new failures."""
    if cleared:
        raw.execute(
            "UPDATE endpoints SET failing_since = NULL "  # noqa: S608
            f"WHERE id IN ({marks(len(cleared))}) AND failing_since IS NOT NULL",
            sorted(cleared),
        )
    if started:
        raw.execute(
            "UPDATE endpoints SET failing_since = ? "  # noqa: S608
            f"WHERE id IN ({marks(len(started))}) AND failing_since IS NULL",
            [now_us, *sorted(started)],
        )
