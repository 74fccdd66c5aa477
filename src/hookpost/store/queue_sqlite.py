"""The delivery queue's hot path on SQLite, in SQL run straight on the sqlite3 connection.

The same statements as queue_postgres.py, in SQLite's dialect: the writer transaction the
caller holds already excludes every other writer, so a claim needs no row locks. Run inline
(SQLite calls take microseconds), these skip SQLAlchemy's per-statement CPU, a quarter of
a delivery's cost when draining a backlog.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hookpost.core.models import ClaimShares
from hookpost.store.driver_sql import Insert, column_list, marks
from hookpost.store.schema import attempts, endpoints, messages

# As queue_postgres.CLAIM_AND_LOAD: among the earliest due rows of endpoints with room (and
# not paced to a later turn), at
# most each endpoint's room (JSON object of endpoint id -> room; the default otherwise).
_CLAIM = """
UPDATE deliveries SET next_attempt_at = :lease_until, claim_token = :token, updated_at = :now
WHERE id IN (
    SELECT id FROM (
        SELECT c.id, c.next_attempt_at, coalesce(r.room, :room) AS room,
            row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n
        FROM (
            SELECT id, endpoint_id, next_attempt_at FROM deliveries
            WHERE state = 'pending' AND next_attempt_at <= :now
                AND endpoint_id NOT IN (SELECT value FROM json_each(:excluded))
                AND NOT EXISTS (
                    SELECT 1 FROM endpoint_pacing AS p
                    WHERE p.endpoint_id = deliveries.endpoint_id AND p.not_before > :now
                )
            ORDER BY next_attempt_at
            LIMIT :window
        ) AS c
        LEFT JOIN (SELECT key AS endpoint_id, value AS room FROM json_each(:rooms)) AS r
            ON r.endpoint_id = c.endpoint_id
    )
    WHERE n <= room
    ORDER BY next_attempt_at
    LIMIT :size
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
    raw: sqlite3.Connection, now_us: int, lease_until_us: int, token: str, shares: ClaimShares
) -> list[Any]:
    """Lease due deliveries under `token` as `shares` allows, with message and endpoint."""
    parameters = {
        "lease_until": lease_until_us,
        "token": token,
        "now": now_us,
        "room": shares.room,
        "excluded": json.dumps(shares.excluded),
        "window": shares.window,
        "rooms": json.dumps(dict(shares.rooms)),
        "size": shares.size,
    }
    if raw.execute(_CLAIM, parameters).rowcount == 0:
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
