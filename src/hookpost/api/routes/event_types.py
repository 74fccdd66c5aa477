"""Routes for the event catalog (`/api/v1/event-type`), addressed by event type name.

Deleting archives by default; `expunge=true` erases the type.
"""

from fastapi import APIRouter, Response

from hookpost.api import openapi
from hookpost.api.deps import OrgId, Svc, check_limit
from hookpost.api.http import HookpostRoute, json_response, no_content
from hookpost.api.wire import outputs
from hookpost.api.wire.inputs import EventTypeBody, EventTypeIn, EventTypePatch

router = APIRouter(prefix="/api/v1/event-type", tags=["Event Type"], route_class=HookpostRoute)


@router.get("")
async def list_event_types(
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    include_archived: bool = False,
    with_content: bool = False,
) -> Response:
    result = await svc.catalog.list(
        org, limit=check_limit(limit), iterator=iterator, include_archived=include_archived
    )
    items = [outputs.event_type(e, with_content=with_content) for e in result.items]
    return json_response(outputs.page(items, result, "name"))


@router.post("", status_code=201)
async def create_event_type(body: EventTypeIn, org: OrgId, svc: Svc) -> Response:
    created = await svc.catalog.create(org, body.name, body.fields())
    return json_response(outputs.event_type(created), 201)


@router.get("/{event_type_name}")
async def get_event_type(event_type_name: str, org: OrgId, svc: Svc) -> Response:
    return json_response(outputs.event_type(await svc.catalog.get(org, event_type_name)))


@router.put("/{event_type_name}", responses=openapi.CREATED)
async def upsert_event_type(
    event_type_name: str, body: EventTypeBody, org: OrgId, svc: Svc
) -> Response:
    event_type, created = await svc.catalog.put(org, event_type_name, body.fields())
    return json_response(outputs.event_type(event_type), 201 if created else 200)


@router.patch("/{event_type_name}")
async def patch_event_type(
    event_type_name: str, body: EventTypePatch, org: OrgId, svc: Svc
) -> Response:
    updated = await svc.catalog.patch(org, event_type_name, body.event_type_changes())
    return json_response(outputs.event_type(updated))


@router.delete("/{event_type_name}", status_code=204)
async def delete_event_type(
    event_type_name: str, org: OrgId, svc: Svc, expunge: bool = False
) -> Response:
    await svc.catalog.delete(org, event_type_name, expunge=expunge)
    return no_content()
