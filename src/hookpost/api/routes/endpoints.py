"""Routes for endpoints (`/api/v1/app/{app}/endpoint`): CRUD, secret, headers, stats, recovery.

Endpoints are addressed by id or uid, always inside the application named in the path.
"""

from datetime import datetime

from fastapi import APIRouter, Response

from hookpost.api import openapi
from hookpost.api.deps import Order, OrgId, Svc, as_utc, page_args
from hookpost.api.http import HookpostRoute, json_response, no_content
from hookpost.api.wire import outputs
from hookpost.api.wire.inputs import (
    EndpointBody,
    EndpointIn,
    EndpointPatch,
    EndpointTestIn,
    EventExampleIn,
    HeadersIn,
    HeadersPatchIn,
    RecoverIn,
    SecretRotateIn,
)
from hookpost.core import ids

router = APIRouter(
    prefix="/api/v1/app/{app_id}/endpoint", tags=["Endpoint"], route_class=HookpostRoute
)


@router.get("")
async def list_endpoints(
    app_id: str,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    order: Order = "descending",
) -> Response:
    result = await svc.endpoints.list(
        org, app_id, descending=order == "descending", **page_args(limit, iterator, ids.ENDPOINT)
    )
    return json_response(outputs.page([outputs.endpoint(e) for e in result.items], result, "id"))


@router.post("", status_code=201)
async def create_endpoint(app_id: str, body: EndpointIn, org: OrgId, svc: Svc) -> Response:
    endpoint = await svc.endpoints.create(
        org, app_id, body.fields(body.url, body.headers), body.secret
    )
    return json_response(outputs.endpoint(endpoint), 201)


@router.get("/{endpoint_id}")
async def get_endpoint(app_id: str, endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    return json_response(outputs.endpoint(await svc.endpoints.get(org, app_id, endpoint_id)))


@router.put("/{endpoint_id}", responses=openapi.CREATED)
async def upsert_endpoint(
    app_id: str, endpoint_id: str, body: EndpointBody, org: OrgId, svc: Svc
) -> Response:
    endpoint, created = await svc.endpoints.put(org, app_id, endpoint_id, body.fields(body.url))
    return json_response(outputs.endpoint(endpoint), 201 if created else 200)


@router.patch("/{endpoint_id}")
async def patch_endpoint(
    app_id: str, endpoint_id: str, body: EndpointPatch, org: OrgId, svc: Svc
) -> Response:
    endpoint = await svc.endpoints.patch(org, app_id, endpoint_id, body.endpoint_changes())
    return json_response(outputs.endpoint(endpoint))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(app_id: str, endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    await svc.endpoints.delete(org, app_id, endpoint_id)
    return no_content()


@router.get("/{endpoint_id}/secret")
async def get_endpoint_secret(app_id: str, endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    endpoint = await svc.endpoints.get(org, app_id, endpoint_id)
    return json_response({"key": endpoint.current_secret})


@router.post("/{endpoint_id}/secret/rotate")
async def rotate_endpoint_secret(
    app_id: str, endpoint_id: str, org: OrgId, svc: Svc, body: SecretRotateIn | None = None
) -> Response:
    body = body or SecretRotateIn()
    endpoint = await svc.endpoints.rotate_secret(
        org, app_id, endpoint_id, body.key, body.grace_period_seconds
    )
    # Svix answers 204, but SDK 2.9 parses {"key"}; a body satisfies old and new clients.
    return json_response({"key": endpoint.current_secret})


@router.get("/{endpoint_id}/headers")
async def get_endpoint_headers(app_id: str, endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    endpoint = await svc.endpoints.get(org, app_id, endpoint_id)
    return json_response(outputs.endpoint_headers(endpoint))


@router.put("/{endpoint_id}/headers", status_code=204)
async def set_endpoint_headers(
    app_id: str, endpoint_id: str, body: HeadersIn, org: OrgId, svc: Svc
) -> Response:
    await svc.endpoints.set_headers(org, app_id, endpoint_id, body.headers)
    return no_content()


@router.patch("/{endpoint_id}/headers", status_code=204)
async def patch_endpoint_headers(
    app_id: str, endpoint_id: str, body: HeadersPatchIn, org: OrgId, svc: Svc
) -> Response:
    await svc.endpoints.patch_headers(
        org, app_id, endpoint_id, body.headers, tuple(body.delete_headers)
    )
    return no_content()


@router.get("/{endpoint_id}/stats")
async def get_endpoint_stats(
    app_id: str,
    endpoint_id: str,
    org: OrgId,
    svc: Svc,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    stats = await svc.history.endpoint_stats(org, app_id, endpoint_id, as_utc(since), as_utc(until))
    return json_response({**stats, "canceled": 0})


@router.post("/{endpoint_id}/send-example", status_code=202)
async def send_example(
    app_id: str, endpoint_id: str, body: EventExampleIn, org: OrgId, svc: Svc
) -> Response:
    published = await svc.endpoints.send_example(
        org, app_id, endpoint_id, body.event_type, body.example_index
    )
    return json_response(outputs.message(published.message, with_content=True), 202)


@router.post("/{endpoint_id}/test")
async def send_test_delivery(
    app_id: str, endpoint_id: str, org: OrgId, svc: Svc, body: EndpointTestIn | None = None
) -> Response:
    """Send a signed test event now and report what happened (not stored, not counted)."""
    body = body or EndpointTestIn()
    result = await svc.probes.test(
        org, app_id, endpoint_id, event_type=body.event_type, payload=body.payload
    )
    return json_response(outputs.probe(result))


@router.post("/{endpoint_id}/recover", status_code=202)
async def recover_endpoint(
    app_id: str, endpoint_id: str, body: RecoverIn, org: OrgId, svc: Svc
) -> Response:
    task = await svc.history.recover(org, app_id, endpoint_id, _utc(body.since), as_utc(body.until))
    return json_response(outputs.task(task), 202)


@router.post("/{endpoint_id}/replay-missing", status_code=202)
async def replay_missing(
    app_id: str, endpoint_id: str, body: RecoverIn, org: OrgId, svc: Svc
) -> Response:
    task = await svc.history.replay_missing(
        org, app_id, endpoint_id, _utc(body.since), as_utc(body.until)
    )
    return json_response(outputs.task(task), 202)


def _utc(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None
    return converted
