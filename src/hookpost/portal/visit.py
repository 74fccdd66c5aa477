"""One request to the portal: its session, language and form, checked before any page runs.

`page` wraps every handler: no session, a missing capability or a bad CSRF token never reach it.
"""

from __future__ import annotations

import gettext
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hookpost.core.errors import HookpostError, NotFound
from hookpost.core.models import EventType
from hookpost.core.portal import Capability, PortalSession
from hookpost.portal import i18n
from hookpost.service.container import Services
from hookpost.service.portal import csrf_matches, csrf_token

if TYPE_CHECKING:
    from hookpost.portal.app import PortalLook

PREFIX = "/portal"
SESSION_COOKIE = "hookpost_portal"
LANGUAGE_COOKIE = "hookpost_lang"
MAX_FORM_BYTES = 256 * 1024
CATALOG_LIMIT = 250


@dataclass
class Portal:
    """What every page shares: services, look, templates, catalogs, clock."""

    services: Services
    look: PortalLook
    env: Environment
    catalogs: dict[str, gettext.NullTranslations]
    clock: Callable[[], datetime]

    def speaker(self, request: Request) -> i18n.Speaker:
        language = i18n.choose_language(
            request.query_params.get("lang"),
            request.cookies.get(LANGUAGE_COOKIE),
            request.headers.get("accept-language"),
        )
        return i18n.Speaker(language, self.catalogs[language])

    def render(
        self,
        request: Request,
        speaker: i18n.Speaker,
        name: str,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        template = self.env.get_template(name)
        html = template.render(
            _=speaker.gettext,
            speaker=speaker,
            look=self.look,
            prefix=PREFIX,
            languages=i18n.LANGUAGE_NAMES,
            here=request.url.path,
            **context,
        )
        response = HTMLResponse(html, status)
        asked = request.query_params.get("lang")
        if asked in i18n.LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != asked:
            response.set_cookie(
                LANGUAGE_COOKIE,
                asked,
                max_age=365 * 86400,
                path=PREFIX,
                samesite="lax",
                secure=self.look.secure_cookies,
                httponly=True,
            )
        return response

    def problem(self, request: Request, speaker: i18n.Speaker, status: int, text: str) -> Response:
        return self.render(request, speaker, "problem.html", status, message=text, session=None)


class Form:
    """An application/x-www-form-urlencoded body."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


async def read_form(request: Request) -> Form:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return Form([])
    return Form(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class Visit:
    """A request by a customer with a live session, in one language."""

    request: Request
    portal: Portal
    session: PortalSession
    secret: str
    speaker: i18n.Speaker
    form: Form = field(default_factory=lambda: Form([]))

    @property
    def svc(self) -> Services:
        return self.portal.services

    @property
    def org(self) -> str:
        return self.session.grant.org_id

    @property
    def app(self) -> str:
        return self.session.grant.app_id

    async def catalog(self) -> list[EventType]:
        """The organization's event types this session may see."""
        return [
            e for e in await self._all_event_types() if self.session.grant.sees(e.feature_flags)
        ]

    async def hidden_event_types(self) -> set[str]:
        """Event types that exist but this session's feature flags do not show."""
        every = await self._all_event_types()
        return {e.name for e in every if not self.session.grant.sees(e.feature_flags)}

    async def _all_event_types(self) -> list[EventType]:
        found = await self.svc.catalog.list(
            self.org, limit=CATALOG_LIMIT, iterator=None, include_archived=False
        )
        return found.items

    def _(self, message: str) -> str:
        return self.speaker.gettext(message)

    def can(self, capability: str) -> bool:
        return self.session.grant.allows(Capability(capability))

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return self.portal.render(
            self.request,
            self.speaker,
            name,
            status,
            session=self.session,
            csrf=csrf_token(self.secret),
            can=self.can,
            **context,
        )

    def redirect(self, path: str, **query: str) -> Response:
        target = f"{PREFIX}{path}"
        if query:
            target += "?" + urlencode(query)
        return RedirectResponse(target, 303)


Handler = Callable[[Visit], Awaitable[Response]]


def page(need: Capability = Capability.VIEW_BASE) -> Callable[[Handler], Callable[..., Any]]:
    """Run `handler` only for a live session holding `need`, with a valid CSRF token on POST."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            portal: Portal = request.app.state.portal
            speaker = portal.speaker(request)
            _ = speaker.gettext
            secret = request.cookies.get(SESSION_COOKIE, "")
            session = await portal.services.portal.session(secret)
            if session is None:
                text = _("Your session has ended. Open a new link from your account to continue.")
                return portal.problem(request, speaker, 401, text)
            form = Form([])
            if request.method == "POST":
                form = await read_form(request)
                if not csrf_matches(secret, form.get("csrf")):
                    text = _("This form has expired. Go back, reload the page and try again.")
                    return portal.problem(request, speaker, 403, text)
            if not session.grant.allows(need):
                text = _("Your access does not allow this action.")
                return portal.problem(request, speaker, 403, text)
            visit = Visit(request, portal, session, secret, speaker, form)
            try:
                return await handler(visit)
            except NotFound:
                return portal.problem(request, speaker, 404, _("Not found."))
            except HookpostError as exc:  # said from its message id, not the API's English
                said = speaker.message(exc.message_id, exc.params, exc.detail)
                return portal.problem(request, speaker, 400, said)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap
