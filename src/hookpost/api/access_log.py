"""One log line per API request: method, route template, status and duration.

The route template (`/api/v1/app/{app_id}/msg`), never the path itself, so no id, query
string, header or body ever reaches the log. `api/front.py` times the request and calls
`AccessLog.write` when it is answered.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable

from fastapi import FastAPI
from starlette.routing import compile_path
from starlette.types import Scope

from hookpost.api import metrics
from hookpost.api.metrics import route_template

log = logging.getLogger("hookpost.api")
UNMATCHED = "(unmatched)"


class AccessLog:
    """`templates` lists the API's route templates (its OpenAPI paths), read the first time a
    request is answered before routing (a limit, an idempotent replay)."""

    def __init__(self, templates: Callable[[], list[str]]) -> None:
        self._templates = templates
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    @staticmethod
    def enabled() -> bool:
        return log.isEnabledFor(logging.INFO)

    def write(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        log.info(
            "request",
            extra={
                "fields": {
                    "event": "http.request",
                    "method": method,
                    "path": self.template(scope),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
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


def route_templates(api: FastAPI) -> list[str]:
    """The API's route templates, from its OpenAPI document (built once, then cached)."""
    with warnings.catch_warnings():  # FastAPI's note on ping's GET and HEAD sharing an id
        warnings.simplefilter("ignore")
        return list(api.openapi()["paths"])
