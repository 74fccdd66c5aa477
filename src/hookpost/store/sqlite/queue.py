"""The delivery queue's hot path on SQLite, in SQL run straight on the sqlite3 connection.

The same statements as store/postgres/queue.py, in SQLite's dialect, the rules from
queue_sql: the writer transaction already excludes every other writer, so a claim needs no
row locks. Run inline
(SQLite calls take microseconds), these skip SQLAlchemy's per-statement CPU, a quarter of
a delivery's cost when draining a backlog.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from hookpost.core.models import ClaimShares
from hookpost.core.outcomes import AttemptRecord
from hookpost.store import queue_sql
from hookpost.store.driver_sql import Insert, column_list
from hookpost.store.queue import (
    QueueBase,
    attempt_row,
    endpoint_changes,
    proposed,
    still_holding,
)
from hookpost.store.queue_sql import PENDING
from hookpost.store.schema import attempts, endpoints, messages

# As postgres.queue.CLAIM_AND_LOAD: among the earliest due rows of endpoints with room (and
# not paced to a later turn, see store/pacing.py), at most each endpoint's room (JSON
# object of endpoint id -> room; the default otherwise).
_CLAIM = f"""
UPDATE deliveries SET next_attempt_at = :lease_until, claim_token = :token, updated_at = :now
WHERE id IN (
    SELECT id FROM (
        SELECT c.id, c.next_attempt_at, coalesce(r.room, :room) AS room,
            row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n
        FROM (
            SELECT id, endpoint_id, next_attempt_at FROM deliveries
            WHERE state = {PENDING} AND next_attempt_at <= :now
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
"""  # noqa: S608
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
_HELD = "SELECT id FROM deliveries WHERE claim_token IN (SELECT value FROM json_each(?))"
_RECORD = f"""
UPDATE deliveries SET
    {queue_sql.recorded("state", ":state", ":next_at", ":started_at")},
    attempts = :attempts, claim_token = NULL, updated_at = :now
WHERE id = :id AND claim_token = :token
"""  # noqa: S608
_INSERT_ATTEMPT = Insert(attempts)
_AFTER_RECORDING = queue_sql.after_recording("IN (SELECT value FROM json_each(:ids))", ":now")


class SqliteQueue(QueueBase):
    """Claims and recordings on the sqlite3 writer connection; release and the next due
    time as QueueBase has them."""

    async def _claim(
        self, now_us: int, lease_until_us: int, token: str, shares: ClaimShares
    ) -> list[sqlite3.Row]:
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
        async with self._db.sqlite_write() as raw:
            if raw.execute(_CLAIM, parameters).rowcount == 0:
                return []
            cursor = raw.cursor()
            cursor.row_factory = sqlite3.Row
            try:
                return cursor.execute(_LOAD_CLAIMED, (token,)).fetchall()
            finally:
                cursor.close()

    async def _record(self, records: Sequence[AttemptRecord], now_us: int) -> list[AttemptRecord]:
        tokens = json.dumps(sorted({r.claim.token for r in records}))
        async with self._db.sqlite_write() as raw:
            kept = still_holding(records, (row[0] for row in raw.execute(_HELD, (tokens,))))
            if not kept:
                return []
            raw.executemany(_RECORD, [{**proposed(r), "now": now_us} for r in kept])
            raw.executemany(_INSERT_ATTEMPT.sql, _INSERT_ATTEMPT.arguments(map(attempt_row, kept)))
            for (sql, _), ids in zip(_AFTER_RECORDING, endpoint_changes(kept), strict=True):
                if ids:
                    raw.execute(sql, {"ids": json.dumps(sorted(ids)), "now": now_us})
        return kept
