"""`/metrics` for Prometheus, behind its own optional token, and the timer of API requests by
route template (never by raw path, so the number of series stays bounded).

The metrics themselves are hookpost/metrics.py's; this edge only times and serves them.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from fastapi import FastAPI, Request, Response
from starlette.routing import Mount
from starlette.types import Scope

from hookpost.api import errors
from hookpost.core.errors import AuthenticationFailed

PATH = "/metrics"
UNMATCHED = "unmatched"  # no route: 404s of any path count as one series
# The fast path answers publishes before routing; it names its route here.
ROUTE_KEY = "hookpost.route"


class RequestObserver(Protocol):
    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None: ...


class Exposition(Protocol):
    async def exposition(self) -> bytes: ...


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request, e.g. `/api/v1/app/{app_id}/msg`."""
    named = scope.get(ROUTE_KEY)
    if isinstance(named, str):
        return named
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    # Under a mount (the portal), root_path is the mount's path, and a route's path is
    # relative to it; a mount with no route matched inside it is only its prefix.
    root = str(scope.get("root_path", ""))
    if isinstance(route, Mount):
        return f"{root}/{{path}}"
    return root + path


class MetricsRoute:
    """GET /metrics: the exposition, or 401 when a token is configured and not presented."""

    def __init__(self, exposition: Exposition, token: str | None, content_type: str) -> None:
        self.exposition = exposition
        self.content_type = content_type
        self._expected = None if token is None else _digest(token)

    async def __call__(self, request: Request) -> Response:
        if self._expected is not None:
            presented = _bearer(request.headers.get("authorization"))
            # Compared as digests, in constant time: neither the token nor its length leaks.
            if presented is None or not hmac.compare_digest(_digest(presented), self._expected):
                raise AuthenticationFailed(message_id="metrics_token_required")
        return Response(await self.exposition.exposition(), media_type=self.content_type)

    def install(self, app: FastAPI) -> None:
        app.add_api_route(PATH, self, methods=["GET"], include_in_schema=False)


def metrics_only_app(route: MetricsRoute) -> FastAPI:
    """A server with nothing but /metrics (a worker's, or any process's on its own port)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    errors.install(app)
    route.install(app)
    return app


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
