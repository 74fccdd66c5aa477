"""Request bodies of the Svix-compatible API (plus hookpost's extra `method` on endpoints).

Legacy names (`rateLimit`, `filterTypes`, `featureFlag`) are accepted beside the current ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from hookpost.api.wire.rules import (
    AppUid,
    Channels,
    Description,
    EndpointUid,
    EventId,
    EventTypeFilter,
    EventTypeName,
    Headers,
    Metadata,
    Name,
    PatchModel,
    Tags,
    ThrottleRate,
    WireModel,
    reject_null,
)
from hookpost.core.errors import Problem, RuleBroken
from hookpost.core.fields import ApplicationFields, EndpointFields, EventTypeFields
from hookpost.service.messages import Publication

HttpMethod = Literal["POST", "PUT", "PATCH"]
_THROTTLE = AliasChoices("throttleRate", "rateLimit", "throttle_rate")
_EVENT_TYPES = AliasChoices("eventTypes", "filterTypes", "event_types")
MAX_DELIVER_AHEAD = timedelta(hours=24)  # Svix's limit on a message's deliverAt


class ApplicationIn(WireModel):
    name: Name
    uid: AppUid | None = None
    throttle_rate: ThrottleRate | None = Field(None, validation_alias=_THROTTLE)
    metadata: Metadata = None

    def fields(self) -> ApplicationFields:
        return ApplicationFields(self.name, self.uid, self.throttle_rate, self.metadata or {})


class ApplicationPatch(PatchModel):
    name: Name | None = None
    uid: AppUid | None = None
    throttle_rate: ThrottleRate | None = Field(None, validation_alias=_THROTTLE)
    metadata: Metadata = None

    _not_null = reject_null("name", "metadata")


class EventTypeBody(WireModel):
    description: Description
    archived: bool = False
    deprecated: bool = False
    schemas: dict[str, Any] | None = None
    feature_flags: list[str] | None = None
    feature_flag: str | None = None
    group_name: Description | None = None

    def fields(self) -> EventTypeFields:
        flags = self.feature_flags
        if flags is None and self.feature_flag is not None:
            flags = [self.feature_flag]
        return EventTypeFields(
            self.description,
            self.archived,
            self.deprecated,
            self.schemas,
            None if flags is None else tuple(flags),
            self.group_name,
        )


class EventTypeIn(EventTypeBody):
    name: EventTypeName


class EventTypePatch(PatchModel):
    description: Description | None = None
    archived: bool | None = None
    deprecated: bool | None = None
    schemas: dict[str, Any] | None = None
    feature_flags: list[str] | None = None
    group_name: Description | None = None

    _not_null = reject_null("description", "archived", "deprecated")

    def event_type_changes(self) -> dict[str, Any]:
        changes = self.changes()
        if changes.get("feature_flags") is not None:
            changes["feature_flags"] = tuple(changes["feature_flags"])
        return changes


class EndpointBody(WireModel):
    url: str = Field(min_length=1, max_length=65_536)
    method: HttpMethod = "POST"
    description: Description = ""
    uid: EndpointUid | None = None
    disabled: bool = False
    event_types: EventTypeFilter | None = Field(None, validation_alias=_EVENT_TYPES)
    channels: Channels | None = None
    throttle_rate: ThrottleRate | None = Field(None, validation_alias=_THROTTLE)
    metadata: Metadata = None
    version: int | None = Field(None, ge=1)  # legacy, accepted and ignored

    def fields(self, url: str, headers: dict[str, str] | None = None) -> EndpointFields:
        return EndpointFields(
            url=url,
            method=self.method,
            description=self.description,
            uid=self.uid,
            disabled=self.disabled,
            event_types=None if self.event_types is None else tuple(self.event_types),
            channels=None if self.channels is None else tuple(self.channels),
            throttle_rate=self.throttle_rate,
            metadata=self.metadata or {},
            headers=headers or {},
        )


class EndpointIn(EndpointBody):
    secret: str | None = None
    headers: Headers | None = None


class EndpointPatch(PatchModel):
    url: str | None = Field(None, min_length=1, max_length=65_536)
    method: HttpMethod | None = None
    description: Description | None = None
    uid: EndpointUid | None = None
    disabled: bool | None = None
    event_types: EventTypeFilter | None = Field(None, validation_alias=_EVENT_TYPES)
    channels: Channels | None = None
    throttle_rate: ThrottleRate | None = Field(None, validation_alias=_THROTTLE)
    metadata: Metadata = None

    _not_null = reject_null("url", "method", "description", "disabled", "metadata")

    def endpoint_changes(self) -> dict[str, Any]:
        changes = self.changes()
        for key in ("event_types", "channels"):
            if changes.get(key) is not None:
                changes[key] = tuple(changes[key])
        return changes


class SecretRotateIn(WireModel):
    key: str | None = None
    grace_period_seconds: int = Field(86_400, ge=0, le=604_800)


class HeadersIn(WireModel):
    headers: Headers


class HeadersPatchIn(WireModel):
    headers: dict[str, str | None] = Field(default_factory=dict)
    delete_headers: list[str] = Field(default_factory=list)


class EventExampleIn(WireModel):
    event_type: EventTypeName
    example_index: int = Field(0, ge=0)


class RecoverIn(WireModel):
    since: datetime
    until: datetime | None = None


class TransformationsParams(WireModel):
    raw_payload: str | None = None


class MessageIn(WireModel):
    event_type: EventTypeName
    payload: dict[str, Any]
    event_id: EventId | None = None
    channels: Channels | None = None
    tags: Tags | None = None
    payload_retention_period: int | None = Field(None, ge=1, le=90)
    payload_retention_hours: int | None = Field(None, ge=1, le=2160)
    application: ApplicationIn | None = None
    transformations_params: TransformationsParams | None = None
    deliver_at: datetime | None = None

    @field_validator("deliver_at")
    @classmethod
    def _within_a_day(cls, value: datetime | None) -> datetime | None:
        """Svix takes a deliverAt up to 24 hours ahead; one already passed means now."""
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        except OverflowError:
            raise RuleBroken(Problem.of("deliver_at_out_of_range")) from None
        if utc > datetime.now(UTC) + MAX_DELIVER_AHEAD:
            raise RuleBroken(Problem.of("deliver_at_too_far", hours=24))
        return utc

    @model_validator(mode="after")
    def _one_retention(self) -> MessageIn:
        if self.payload_retention_period is not None and self.payload_retention_hours is not None:
            raise RuleBroken(Problem.of("retention_set_twice"))
        return self

    def retention_seconds(self) -> float:
        if self.payload_retention_hours is not None:
            return self.payload_retention_hours * 3600.0
        return (self.payload_retention_period or 90) * 86400.0

    def publication(self) -> Publication:
        raw = self.transformations_params.raw_payload if self.transformations_params else None
        return Publication(
            event_type=self.event_type,
            payload=self.payload,
            event_id=self.event_id,
            channels=None if self.channels is None else tuple(self.channels),
            tags=None if self.tags is None else tuple(self.tags),
            raw_payload=raw,
            retention_seconds=self.retention_seconds(),
            application=self.application.fields() if self.application else None,
            deliver_at=self.deliver_at,
        )


class EndpointTestIn(WireModel):
    """hookpost's test delivery: an event type and payload to send (both optional)."""

    event_type: EventTypeName = "hookpost.test"
    payload: dict[str, Any] | None = None
