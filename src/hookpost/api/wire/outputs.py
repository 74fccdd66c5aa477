"""Response bodies: domain objects rendered as the Svix wire shapes the SDKs parse.

Every field an SDK model requires is always present (see svix-api.md section 13's traps).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hookpost import codec
from hookpost.core import status_codes
from hookpost.core.headers import split_sensitive
from hookpost.core.models import (
    Application,
    Attempt,
    Delivery,
    Endpoint,
    EventType,
    Message,
    Page,
    Task,
)
from hookpost.service.probe import ProbeResult

EXPIRED_PAYLOAD: dict[str, Any] = {"expired": True}


def timestamp(at: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, as every SDK parses it into an aware datetime."""
    if at is None:
        return None
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page(items: list[dict[str, Any]], result: Page[Any], key: str) -> dict[str, Any]:
    """The list envelope: `iterator` and `done` must always be present."""
    return {
        "data": items,
        "iterator": items[-1][key] if items else None,
        "prevIterator": f"-{items[0][key]}" if items else None,
        "done": not result.has_more,
    }


def application(app: Application) -> dict[str, Any]:
    return {
        "id": app.id,
        "uid": app.uid,
        "name": app.name,
        "throttleRate": app.throttle_rate,
        "rateLimit": app.throttle_rate,
        "metadata": app.metadata,
        "createdAt": timestamp(app.created_at),
        "updatedAt": timestamp(app.updated_at),
    }


def event_type(et: EventType, *, with_content: bool = True) -> dict[str, Any]:
    return {
        "name": et.name,
        "description": et.description,
        "archived": et.archived,
        "deprecated": et.deprecated,
        "schemas": et.schemas if with_content else None,
        "featureFlags": None if et.feature_flags is None else list(et.feature_flags),
        "featureFlag": et.feature_flags[0] if et.feature_flags else None,
        "groupName": et.group_name,
        "createdAt": timestamp(et.created_at),
        "updatedAt": timestamp(et.updated_at),
    }


def endpoint(ep: Endpoint, *, with_metadata: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ep.id,
        "uid": ep.uid,
        "url": ep.url,
        "method": ep.method,
        "description": ep.description,
        "disabled": ep.disabled,
        "eventTypes": None if ep.event_types is None else list(ep.event_types),
        "filterTypes": None if ep.event_types is None else list(ep.event_types),
        "channels": None if ep.channels is None else list(ep.channels),
        "throttleRate": ep.throttle_rate,
        "rateLimit": ep.throttle_rate,
        "version": 1,
        "createdAt": timestamp(ep.created_at),
        "updatedAt": timestamp(ep.updated_at),
    }
    if with_metadata:
        body["metadata"] = ep.metadata
    return body


def endpoint_headers(ep: Endpoint) -> dict[str, Any]:
    shown, hidden = split_sensitive(ep.headers)
    return {"headers": shown, "sensitive": hidden}


def message(msg: Message, *, with_content: bool) -> dict[str, Any]:
    return {
        "id": msg.id,
        "eventType": msg.event_type,
        "eventId": msg.event_id,
        "channels": None if msg.channels is None else list(msg.channels),
        "tags": None if msg.tags is None else list(msg.tags),
        "payload": payload(msg) if with_content else {},
        "timestamp": timestamp(msg.created_at),
        "deliverAt": None if msg.deliver_at is None else timestamp(msg.deliver_at),
    }


def payload(msg: Message) -> Any:
    if msg.payload is None:
        return EXPIRED_PAYLOAD
    if msg.raw_payload:
        return {}  # a raw payload is a string the SDK's MessageOut cannot hold
    return codec.loads(msg.payload)  # not orjson: it would turn integers beyond 64 bits to floats


def delivery_status(delivery: Delivery) -> dict[str, Any]:
    status = delivery.status
    return {
        "status": int(status),
        "statusText": status.text,
        "nextAttempt": timestamp(delivery.next_attempt_at) if status == 3 else None,
    }


def endpoint_message(msg: Message, delivery: Delivery, *, with_content: bool) -> dict[str, Any]:
    return {**message(msg, with_content=with_content), **delivery_status(delivery)}


def message_endpoint(ep: Endpoint, delivery: Delivery) -> dict[str, Any]:
    return {**endpoint(ep, with_metadata=False), **delivery_status(delivery)}


def attempt(
    at: Attempt, *, with_content: bool = True, msg: Message | None = None
) -> dict[str, Any]:
    info = status_codes.describe(at.response_status_code)
    return {
        "id": at.id,
        "msgId": at.msg_id,
        "endpointId": at.endpoint_id,
        "url": at.url,
        "method": at.method,
        "response": at.response_body if with_content else "{}",
        "responseStatusCode": at.response_status_code,
        "responseDurationMs": at.duration_ms,
        "status": int(at.status),
        "statusText": at.status.text,
        "triggerType": int(at.trigger),
        "timestamp": timestamp(at.created_at),
        "msg": None if msg is None else message(msg, with_content=False),
        # hookpost's additions: what support staff need to explain a failure.
        "statusCodeName": info.name,
        "statusCodeClass": info.class_code,
        "statusCodeExplanation": info.explanation,
        "errorClass": at.error_class,
        "errorMessage": at.error_message,
        "errorCode": at.error_code,  # errorMessage's failure as an id (a translation keys on it)
        "responseHeaders": at.response_headers if with_content else {},
        "requestHeaders": at.request_headers if with_content else {},
    }


def task(t: Task) -> dict[str, Any]:
    return {"id": t.id, "status": t.status, "task": t.kind, "updatedAt": timestamp(t.updated_at)}


def probe(result: ProbeResult) -> dict[str, Any]:
    """What a test delivery did, in the words support staff would use."""
    outcome = result.outcome
    info = status_codes.describe(outcome.status_code)
    explanation = (
        outcome.error_class.explanation
        if outcome.error_class is not None and outcome.status_code == 0
        else info.explanation
    )
    return {
        "success": outcome.succeeded,
        "webhookId": result.webhook_id,
        "eventType": result.event_type,
        "statusCode": outcome.status_code,
        "statusCodeName": info.name,
        "statusCodeClass": info.class_code,
        "explanation": explanation,
        "durationMs": outcome.duration_ms,
        "errorClass": None if outcome.error_class is None else str(outcome.error_class),
        "errorMessage": outcome.error_message,
        "errorCode": outcome.error_code,
        "response": outcome.response_body,
        "responseHeaders": outcome.response_headers,
        "requestHeaders": outcome.request_headers,
    }


def polled_message(msg: Message) -> dict[str, Any]:
    """PollingEndpointMessageOut: a MessageOut with the (unused here) headers field."""
    return message(msg, with_content=True) | {"headers": None}
