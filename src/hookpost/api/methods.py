"""HTTP methods beyond the routes' own: HEAD answers as GET without a body, OPTIONS lists what
a path allows (no key needed: the routes are public in the OpenAPI document anyway), and every
405 says the same in its `Allow` header (RFC 9110, 9.3.2 and 15.5.6). api/front.py applies
them to every request.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Message, Scope, Send

ROUTED = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route takes on this scope's path, HEAD and OPTIONS included; [] when
    no route has the path."""
    # Asked method by method: routers included in others only answer whether they match.
    # Mounted apps (the portal) take every method and answer for themselves.
    api_routes = [route for route in routes if not isinstance(route, Mount)]
    methods = {
        method
        for method in ROUTED
        if any(
            route.matches({**scope, "type": "http", "method": method})[0] is Match.FULL
            for route in api_routes
        )
    }
    if not methods:
        return []
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods | {"OPTIONS"})


def without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only


async def allow(send: Send, allowed: list[str]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [(b"allow", ", ".join(allowed).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b""})
