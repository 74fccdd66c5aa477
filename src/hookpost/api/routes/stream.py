"""The live stream of an application's messages (`GET /api/v1/app/{app}/stream`), as SSE.

Each event's `id` is the message id; reconnecting with `Last-Event-ID` resumes right after it.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from hookpost import codec
from hookpost.api import openapi
from hookpost.api.deps import OrgId, Svc, check_filters
from hookpost.api.event_stream import EventStreamResponse, StreamLimits
from hookpost.api.http import HookpostRoute
from hookpost.api.wire import outputs
from hookpost.core.errors import InvalidInput
from hookpost.core.models import Message
from hookpost.core.names import check_event_type_name

router = APIRouter(prefix="/api/v1/app/{app_id}/stream", tags=["Stream"], route_class=HookpostRoute)


async def _framed(messages: AsyncIterator[Message]) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"  # how long EventSource clients wait before reconnecting
    async for message in messages:
        data = codec.dumps(outputs.polled_message(message))
        yield b"id: " + message.id.encode() + b"\ndata: " + data + b"\n\n"


@router.get("", responses=openapi.EVENT_STREAM)
async def stream_messages(
    app_id: str,
    request: Request,
    org: OrgId,
    svc: Svc,
    event_type: str | None = None,
    channel: str | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    check_filters(channel, None)
    if event_type is not None and (problem := check_event_type_name(event_type)):
        raise InvalidInput.broken(("query", "event_type"), problem)
    # EventSource cannot set headers on its first request; a query parameter may stand in.
    last_event_id = last_event_id or request.query_params.get("last_event_id") or None
    messages = await svc.streams.open(
        org, app_id, last_event_id=last_event_id, event_type=event_type, channel=channel
    )
    limits: StreamLimits = request.app.state.stream_limits
    return EventStreamResponse(_framed(messages), limits)
