"""Routes for messages (`/api/v1/app/{app}/msg`): publishing, reading, expunging, resending.

Publishing answers 202 only after the message and its deliveries are committed.
"""

from datetime import datetime

from fastapi import APIRouter, Request, Response

from hookpost.api.deps import OrgId, Svc, as_utc, check_filters, event_types_param, page_args
from hookpost.api.http import HookpostRoute, json_response, no_content
from hookpost.api.wire import outputs
from hookpost.api.wire.inputs import MessageIn
from hookpost.core import ids
from hookpost.core.fields import MessageQuery

router = APIRouter(prefix="/api/v1/app/{app_id}/msg", tags=["Message"], route_class=HookpostRoute)


@router.post("", status_code=202)
async def create_message(
    app_id: str, body: MessageIn, request: Request, org: OrgId, svc: Svc, with_content: bool = True
) -> Response:
    key = getattr(request.state, "idempotency_key", None)
    published = await svc.messages.publish(org, app_id, body.publication(), idempotency_key=key)
    return json_response(outputs.message(published.message, with_content=with_content), 202)


@router.get("")
async def list_messages(
    app_id: str,
    request: Request,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    channel: str | None = None,
    tag: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    with_content: bool = True,
) -> Response:
    check_filters(channel, tag)
    query = MessageQuery(
        **page_args(limit, iterator, ids.MESSAGE),
        channel=channel,
        tag=tag,
        before=as_utc(before),
        after=as_utc(after),
        event_types=event_types_param(request),
    )
    result = await svc.messages.list(org, app_id, query)
    items = [outputs.message(m, with_content=with_content) for m in result.items]
    return json_response(outputs.page(items, result, "id"))


@router.get("/{msg_id}")
async def get_message(
    app_id: str, msg_id: str, org: OrgId, svc: Svc, with_content: bool = True
) -> Response:
    message = await svc.messages.get(org, app_id, msg_id)
    return json_response(outputs.message(message, with_content=with_content))


@router.delete("/{msg_id}/content", status_code=204)
async def expunge_message_content(app_id: str, msg_id: str, org: OrgId, svc: Svc) -> Response:
    await svc.messages.expunge(org, app_id, msg_id)
    return no_content()


@router.get("/{msg_id}/endpoint")
async def list_attempted_destinations(
    app_id: str,
    msg_id: str,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
) -> Response:
    result = await svc.history.message_destinations(
        org, app_id, msg_id, **page_args(limit, iterator, ids.ENDPOINT)
    )
    items = [outputs.message_endpoint(ep, d) for ep, d in result.items]
    return json_response(outputs.page(items, result, "id"))


@router.post("/{msg_id}/endpoint/{endpoint_id}/resend", status_code=202)
async def resend(app_id: str, msg_id: str, endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    await svc.history.resend(org, app_id, msg_id, endpoint_id)
    return json_response({}, 202)  # the SDK parses a JSON body here; 204 would crash it


@router.get("/{msg_id}/attempt/{attempt_id}")
async def get_attempt(app_id: str, msg_id: str, attempt_id: str, org: OrgId, svc: Svc) -> Response:
    attempt = await svc.history.attempt(org, app_id, msg_id, attempt_id)
    return json_response(outputs.attempt(attempt))


@router.delete("/{msg_id}/attempt/{attempt_id}/content", status_code=204)
async def expunge_attempt_content(
    app_id: str, msg_id: str, attempt_id: str, org: OrgId, svc: Svc
) -> Response:
    await svc.history.expunge_attempt(org, app_id, msg_id, attempt_id)
    return no_content()
