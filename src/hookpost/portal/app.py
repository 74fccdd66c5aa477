"""Assembles the portal: its look (branding, framing), templates, catalogs, security headers,
and mounts it under /portal in the process's ASGI app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookpost.portal import i18n, pages_endpoints, pages_messages, pages_session
from hookpost.portal.visit import PREFIX, Portal
from hookpost.service.container import Services

HERE = Path(__file__).parent
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class PortalLook:
    """Branding and embedding; the runtime builds it from settings."""

    brand_name: str = "hookpost"
    logo_url: str | None = None
    accent_color: str = "#2456d6"
    frame_ancestors: tuple[str, ...] = ()
    secure_cookies: bool = False

    def security_headers(self) -> list[tuple[bytes, bytes]]:
        ancestors = " ".join(self.frame_ancestors) or "'none'"
        img = "'self' https:" if self.logo_url else "'self'"
        policy = (
            f"default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; "
            f"form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
        )
        headers = [
            (b"content-security-policy", policy.encode()),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
        ]
        if not self.frame_ancestors:
            headers.append((b"x-frame-options", b"DENY"))
        return headers


class SecurityHeaders:
    """Adds the portal's CSP and friends to every answer it gives."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _static(look: PortalLook) -> dict[str, tuple[bytes, str]]:
    files = {
        p.name: (p.read_bytes(), STATIC_TYPES[p.suffix])
        for p in (HERE / "static").iterdir()
        if p.suffix in STATIC_TYPES
    }
    # The accent colour is a validated #rrggbb, served as a stylesheet so no inline style is
    # needed and the CSP can stay strict.
    brand = f":root {{ --accent: {look.accent_color}; }}\n".encode()
    files["brand.css"] = (brand, STATIC_TYPES[".css"])
    return files


def build_portal(services: Services, look: PortalLook, clock: Callable[[], datetime]) -> Starlette:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    static = _static(look)

    async def serve_static(request: Request) -> Response:
        found = static.get(request.path_params["name"])
        if found is None:
            return Response("not found", 404, media_type="text/plain")
        return Response(found[0], media_type=found[1])

    routes = [
        Route("/static/{name}", serve_static),
        *pages_session.routes,
        *pages_endpoints.routes,
        *pages_messages.routes,
    ]
    app = Starlette(routes=routes)
    app.state.portal = Portal(services, look, env, i18n.load_catalogs(), clock)
    return app


def install_portal(
    api: FastAPI, services: Services, look: PortalLook, clock: Callable[[], datetime]
) -> None:
    """Mount the portal at /portal (its home at /portal/endpoints)."""
    portal = SecurityHeaders(build_portal(services, look, clock), look.security_headers())

    async def home(_request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/endpoints", 303)

    api.router.routes.append(Route(PREFIX, home))
    api.router.routes.append(Mount(PREFIX, app=portal))
