"""Health routes (no authentication): 204 when the database answers, 503 with JSON otherwise.

`/api/v1/health/ping` is a liveness check that touches nothing.
"""

from fastapi import APIRouter, Response

from hookpost.api.deps import Svc
from hookpost.api.http import json_response, no_content
from hookpost.core.errors import Unavailable

router = APIRouter(prefix="/api/v1/health", tags=["Health"])


@router.get("", status_code=204)
async def health(svc: Svc) -> Response:
    try:
        await svc.access.check_database()
    except Unavailable as exc:
        return json_response({"database": {"status": "error", "detail": exc.detail}}, 503)
    return no_content()


@router.get("/ping", status_code=204)  # HEAD too, as every GET (api/methods.py)
async def ping() -> Response:
    return no_content()
