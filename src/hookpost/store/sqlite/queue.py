"""The delivery queue's hot path on SQLite, in SQL run straight on the sqlite3 connection.

The same statements as store/postgres/queue.py, in SQLite's dialect, the rules from
queue_sql: the writer transaction already excludes every other writer, so a claim needs no
row locks. Run inline
(SQLite calls take microseconds), these skip SQLAlchemy's per-statement CPU, a quarter of
a delivery's cost when draining a backlog.
"""

from __future__ import annotations

import collections
import json
import sqlite3
from collections.abc import Sequence

from hookpost.core.models import ClaimShares
from hookpost.core.outcomes import AttemptRecord
from hookpost.store import queue_sql
from hookpost.store.driver_sql import Insert, column_list
from hookpost.store.queue import (
    OLDEST_FIRST_WITHIN_US,
    QueueBase,
    attempt_row,
    endpoint_changes,
    proposed,
    still_holding,
)
from hookpost.store.queue_sql import PENDING
from hookpost.store.schema import attempts, endpoints, messages

# The claim's walk (as postgres.queue.CLAIM_AND_LOAD, see ClaimShares): the next endpoint
# with pending work after the last one visited, with its earliest due time; one seek each of
# ix_deliveries_endpoint_due. Run inline on the writer connection, each takes microseconds.
_NEXT_ENDPOINT = f"""
SELECT endpoint_id, next_attempt_at FROM deliveries
WHERE state = {PENDING} AND endpoint_id > ?
ORDER BY endpoint_id, next_attempt_at LIMIT 1
"""  # noqa: S608
_NEXT_ENDPOINT_UP_TO = f"""
SELECT endpoint_id, next_attempt_at FROM deliveries
WHERE state = {PENDING} AND endpoint_id > ? AND endpoint_id <= ?
ORDER BY endpoint_id, next_attempt_at LIMIT 1
"""  # noqa: S608
# The claim's first read (as postgres.queue.CLAIM_OLDEST_AND_LOAD's): the oldest due
# deliveries, one range of ix_deliveries_due.
_OLDEST_DUE = f"""
SELECT id, endpoint_id, next_attempt_at FROM deliveries
WHERE state = {PENDING} AND next_attempt_at <= ?
ORDER BY next_attempt_at LIMIT ?
"""  # noqa: S608
_PACED = "SELECT 1 FROM endpoint_pacing WHERE endpoint_id = ? AND not_before > ?"
_HAS_DUE = f"""
SELECT 1 FROM deliveries
WHERE state = {PENDING} AND endpoint_id = ? AND next_attempt_at <= ? LIMIT 1
"""  # noqa: S608
_DUE_OF_ENDPOINT = f"""
SELECT id, next_attempt_at FROM deliveries
WHERE state = {PENDING} AND endpoint_id = ? AND next_attempt_at <= ?
ORDER BY next_attempt_at LIMIT ?
"""  # noqa: S608
_LEASE = """
UPDATE deliveries SET next_attempt_at = :lease_until, claim_token = :token, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids))
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
_HELD = "SELECT id FROM deliveries WHERE claim_token IN (SELECT value FROM json_each(?))"
_RECORD = f"""
UPDATE deliveries SET
    {queue_sql.recorded("state", ":state", ":next_at", ":started_at")},
    attempts = :attempts, claim_token = NULL, updated_at = :now
