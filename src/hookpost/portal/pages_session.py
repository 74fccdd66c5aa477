"""Opening the portal from a magic link, signing out, and the event catalog page.

The link is spent on first use; the cookie it becomes is HttpOnly, SameSite=Lax, path /portal.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hookpost.portal.visit import PREFIX, SESSION_COOKIE, Portal, Visit, page


async def login(request: Request) -> Response:
    portal: Portal = request.app.state.portal
    speaker = portal.speaker(request)
    opened = await portal.services.portal.open_link(request.query_params.get("code", ""))
    if opened is None:
        text = speaker.gettext(
            "This link was already used or has expired. Ask for a new link from your account."
        )
        return portal.problem(request, speaker, 410, text)
    secret, session = opened
    response = RedirectResponse(f"{PREFIX}/endpoints", 303)
    seconds = int((session.expires_at - portal.clock()).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max(seconds, 0),
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=portal.look.secure_cookies,
    )
    return response


@page()
async def logout(visit: Visit) -> Response:
    await visit.svc.portal.end_session(visit.secret)
    response = visit.portal.problem(
        visit.request, visit.speaker, 200, visit._("You have signed out.")
    )
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@page()
async def catalog(visit: Visit) -> Response:
    groups: dict[str, list[dict[str, object]]] = {}
    for event_type in await visit.catalog():
        schema = (event_type.schemas or {}).get("1")
        examples = schema.get("examples") if isinstance(schema, dict) else None
        example = examples[0] if isinstance(examples, list) and examples else None
        groups.setdefault(event_type.group_name or "", []).append(
            {
                "name": event_type.name,
                "description": event_type.description,
                "deprecated": event_type.deprecated,
                "example": None
                if example is None
                else json.dumps(example, indent=2, ensure_ascii=False),
            }
        )
    return visit.render("catalog.html", groups=sorted(groups.items()))


routes = [
    Route("/login", login, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/catalog", catalog, methods=["GET"]),
]
