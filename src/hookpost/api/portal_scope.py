"""Portal tokens (`hp_pt_...`) as app-scoped API keys: which API routes they may call, on
which application, with which capability. Anything not listed here is refused.
"""

from __future__ import annotations

from fastapi import Request

from hookpost.core.errors import Forbidden, NotFound
from hookpost.core.portal import Capability
from hookpost.service.container import Services
from hookpost.service.portal import TOKEN_PREFIX

_APP = "/api/v1/app/{app_id}"
_EP = f"{_APP}/endpoint/{{endpoint_id}}"
_V, _S = Capability.VIEW_BASE, Capability.VIEW_ENDPOINT_SECRET
_MS, _CA, _ME = (
    Capability.MANAGE_ENDPOINT_SECRET,
    Capability.CREATE_ATTEMPTS,
    Capability.MANAGE_ENDPOINT,
)
# (method, route template) -> the capability it needs. Deliberately absent: publishing,
# changing or deleting the application, expunging content, and anything of other apps.
ALLOWED: dict[tuple[str, str], Capability] = {
    ("GET", "/api/v1/event-type"): _V,
    ("GET", "/api/v1/event-type/{event_type_name}"): _V,
    ("GET", _APP): _V,
    ("GET", f"{_APP}/endpoint"): _V,
    ("POST", f"{_APP}/endpoint"): _ME,
    ("GET", _EP): _V,
    ("PUT", _EP): _ME,
    ("PATCH", _EP): _ME,
    ("DELETE", _EP): _ME,
    ("GET", f"{_EP}/secret"): _S,
    ("POST", f"{_EP}/secret/rotate"): _MS,
    ("GET", f"{_EP}/headers"): _V,
    ("PUT", f"{_EP}/headers"): _ME,
    ("PATCH", f"{_EP}/headers"): _ME,
    ("GET", f"{_EP}/stats"): _V,
    ("POST", f"{_EP}/send-example"): _CA,
    ("POST", f"{_EP}/test"): _CA,
    ("POST", f"{_EP}/recover"): _CA,
    ("POST", f"{_EP}/replay-missing"): _CA,
    ("GET", f"{_EP}/msg"): _V,
    ("GET", f"{_APP}/msg"): _V,
    ("GET", f"{_APP}/msg/{{msg_id}}"): _V,
    ("GET", f"{_APP}/msg/{{msg_id}}/endpoint"): _V,
    ("POST", f"{_APP}/msg/{{msg_id}}/endpoint/{{endpoint_id}}/resend"): _CA,
    ("GET", f"{_APP}/msg/{{msg_id}}/attempt/{{attempt_id}}"): _V,
    ("GET", f"{_APP}/attempt/endpoint/{{endpoint_id}}"): _V,
    ("GET", f"{_APP}/attempt/msg/{{msg_id}}"): _V,
    ("GET", f"{_APP}/stream"): _V,  # the live stream of its own messages (hookpost's own)
}


def is_portal_token(authorization: str | None) -> bool:
    _, _, token = (authorization or "").partition(" ")
    return token.startswith(TOKEN_PREFIX)


async def authorize(request: Request, services: Services, authorization: str | None) -> str:
    """The organization of a live portal token allowed on this route and application."""
    grant = await services.portal.authenticate(authorization)
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    need = ALLOWED.get((request.method, str(template)))
    if need is None or not grant.allows(need):
        raise Forbidden(message_id="route_not_allowed")
    app_ref = request.path_params.get("app_id")
    if app_ref is not None:
        try:
            app = await services.applications.get(grant.org_id, str(app_ref))
        except NotFound:
            app = None
        if app is None or app.id != grant.app_id:
            raise Forbidden(message_id="route_not_allowed")
    return grant.org_id
