"""A customer's plain-HTTP visit to the portal: open a magic link, keep the cookie, post forms
with the page's CSRF token. Browser tests use Playwright instead; this is for the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
from svix.api import ApplicationIn, AppPortalAccessIn, EndpointIn, EventTypeIn

from tests.support.live import Live, unique

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def link_path(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


@dataclass
class Visitor:
    http: httpx.Client
    app_uid: str
    token: str

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/portal{path}", **kwargs)

    def csrf(self, page: str = "/endpoints") -> str:
        found = _CSRF.search(self.get(page).text)
        assert found, "no CSRF token on the page"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any], *, csrf: str | None = None) -> httpx.Response:
        form = {"csrf": self.csrf() if csrf is None else csrf, **data}
        return self.http.post(f"/portal{path}", data=form)


def new_app(live: Live, *, event_types: tuple[str, ...] = ()) -> str:
    uid = unique("cust")
    live.sdk().application.create(ApplicationIn(name=f"Customer {uid}", uid=uid))
    for name in event_types:
        live.sdk().event_type.create(
            EventTypeIn(name=name, description=f"{name} happened", schemas=None)
        )
    return uid


def add_endpoint(live: Live, app_uid: str, url: str, **fields: Any) -> str:
    return live.sdk().endpoint.create(app_uid, EndpointIn(url=url, **fields)).id


def visit(live: Live, app_uid: str, **access: Any) -> Visitor:
    """A logged-in visitor of `app_uid` with the given access options."""
    out = live.sdk().authentication.app_portal_access(app_uid, AppPortalAccessIn(**access))
    client = httpx.Client(base_url=live.url, timeout=30, follow_redirects=False)
    live._clients.append(client)
    opened = client.get(link_path(out.url))
    assert opened.status_code == 303, opened.text
    return Visitor(client, app_uid, out.token)
