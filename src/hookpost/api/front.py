"""The outermost middleware of the API, one layer for what every request needs around it:
the path's optional trailing slash, HEAD and OPTIONS (api/methods.py), the request timer of
the metrics and the access log line.

These were four ASGI layers, each wrapping `send` and costing a coroutine per request; the
publish path runs through all of them, so they are one (issue 14: CPU per publish).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookpost.api.access_log import AccessLog
from hookpost.api.methods import allow, allowed_methods, without_body
from hookpost.api.metrics import RequestObserver, route_template

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class FrontDoor:
    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[BaseRoute],
        observer: RequestObserver | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.observer = observer
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            # Accept an optional trailing slash without redirecting (the SDKs cannot follow
            # 3xx); in place, so what routing leaves in the scope names the route.
            scope["path"] = path.rstrip("/") or "/"
            scope["raw_path"] = scope["path"].encode()
        method: str = scope["method"]
        # HEAD runs the GET route; routing writes the route into this copy of the scope.
        routed = {**scope, "method": "GET"} if method == "HEAD" else scope
        log = self.access_log if self.access_log is not None and self.access_log.enabled() else None
        if self.observer is None and log is None:
            await self._answer(method, routed, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._answer(method, routed, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            status = status or 500  # no answer started: the server failed it
            if self.observer is not None:
                label = method if method in _METHODS else "other"
                self.observer.request_finished(label, route_template(routed), status, seconds)
            if log is not None:
                log.write(method, routed, status, seconds)

    async def _answer(self, method: str, scope: Scope, receive: Receive, send: Send) -> None:
        if method == "HEAD":
            await self.app(scope, receive, without_body(send))
            return
        if method == "OPTIONS":
            allowed = allowed_methods(self.routes, scope)
            if allowed:
                await allow(send, allowed)
                return
        await self.app(scope, receive, send)
