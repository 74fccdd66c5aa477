"""One log line per API request: method, route template, status and duration.

The route template (`/api/v1/app/{app_id}/msg`), never the path itself, so no id, query
string, header or body ever reaches the log.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.routing import Match, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("hookpost.api")

# The publish fast path (api/fast_publish.py) answers without routing.
_PUBLISH = re.compile(r"^/api/v1/app/[^/]+/msg$")
_PUBLISH_TEMPLATE = "/api/v1/app/{app_id}/msg"
UNMATCHED = "(unmatched)"


class AccessLog:
    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            log.info(
                "request",
                extra={
                    "fields": {
                        "event": "http.request",
                        "method": scope["method"],
                        "path": self.template(scope),
                        "status": status or 500,  # no answer started: the server failed it
                        "duration_ms": round(duration_ms, 2),
                    }
                },
            )

    def template(self, scope: Scope) -> str:
        """The template of the route that answered: the router leaves it in the scope; a
        request answered before routing (the publish fast path, a limit) is matched here."""
        route = scope.get("route")
        if route is not None and hasattr(route, "path"):
            # Inside a mount (the portal) the route is the mount's own, under its root path.
            return f"{scope.get('root_path', '')}{route.path}"
        path = scope.get("path", "")
        if _PUBLISH.match(path):
            return _PUBLISH_TEMPLATE
        for candidate in self.router.routes:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                suffix = "/{path}" if isinstance(candidate, Mount) else ""
                return f"{getattr(candidate, 'path', '')}{suffix}"
        return UNMATCHED
