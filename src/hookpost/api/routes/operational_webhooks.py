"""Routes of Svix's operational webhook endpoints (`/api/v1/operational-webhook/endpoint`).

They are the endpoints of the organization's internal operational application; the one
configured by `HOOKPOST_OPERATIONAL_WEBHOOK_URL` (uid `operator`) is listed among them.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookpost.api.deps import Order, OrgId, Svc, page_args
from hookpost.api.http import HookpostRoute, json_response, no_content
from hookpost.api.wire import outputs
from hookpost.api.wire.inputs import EndpointBody, EndpointIn, HeadersIn, SecretRotateIn
from hookpost.core import ids

router = APIRouter(
    prefix="/api/v1/operational-webhook/endpoint",
    tags=["Webhook Endpoint"],
    route_class=HookpostRoute,
)


@router.get("")
async def list_operational_endpoints(
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    order: Order = "descending",
) -> Response:
    result = await svc.operational.list(
        org, descending=order == "descending", **page_args(limit, iterator, ids.ENDPOINT)
    )
    return json_response(outputs.page([outputs.endpoint(e) for e in result.items], result, "id"))


@router.post("", status_code=201)
async def create_operational_endpoint(body: EndpointIn, org: OrgId, svc: Svc) -> Response:
    endpoint = await svc.operational.create(org, body.fields(body.url, body.headers), body.secret)
    return json_response(outputs.endpoint(endpoint), 201)


@router.get("/{endpoint_id}")
async def get_operational_endpoint(endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    return json_response(outputs.endpoint(await svc.operational.get(org, endpoint_id)))


@router.put("/{endpoint_id}")
async def upsert_operational_endpoint(
    endpoint_id: str, body: EndpointBody, org: OrgId, svc: Svc
) -> Response:
    endpoint, created = await svc.operational.put(org, endpoint_id, body.fields(body.url))
    return json_response(outputs.endpoint(endpoint), 201 if created else 200)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_operational_endpoint(endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    await svc.operational.delete(org, endpoint_id)
    return no_content()


@router.get("/{endpoint_id}/secret")
async def get_operational_endpoint_secret(endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    endpoint = await svc.operational.get(org, endpoint_id)
    return json_response({"key": endpoint.current_secret})


@router.post("/{endpoint_id}/secret/rotate", status_code=204)
async def rotate_operational_endpoint_secret(
    endpoint_id: str, org: OrgId, svc: Svc, body: SecretRotateIn | None = None
) -> Response:
    body = body or SecretRotateIn()
    await svc.operational.rotate_secret(org, endpoint_id, body.key, body.grace_period_seconds)
    return no_content()


@router.get("/{endpoint_id}/headers")
async def get_operational_endpoint_headers(endpoint_id: str, org: OrgId, svc: Svc) -> Response:
    endpoint = await svc.operational.get(org, endpoint_id)
    return json_response(outputs.endpoint_headers(endpoint))


@router.put("/{endpoint_id}/headers", status_code=204)
async def set_operational_endpoint_headers(
    endpoint_id: str, body: HeadersIn, org: OrgId, svc: Svc
) -> Response:
    await svc.operational.set_headers(org, endpoint_id, body.headers)
    return no_content()
