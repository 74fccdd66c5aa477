"""Finding the objects a request names, with the 404s every edge gives when they are missing.

Scoping every lookup by organization and application is what keeps tenants apart.
"""

from __future__ import annotations

from hookpost.core.errors import NotFound
from hookpost.core.models import Application, Endpoint, Message
from hookpost.core.names import is_name
from hookpost.store.ports import Lookups


async def require_app(store: Lookups, org_id: str, ref: str) -> Application:
    app = await store.get_application(org_id, ref) if is_name(ref) else None
    if app is None:
        raise NotFound(entity="application")
    return app


async def require_endpoint(store: Lookups, org_id: str, app_ref: str, ref: str) -> Endpoint:
    app = await require_app(store, org_id, app_ref)
    endpoint = await store.get_endpoint(org_id, app.id, ref) if is_name(ref) else None
    if endpoint is None:
        raise NotFound(entity="endpoint")
    return endpoint


async def require_message(store: Lookups, org_id: str, app_ref: str, ref: str) -> Message:
    app = await require_app(store, org_id, app_ref)
    message = await store.get_message(org_id, app.id, ref) if is_name(ref) else None
    if message is None:
        raise NotFound(entity="message")
    return message
