"""Svix routes hookpost deliberately leaves out: a JSON 501 rather than a confusing 404 or 405.

See svix-api.md section 12.3 for why each family is out of scope.
"""

from fastapi import APIRouter, Response

from hookpost.api.http import json_response

UNSUPPORTED = (
    "/api/v1/auth/{rest:path}",
    "/api/v1/stream",
    "/api/v1/stream/{rest:path}",
    "/api/v1/background-task",
    "/api/v1/background-task/{rest:path}",
    "/api/v1/connector",
    "/api/v1/connector/{rest:path}",
    "/api/v1/environment/{rest:path}",
    "/api/v1/operational-webhook/{rest:path}",
    "/api/v1/stats/{rest:path}",
    "/api/v1/app/{app_id}/autoconfig",
    "/api/v1/app/{app_id}/autoconfig/{rest:path}",
    "/api/v1/app/{app_id}/destination",
    "/api/v1/app/{app_id}/destination/{rest:path}",
    "/api/v1/app/{app_id}/integration",
    "/api/v1/app/{app_id}/integration/{rest:path}",
    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation",
    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/attempt-stats",
    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay",
    "/api/v1/app/{app_id}/msg/bulk-expunge",
    "/api/v1/app/{app_id}/msg/expunge-all-contents",
    "/api/v1/app/{app_id}/msg/precheck/active",
    # Svix Ingest (receiving webhooks from third parties) is another product.
    "/ingest/api/v1/{rest:path}",
)

router = APIRouter(include_in_schema=False)


async def not_implemented() -> Response:
    return json_response(
        {"code": "not_implemented", "detail": "This API endpoint is not yet implemented."}, 501
    )


for path in UNSUPPORTED:
    router.add_api_route(path, not_implemented, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
