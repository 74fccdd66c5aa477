"""Conversions between database rows and domain models (times, JSON text, tuples).

Kept in one place so every query reads and writes values the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from hookpost.core.models import (
    Application,
    Attempt,
    Delivery,
    DeliveryState,
    Endpoint,
    EventType,
    Message,
    MessageStatus,
    SigningKey,
    TriggerType,
)

_JSON_COLUMNS = {
    "metadata",
    "schemas",
    "feature_flags",
    "event_types",
    "channels",
    "tags",
    "headers",
    "keys",
    "response_headers",
    "request_headers",
}


class Unprefixed:
    """Attribute access to a row given as a mapping (an asyncpg record, SQLAlchemy's
    `row._mapping`); with `prefix`, to the columns of a joined row that carry it, without it."""

    __slots__ = ("_mapping", "_prefix")

    def __init__(self, mapping: Mapping[str, Any], prefix: str = "") -> None:
        self._mapping = mapping
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[self._prefix + name]
        except KeyError:
            raise AttributeError(name) from None


def to_us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def opt_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value).decode()


def from_json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _tuple(text: str | None) -> tuple[str, ...] | None:
    value = from_json(text)
    return None if value is None else tuple(value)


def column_values(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute changes as column values (JSON encoded, times in microseconds)."""
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _JSON_COLUMNS:
            values[name] = to_json(list(value) if isinstance(value, tuple) else value)
        elif isinstance(value, datetime):
            values[name] = to_us(value)
        else:
            values[name] = value
    return values


def keys_to_json(keys: tuple[SigningKey, ...]) -> str:
    return orjson.dumps(
        [
            {"secret": k.secret, "created": to_us(k.created_at), "expires": _opt_us(k.expires_at)}
            for k in keys
        ]
    ).decode()


def _opt_us(at: datetime | None) -> int | None:
    return None if at is None else to_us(at)


def application(row: Any) -> Application:
    return Application(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        uid=row.uid,
        throttle_rate=row.throttle_rate,
        metadata=from_json(row.metadata),
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
    )


def event_type(row: Any) -> EventType:
    return EventType(
        org_id=row.org_id,
        name=row.name,
        description=row.description,
        archived=row.archived,
        deprecated=row.deprecated,
        schemas=from_json(row.schemas),
        feature_flags=_tuple(row.feature_flags),
        group_name=row.group_name,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
    )


def endpoint(row: Any) -> Endpoint:
    keys = tuple(
        SigningKey(k["secret"], from_us(k["created"]), opt_from_us(k["expires"]))
        for k in from_json(row.keys)
    )
    return Endpoint(
        id=row.id,
        org_id=row.org_id,
        app_id=row.app_id,
        uid=row.uid,
        url=row.url,
        method=row.method,
        description=row.description,
        disabled=bool(row.disabled),  # 0/1 from SQLite's driver
        event_types=_tuple(row.event_types),
        channels=_tuple(row.channels),
        throttle_rate=row.throttle_rate,
        metadata=from_json(row.metadata),
        headers=from_json(row.headers),
        keys=keys,
        created_at=from_us(row.created_at),
        updated_at=from_us(row.updated_at),
        failing_since=opt_from_us(row.failing_since),
    )


def message(row: Any) -> Message:
    return Message(
        id=row.id,
        org_id=row.org_id,
        app_id=row.app_id,
        event_type=row.event_type,
        event_id=row.event_id,
        channels=_tuple(row.channels),
        tags=_tuple(row.tags),
        payload=row.payload,
        created_at=from_us(row.created_at),
        raw_payload=bool(row.raw_payload),
        deliver_at=None if row.deliver_at is None else from_us(row.deliver_at),
    )


def delivery(row: Any, prefix: str = "") -> Delivery:
    """A delivery from a row; `prefix` picks its columns out of a joined row."""
    m = row._mapping
    return Delivery(
        id=m[prefix + "id"],
        org_id=m[prefix + "org_id"],
        app_id=m[prefix + "app_id"],
        msg_id=m[prefix + "msg_id"],
        endpoint_id=m[prefix + "endpoint_id"],
        state=DeliveryState(m[prefix + "state"]),
        trigger=TriggerType(m[prefix + "trigger"]),
        attempts=m[prefix + "attempts"],
        next_attempt_at=opt_from_us(m[prefix + "next_attempt_at"]),
        created_at=from_us(m[prefix + "created_at"]),
        updated_at=from_us(m[prefix + "updated_at"]),
    )


def attempt(row: Any) -> Attempt:
    return Attempt(
        id=row.id,
        org_id=row.org_id,
        app_id=row.app_id,
        msg_id=row.msg_id,
        endpoint_id=row.endpoint_id,
        delivery_id=row.delivery_id,
        url=row.url,
        method=row.method,
        status=MessageStatus(row.status),
        trigger=TriggerType(row.trigger),
        response_status_code=row.response_status_code,
        response_body=row.response_body,
        response_headers=from_json(row.response_headers),
        request_headers=from_json(row.request_headers),
        duration_ms=row.duration_ms,
        error_class=row.error_class,
        error_message=row.error_message,
        created_at=from_us(row.created_at),
        error_code=row.error_code,
    )
