"""Routes for customer-portal access (`/api/v1/auth`): magic links, logout, expire-all.

Logout authenticates with the portal token itself; the other two with an operator's key.
"""

from fastapi import APIRouter, Request, Response

from hookpost.api.deps import OrgId, Svc
from hookpost.api.http import HookpostRoute, json_response, no_content
from hookpost.api.wire.portal import ApplicationTokenExpireIn, AppPortalAccessIn

router = APIRouter(prefix="/api/v1/auth", tags=["Authentication"], route_class=HookpostRoute)
# Logout is called with the portal token, which is no operator key: no HookpostRoute check.
token_router = APIRouter(prefix="/api/v1/auth", tags=["Authentication"])


@router.post("/app-portal-access/{app_id}")
async def app_portal_access(app_id: str, body: AppPortalAccessIn, org: OrgId, svc: Svc) -> Response:
    url, token = await svc.portal.grant(
        org,
        app_id,
        application=None if body.application is None else body.application.fields(),
        expiry=body.expiry,
        read_only=bool(body.read_only),
        capabilities=None if body.capabilities is None else tuple(body.capabilities),
        feature_flags=tuple(body.feature_flags or ()),
        session_id=body.session_id,
    )
    return json_response({"url": url, "token": token})


@router.post("/app/{app_id}/expire-all", status_code=204)
async def expire_all(app_id: str, body: ApplicationTokenExpireIn, org: OrgId, svc: Svc) -> Response:
    session_ids = None if body.session_ids is None else tuple(body.session_ids)
    await svc.portal.expire_all(org, app_id, body.expiry or 0, session_ids)
    return no_content()


@token_router.post("/logout", status_code=204)
async def logout(request: Request, svc: Svc) -> Response:
    await svc.portal.logout(request.headers.get("authorization"))
    return no_content()