WHERE id = :id AND claim_token = :token
"""  # noqa: S608
_INSERT_ATTEMPT = Insert(attempts)
_AFTER_RECORDING = queue_sql.after_recording("IN (SELECT value FROM json_each(:ids))", ":now")


_Pick = tuple[int, int, str]  # (turn, due time, delivery id): taken in this order


class SqliteQueue(QueueBase):
    """Claims and recordings on the sqlite3 writer connection; release and the next due
    time as QueueBase has them."""

    _cursor = ""  # the endpoint the last claim's walk stopped at

    async def _claim(
        self, now_us: int, lease_until_us: int, token: str, shares: ClaimShares
    ) -> list[sqlite3.Row]:
        async with self._db.sqlite_write() as raw:
            picks = None if shares.listed else self._oldest(raw, now_us, shares)
            if picks is None:
                picks = self._by_endpoint(raw, now_us, shares)
            picks = sorted(picks)[: shares.size]
            if not picks:
                return []
            order = {id_: n for n, (_, _, id_) in enumerate(picks)}
            lease = {
                "lease_until": lease_until_us,
                "token": token,
                "now": now_us,
                "ids": json.dumps(list(order)),
            }
            if raw.execute(_LEASE, lease).rowcount == 0:
                return []
            cursor = raw.cursor()
            cursor.row_factory = sqlite3.Row
            try:
                loaded = cursor.execute(_LOAD_CLAIMED, (token,)).fetchall()
            finally:
                cursor.close()
        return sorted(loaded, key=lambda row: order[row["id"]])  # in the order taken

    def _oldest(
        self, raw: sqlite3.Connection, now_us: int, shares: ClaimShares
    ) -> list[_Pick] | None:
        """The oldest due deliveries when they are the claim (see ClaimShares): all that is
        due, or one each of `size` endpoints with room and no pacing; None when the claim
        must walk instead."""
        if not self.oldest_first.ask():
            return None
        oldest = raw.execute(_OLDEST_DUE, (now_us, shares.size)).fetchall()
        turns: collections.Counter[str] = collections.Counter()
        barred: dict[str, bool] = {}
        picks: list[_Pick] = []
        for id_, endpoint_id, due_at in oldest:
            turns[endpoint_id] += 1
            if endpoint_id not in barred:
                barred[endpoint_id] = shares.room_of(endpoint_id) <= 0 or (
                    raw.execute(_PACED, (endpoint_id, now_us)).fetchone() is not None
                )
            picks.append((turns[endpoint_id], due_at, id_))
        if len(oldest) < shares.size:  # all that is due, each endpoint within its share
            per = shares.per_endpoint(sum(not b for b in barred.values()))
            picks = [
                pick
                for pick, (_, endpoint_id, _) in zip(picks, oldest, strict=True)
                if not barred[endpoint_id] and pick[0] <= min(shares.room_of(endpoint_id), per)
            ]
        elif (
            any(barred.values())
            or len(turns) < len(oldest)
            or oldest[0][2] < now_us - OLDEST_FIRST_WITHIN_US
        ):
            self.oldest_first.answer(False)
            return None
        self.oldest_first.answer(True)
        self.walk_cut = False
        return picks

    def _by_endpoint(
        self, raw: sqlite3.Connection, now_us: int, shares: ClaimShares
    ) -> list[_Pick]:
        """The named (listed) or walked endpoints' earliest due deliveries, each within its
        room and share."""
        if shares.listed:
            chosen = self._listed(raw, now_us, shares)
        else:
            chosen = self._walk(raw, now_us, shares)
        per = shares.per_endpoint(len(chosen))
        picks: list[_Pick] = []
        for endpoint_id in chosen:
            limit = min(shares.room_of(endpoint_id), per)
            due = raw.execute(_DUE_OF_ENDPOINT, (endpoint_id, now_us, limit))
            picks += ((turn, at, id_) for turn, (id_, at) in enumerate(due, start=1))
        return picks

    @staticmethod
    def _listed(raw: sqlite3.Connection, now_us: int, shares: ClaimShares) -> list[str]:
        """The named endpoints with room and due work (one seek each), in the order named,
        until `size` are found."""
        chosen: list[str] = []
        for endpoint_id, room in shares.rooms.items():
            if len(chosen) >= shares.size:
                break
            if room <= 0 or raw.execute(_HAS_DUE, (endpoint_id, now_us)).fetchone() is None:
                continue
            if raw.execute(_PACED, (endpoint_id, now_us)).fetchone() is None:
                chosen.append(endpoint_id)
        return chosen

    def _walk(self, raw: sqlite3.Connection, now_us: int, shares: ClaimShares) -> list[str]:
        """Endpoints with due work and room, visited in turn from the last claim's stop."""
        start = at = self._cursor
        excluded = set(shares.excluded)
        chosen: list[str] = []
        wrapped = False
        self.walk_cut = False
        for step in range(shares.window + 1):
            if len(chosen) >= shares.size:
                break
            if step == shares.window:
                self.walk_cut = True  # endpoints with pending work remain unvisited
                break
            if wrapped:
                row = raw.execute(_NEXT_ENDPOINT_UP_TO, (at, start)).fetchone()
            else:
                row = raw.execute(_NEXT_ENDPOINT, (at,)).fetchone()
            if row is None:
                if wrapped or not start:
                    break
                wrapped, at = True, ""
                continue
            at, due_at = row
            due = due_at <= now_us and at not in excluded
            if due and raw.execute(_PACED, (at, now_us)).fetchone() is None:
                chosen.append(at)
        self._cursor = at
        return chosen

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
