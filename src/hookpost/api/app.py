"""The FastAPI application: routes, the error table and the middleware stack, assembled.

`build_api` takes ready services, so tests and the runtime build it the same way.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from hookpost import __version__
from hookpost.api import errors, openapi
from hookpost.api.access_log import AccessLog, route_templates
from hookpost.api.docs import install_docs
from hookpost.api.event_stream import StreamLimits
from hookpost.api.fast_publish import FastPublish
from hookpost.api.front import FrontDoor
from hookpost.api.metrics import RequestObserver
from hookpost.api.middleware import BodyLimitMiddleware, IdempotencyMiddleware
from hookpost.api.routes import (
    applications,
    attempts,
    background_tasks,
    catalog_import,
    endpoints,
    event_types,
    health,
    messages,
    operational_webhooks,
    poller,
    portal_access,
    stream,
    unsupported,
)
from hookpost.service.container import Services

# Room for the JSON around a payload of the maximum size.
ENVELOPE_BYTES = 64 * 1024


def build_api(
    services: Services,
    *,
    max_payload_bytes: int,
    idempotency_ttl: float,
    stream_limits: StreamLimits | None = None,
    requests: RequestObserver | None = None,
) -> FastAPI:
    api = FastAPI(
        title="hookpost",
        version=__version__,
        description="Self-hosted webhook delivery, wire-compatible with the core of the Svix API.",
        redirect_slashes=False,
        docs_url=None,  # served from the package's own assets, not a CDN: see api.docs
        redoc_url=None,
    )
    api.state.services = services
    api.state.stream_limits = stream_limits or StreamLimits()
    errors.install(api)
    install_docs(api, title="hookpost")
    openapi.install(api)
    for module in (
        background_tasks,  # before endpoints and messages: `msg/precheck/active` is no msg id
        operational_webhooks,
        health,
        applications,
        catalog_import,
        event_types,
        endpoints,
        messages,
        attempts,
        poller,
        stream,
    ):
        api.include_router(module.router)
    api.include_router(portal_access.router)
    api.include_router(portal_access.token_router)
    # Last: a full match there still beats a method-only match on a path-parameter route,
    # and the routes in real use are found without scanning these.
    api.include_router(unsupported.router)
    api.add_middleware(FastPublish, services=services)
    api.add_middleware(
        IdempotencyMiddleware,
        access=services.access,
        keep_for=timedelta(seconds=idempotency_ttl),
    )
    api.add_middleware(
        BodyLimitMiddleware, max_bytes=max_payload_bytes + ENVELOPE_BYTES, access=services.access
    )
    # Outermost, so it sees every answer and its whole time (the routes added after this,
    # such as the portal's, too).
    api.add_middleware(
        FrontDoor,
        routes=api.router.routes,
        observer=requests,
        access_log=AccessLog(lambda: route_templates(api)),
    )
    return api
