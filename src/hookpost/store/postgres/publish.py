"""A publish's reads and writes on PostgreSQL, straight on asyncpg (store/sqlite/publish.py
has SQLite's): without SQLAlchemy's per-statement CPU, which dominated a publish at low batch
sizes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from hookpost.core.models import Application, Message
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.driver_sql import (
    array_parameters,
    column_list,
    column_names,
    columns_of,
)
from hookpost.store.notifications import CHANNEL
from hookpost.store.schema import applications, deliveries, endpoints, messages

# The applications with their enabled, live endpoints, in one round trip (endpoint columns
# labelled e_; an application without endpoints comes with NULLs).
_APPLICATIONS = f"""
SELECT {column_list(applications, "a")}, {column_list(endpoints, "e", "e_")}
FROM applications AS a
LEFT JOIN endpoints AS e ON e.app_id = a.id AND e.deleted_at IS NULL AND NOT e.disabled
WHERE a.org_id = $1 AND a.deleted_at IS NULL
    AND (a.id = ANY($2::varchar[]) OR a.uid = ANY($2::varchar[]))
"""  # noqa: S608
# One index probe on (org_id, idempotency_key) per key, whatever the statistics say. As
# `idempotency_key = ANY($2)` the planner may search the index on org_id alone and filter
# the keys, reading every message of the organization, whenever it believes the organization
# has few (a table not analysed yet, or grown since: bench/scale.py saw 2,000 rows read per
# lookup). LIMIT 1 (the pair is unique) keeps the subquery a probe of its own.
_MESSAGES_BY_KEY = f"""
SELECT {column_list(messages, "m")} FROM unnest($2::varchar[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT * FROM messages WHERE org_id = $1 AND idempotency_key = k.key LIMIT 1
) AS m
"""  # noqa: S608
# Expired keys, released: the same one probe per key as _MESSAGES_BY_KEY (as
# `idempotency_key = ANY($2)` it risked the same read of the whole organization), then each
# message found updated by its primary key.
_FORGET_KEYS = """
UPDATE messages AS t SET idempotency_key = NULL
FROM (
    SELECT m.id FROM unnest($2::varchar[]) AS k(key)
    CROSS JOIN LATERAL (
        SELECT id FROM messages
        WHERE org_id = $1 AND idempotency_key = k.key AND created_at < $3 LIMIT 1
    ) AS m
) AS expired
WHERE t.id = expired.id
"""
_EVENT_IDS_TAKEN = """
SELECT app_id, event_id FROM messages
WHERE app_id = ANY($1::varchar[]) AND event_id = ANY($2::varchar[])
"""
_ENDPOINTS_OF = f"""
SELECT {column_list(endpoints)} FROM endpoints
WHERE app_id = ANY($1::varchar[]) AND deleted_at IS NULL AND NOT disabled
"""  # noqa: S608
# Messages and their deliveries in one statement, each column as an array.
_INSERT = f"""
WITH written AS (
    INSERT INTO messages ({column_names(messages)})
    SELECT * FROM unnest({array_parameters(messages, 1)})
)
INSERT INTO deliveries ({column_names(deliveries)})
SELECT * FROM unnest({array_parameters(deliveries, len(messages.c) + 1)})
"""  # noqa: S608
# The same, waking every worker when the transaction commits: pg_notify in a CTE the insert
# reads (a SELECT CTE nobody reads is never run), so the wake-up costs no round trip of its
# own and leaves with the commit, not after it. Notifications of one transaction on one
# channel with one payload are delivered once.
_INSERT_AND_RING = f"""
WITH written AS (
    INSERT INTO messages ({column_names(messages)})
    SELECT * FROM unnest({array_parameters(messages, 1)})
), rung AS MATERIALIZED (SELECT pg_notify('{CHANNEL}', '') AS done)
INSERT INTO deliveries ({column_names(deliveries)})
SELECT new.* FROM unnest({array_parameters(deliveries, len(messages.c) + 1)}) AS new
CROSS JOIN rung
"""  # noqa: S608


class PostgresPublishing:
    """Publish transactions on asyncpg connections of the database's pool."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresPublishRows]:
        async with self._db.postgres_write() as driver:
            yield PostgresPublishRows(driver)


class PostgresPublishRows:
    def __init__(self, driver: asyncpg.Connection) -> None:
        self.driver = driver
        self._endpoints: dict[str, list[rows.Unprefixed]] = {}  # by application, read with it

    async def applications(self, org_id: str, refs: set[str]) -> list[Application]:
        found: dict[str, Application] = {}
        for record in await self.driver.fetch(_APPLICATIONS, org_id, list(refs)):
            app_id = record["id"]
            if app_id not in found:
                found[app_id] = rows.application(rows.Unprefixed(record))
                self._endpoints[app_id] = []
            if record["e_id"] is not None:
                self._endpoints[app_id].append(rows.Unprefixed(record, "e_"))
        return list(found.values())

    async def create_application(self, values: dict[str, Any]) -> Application | None:
        columns = ", ".join(f'"{name}"' for name in values)  # names from the schema
        places = ", ".join(f"${n + 1}" for n in range(len(values)))
        found = await self.driver.fetchrow(
            f"INSERT INTO applications ({columns}) VALUES ({places}) "  # noqa: S608
            f"ON CONFLICT DO NOTHING RETURNING {column_list(applications)}",
            *values.values(),
        )
        return None if found is None else rows.application(rows.Unprefixed(found))

    async def messages_by_key(self, org_id: str, keys: set[str]) -> list[tuple[Message, str]]:
        found = await self.driver.fetch(_MESSAGES_BY_KEY, org_id, list(keys))
        return [
            (rows.message(rows.Unprefixed(record)), record["idempotency_key"]) for record in found
        ]

    async def forget_keys(self, org_id: str, keys: set[str], before_us: int) -> None:
        await self.driver.execute(_FORGET_KEYS, org_id, list(keys), before_us)

    async def event_ids_taken(self, app_ids: set[str], event_ids: set[str]) -> set[tuple[str, str]]:
        found = await self.driver.fetch(_EVENT_IDS_TAKEN, list(app_ids), list(event_ids))
        return {(record["app_id"], record["event_id"]) for record in found}

    async def endpoints_of(self, app_ids: set[str]) -> Sequence[Any]:
        if app_ids <= self._endpoints.keys():  # read with their applications
            return [row for app_id in app_ids for row in self._endpoints[app_id]]
        return [
            rows.Unprefixed(record)
            for record in await self.driver.fetch(_ENDPOINTS_OF, list(app_ids))
        ]

    async def insert(
        self,
        message_rows: list[dict[str, Any]],
        delivery_rows: list[dict[str, Any]],
        *,
        ring: bool = False,
    ) -> bool:
        ring = ring and bool(delivery_rows)  # the NOTIFY rides on a delivery row
        await self.driver.execute(
            _INSERT_AND_RING if ring else _INSERT,
            *columns_of(messages, message_rows),
            *columns_of(deliveries, delivery_rows),
        )
        return ring
