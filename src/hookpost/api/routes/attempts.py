"""Routes for the delivery history: attempts by endpoint or by message, and messages by endpoint.

Lists are newest first and take the Svix filters (status, status code class, channel, ...).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from hookpost.api.deps import (
    OrgId,
    Svc,
    as_utc,
    check_filters,
    check_status_code_class,
    event_types_param,
    page_args,
)
from hookpost.api.http import HookpostRoute, json_response
from hookpost.api.wire import outputs
from hookpost.core import ids
from hookpost.core.fields import AttemptQuery
from hookpost.core.models import Attempt, Page
from hookpost.service.container import Services

router = APIRouter(
    prefix="/api/v1/app/{app_id}", tags=["Message Attempt"], route_class=HookpostRoute
)

Status = Annotated[int | None, Query(ge=0, le=4)]
CodeClass = Annotated[int | None, Query()]


def _query(
    request: Request,
    prefix: str,
    *,
    limit: int,
    iterator: str | None,
    status: int | None,
    status_code_class: int | None = None,
    channel: str | None = None,
    tag: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    endpoint_id: str | None = None,
) -> AttemptQuery:
    check_status_code_class(status_code_class, ("query", "status_code_class"))
    check_filters(channel, tag)
    return AttemptQuery(
        **page_args(limit, iterator, prefix),
        status=status,
        status_code_class=status_code_class,
        channel=channel,
        tag=tag,
        before=as_utc(before),
        after=as_utc(after),
        event_types=event_types_param(request),
        endpoint_id=endpoint_id,
    )


@router.get("/attempt/endpoint/{endpoint_id}")
async def list_attempts_by_endpoint(
    app_id: str,
    endpoint_id: str,
    request: Request,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    status: Status = None,
    status_code_class: CodeClass = None,
    channel: str | None = None,
    tag: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    with_content: bool = True,
    with_msg: bool = False,
) -> Response:
    query = _query(
        request,
        ids.ATTEMPT,
        limit=limit,
        iterator=iterator,
        status=status,
        status_code_class=status_code_class,
        channel=channel,
        tag=tag,
        before=before,
        after=after,
    )
    result = await svc.history.attempts_by_endpoint(org, app_id, endpoint_id, query)
    return await _attempt_page(svc, result, with_content=with_content, with_msg=with_msg)


@router.get("/attempt/msg/{msg_id}")
async def list_attempts_by_message(
    app_id: str,
    msg_id: str,
    request: Request,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    status: Status = None,
    status_code_class: CodeClass = None,
    channel: str | None = None,
    tag: str | None = None,
    endpoint_id: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    with_content: bool = True,
    with_msg: bool = False,
) -> Response:
    query = _query(
        request,
        ids.ATTEMPT,
        limit=limit,
        iterator=iterator,
        status=status,
        status_code_class=status_code_class,
        channel=channel,
        tag=tag,
        before=before,
        after=after,
        endpoint_id=endpoint_id,
    )
    result = await svc.history.attempts_by_message(org, app_id, msg_id, query)
    return await _attempt_page(svc, result, with_content=with_content, with_msg=with_msg)


async def _attempt_page(
    svc: Services, result: Page[Attempt], *, with_content: bool, with_msg: bool
) -> Response:
    """A page of attempts; with `with_msg`, each carries its message (without payload, as in
    Svix: "message payloads are never included")."""
    found = await svc.history.messages_of(result.items) if with_msg else {}
    items = [
        outputs.attempt(a, with_content=with_content, msg=found.get(a.msg_id)) for a in result.items
    ]
    return json_response(outputs.page(items, result, "id"))


@router.get("/endpoint/{endpoint_id}/msg")
async def list_attempted_messages(
    app_id: str,
    endpoint_id: str,
    request: Request,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    status: Status = None,
    channel: str | None = None,
    tag: str | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
    with_content: bool = True,
) -> Response:
    query = _query(
        request,
        ids.MESSAGE,
        limit=limit,
        iterator=iterator,
        status=status,
        channel=channel,
        tag=tag,
        before=before,
        after=after,
    )
    result = await svc.history.endpoint_messages(org, app_id, endpoint_id, query)
    items = [outputs.endpoint_message(m, d, with_content=with_content) for m, d in result.items]
    return json_response(outputs.page(items, result, "id"))
