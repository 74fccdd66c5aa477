"""What callers may set on each object: the validated input the service hands to the store.

Patches are plain mappings of these attribute names to new values (absent = unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True)
class ApplicationFields:
    name: str
    uid: str | None = None
    throttle_rate: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventTypeFields:
    description: str
    archived: bool = False
    deprecated: bool = False
    schemas: dict[str, Any] | None = None
    feature_flags: tuple[str, ...] | None = None
    group_name: str | None = None


@dataclass(frozen=True)
class EndpointFields:
    url: str
    method: str = "POST"
    description: str = ""
    uid: str | None = None
    disabled: bool = False
    event_types: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None
    throttle_rate: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


# An application list's filter on its live endpoints (Svix's exclude_apps_with_no_endpoints
# and exclude_apps_with_disabled_endpoints): it has "any", it has an "enabled" one, it has
# "not_only_disabled" ones (an enabled one, or none at all); None: no filter.
EndpointPresence = Literal["any", "enabled", "not_only_disabled"] | None


@dataclass(frozen=True)
class NewMessage:
    event_type: str
    payload: bytes
    event_id: str | None = None
    channels: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    raw_payload: bool = False
    retention_seconds: float = 90 * 86400.0
    deliver_at: datetime | None = None


@dataclass(frozen=True)
class MessageQuery:
    """Filters of a message listing; `before`/`after` bound creation time, exclusively."""

    limit: int = 50
    iterator: str | None = None
    before: datetime | None = None
    after: datetime | None = None
    channel: str | None = None
    tag: str | None = None
    event_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AttemptQuery(MessageQuery):
    """Filters of an attempt listing (and of per-endpoint message listings)."""

    status: int | None = None
    status_code_class: int | None = None
    endpoint_id: str | None = None
