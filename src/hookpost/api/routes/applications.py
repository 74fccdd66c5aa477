"""Routes for applications (`/api/v1/app`): one per customer of the platform.

Paths accept an application's id or its uid.
"""

from fastapi import APIRouter, Response

from hookpost.api import openapi
from hookpost.api.deps import Order, OrgId, Svc, page_args
from hookpost.api.http import HookpostRoute, json_response, no_content
from hookpost.api.wire import outputs
from hookpost.api.wire.inputs import ApplicationIn, ApplicationPatch
from hookpost.core import ids
from hookpost.core.fields import EndpointPresence

router = APIRouter(prefix="/api/v1/app", tags=["Application"], route_class=HookpostRoute)


@router.get("")
async def list_applications(
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    order: Order = "ascending",
    exclude_apps_with_no_endpoints: bool = False,
    exclude_apps_with_disabled_endpoints: bool = False,
    # hookpost has no Svix Play endpoints, so this filter never excludes an application.
    exclude_apps_with_svix_play_endpoints: bool = False,  # noqa: ARG001
) -> Response:
    presence: EndpointPresence = None
    if exclude_apps_with_no_endpoints:
        presence = "enabled" if exclude_apps_with_disabled_endpoints else "any"
    elif exclude_apps_with_disabled_endpoints:
        presence = "not_only_disabled"
    result = await svc.applications.list(
        org,
        descending=order == "descending",
        with_endpoints=presence,
        **page_args(limit, iterator, ids.APPLICATION),
    )
    return json_response(outputs.page([outputs.application(a) for a in result.items], result, "id"))


@router.post("", status_code=201, responses=openapi.FOUND)
async def create_application(
    body: ApplicationIn, org: OrgId, svc: Svc, get_if_exists: bool = False
) -> Response:
    app, created = await svc.applications.create(org, body.fields(), get_if_exists=get_if_exists)
    return json_response(outputs.application(app), 201 if created else 200)


@router.get("/{app_id}")
async def get_application(app_id: str, org: OrgId, svc: Svc) -> Response:
    return json_response(outputs.application(await svc.applications.get(org, app_id)))


@router.put("/{app_id}", responses=openapi.CREATED)
async def upsert_application(app_id: str, body: ApplicationIn, org: OrgId, svc: Svc) -> Response:
    app, created = await svc.applications.put(org, app_id, body.fields())
    return json_response(outputs.application(app), 201 if created else 200)


@router.patch("/{app_id}")
async def patch_application(app_id: str, body: ApplicationPatch, org: OrgId, svc: Svc) -> Response:
    app = await svc.applications.patch(org, app_id, body.changes())
    return json_response(outputs.application(app))


@router.delete("/{app_id}", status_code=204)
async def delete_application(app_id: str, org: OrgId, svc: Svc) -> Response:
    await svc.applications.delete(org, app_id)
    return no_content()
