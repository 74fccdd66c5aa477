"""A publish's reads and writes straight on asyncpg (PostgreSQL's group-committed publishes).

Same statements as publishing.SqlPublishRows, without SQLAlchemy's per-statement CPU, which
dominated a publish at low batch sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hookpost.core.models import Application, Message
from hookpost.store import rows
from hookpost.store.driver_sql import Insert, Row, column_list
from hookpost.store.schema import applications, deliveries, endpoints, messages

_APPLICATIONS = f"""
SELECT {column_list(applications)} FROM applications
WHERE org_id = $1 AND deleted_at IS NULL AND (id = ANY($2::varchar[]) OR uid = ANY($2::varchar[]))
"""  # noqa: S608
_MESSAGES_BY_KEY = f"""
SELECT {column_list(messages)} FROM messages WHERE idempotency_key = ANY($1::varchar[])
"""  # noqa: S608
_EVENT_IDS_TAKEN = """
SELECT app_id, event_id FROM messages
WHERE app_id = ANY($1::varchar[]) AND event_id = ANY($2::varchar[])
"""
_ENDPOINTS_OF = f"""
SELECT {column_list(endpoints)} FROM endpoints
WHERE app_id = ANY($1::varchar[]) AND deleted_at IS NULL AND NOT disabled
"""  # noqa: S608
_INSERT_MESSAGE = Insert(messages)
_INSERT_DELIVERY = Insert(deliveries)


class DriverPublishRows:
    def __init__(self, driver: asyncpg.Connection) -> None:
        self.driver = driver

    async def applications(self, org_id: str, refs: set[str]) -> list[Application]:
        found = await self.driver.fetch(_APPLICATIONS, org_id, list(refs))
        return [rows.application(Row(record)) for record in found]

    async def messages_by_key(self, keys: set[str]) -> list[tuple[Message, str]]:
        found = await self.driver.fetch(_MESSAGES_BY_KEY, list(keys))
        return [(rows.message(Row(record)), record["idempotency_key"]) for record in found]

    async def event_ids_taken(self, app_ids: set[str], event_ids: set[str]) -> set[tuple[str, str]]:
        found = await self.driver.fetch(_EVENT_IDS_TAKEN, list(app_ids), list(event_ids))
        return {(record["app_id"], record["event_id"]) for record in found}

    async def insert_messages(self, message_rows: list[dict[str, Any]]) -> None:
        await self.driver.executemany(_INSERT_MESSAGE.sql, _INSERT_MESSAGE.arguments(message_rows))

    async def endpoints_of(self, app_ids: set[str]) -> Sequence[Any]:
        return [Row(record) for record in await self.driver.fetch(_ENDPOINTS_OF, list(app_ids))]

    async def insert_deliveries(self, delivery_rows: list[dict[str, Any]]) -> None:
        await self.driver.executemany(
            _INSERT_DELIVERY.sql, _INSERT_DELIVERY.arguments(delivery_rows)
        )
