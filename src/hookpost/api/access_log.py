"""One log line per API request: method, route template, status and duration.

The route template (`/api/v1/app/{app_id}/msg`), never the path itself, so no id, query
string, header or body ever reaches the log.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookpost.api import metrics
from hookpost.api.metrics import route_template

log = logging.getLogger("hookpost.api")
UNMATCHED = "(unmatched)"


class AccessLog:
    """`templates` lists the API's route templates (its OpenAPI paths), read the first time a
    request is answered before routing (a limit, an idempotent replay)."""

    def __init__(self, app: ASGIApp, templates: Callable[[], list[str]]) -> None:
        self.app = app
        self._templates = templates
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

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
        """The template of the route that answered, as the request metrics name it (routing,
        or the publish fast path, leave it in the scope); else the first template that fits
        (a request answered before routing: a limit, an idempotent replay)."""
        named = route_template(scope)
        if named != metrics.UNMATCHED:
            return named
        path = scope.get("path", "")
        if self._patterns is None:
            self._patterns = [(compile_path(t)[0], t) for t in self._templates()]
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return UNMATCHED
