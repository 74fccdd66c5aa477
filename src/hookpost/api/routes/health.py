"""Health routes (no authentication), answered in fixed words; the reasons go to the log.

- `/api/v1/health`: Svix's health check, 204 when the database answers, 503 otherwise.
- `/api/v1/health/ping` (and `/live`): liveness; touches nothing, so a slow or lost database
  never gets a process restarted.
- `/api/v1/health/ready`: readiness; 204 when the database answers and its schema has every
  migration of this version, 503 with a fixed `reason` otherwise.
"""

from fastapi import APIRouter, Response

from hookpost.api.deps import Svc
from hookpost.api.errors import render
from hookpost.api.http import json_response, no_content
from hookpost.core.errors import Unavailable

router = APIRouter(prefix="/api/v1/health", tags=["Health"])

NOT_READY = {
    "database_unavailable": "The database is unavailable; retry shortly",
    "schema_behind": "The database schema is older than this version; run `hookpost migrate`",
}


@router.get("", status_code=204)
async def health(svc: Svc) -> Response:
    if await svc.health.database_answers():
        return no_content()
    rendered = render(Unavailable("database unavailable", message_id="database_unavailable"))
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in rendered.headers}
    return Response(rendered.body, rendered.status, headers, media_type="application/json")


@router.get("/ping", status_code=204)  # HEAD too, as every GET (api/methods.py)
async def ping() -> Response:
    return no_content()


@router.get("/live", status_code=204)  # HEAD too, as every GET (api/methods.py)
async def live() -> Response:
    return no_content()


@router.get("/ready", status_code=204)  # HEAD too, as every GET
async def ready(svc: Svc) -> Response:
    readiness = await svc.health.readiness()
    if readiness.reason is None:
        return no_content()
    body = {"code": "not_ready", "reason": readiness.reason, "detail": NOT_READY[readiness.reason]}
    answer = json_response(body, 503)
    answer.headers["retry-after"] = "5"
    return answer
