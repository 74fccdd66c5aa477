"""The app-portal access API through the official svix SDK: magic links, tokens, logout,
expire-all, validation of `AppPortalAccessIn`, and where a portal token is (not) accepted.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import sqlalchemy as sa
from svix.api import (
    ApplicationIn,
    ApplicationTokenExpireIn,
    AppPortalAccessIn,
)
from svix.exceptions import HttpError, HTTPValidationError

from hookpost.store.schema import portal_tokens
from tests.support.live import Live, live_server, unique

live = live_server()


def new_app(live: Live) -> str:
    uid = unique("portal")
    live.sdk().application.create(ApplicationIn(name="Acme", uid=uid))
    return uid


def portal_client(live: Live) -> httpx.Client:
    client = httpx.Client(base_url=live.url, timeout=30, follow_redirects=False)
    live._clients.append(client)
    return client


def test_access_returns_a_link_and_a_token_stored_only_as_hashes(live: Live) -> None:
    uid = new_app(live)
    out = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn())
    link = urlparse(out.url)
    assert f"{link.scheme}://{link.netloc}" == live.url
    assert link.path == "/portal/login"
    code = parse_qs(link.query)["code"][0]
    assert out.token.startswith("hp_pt_")
    assert code.startswith("hp_pl_")
    assert out.token != code
    stored = live.query(sa.select(portal_tokens.c.token_hash, portal_tokens.c.link_hash))
    flat = {value for row in stored for value in row}
    assert out.token not in flat
    assert code not in flat
    assert len(flat) >= 2


def test_access_by_app_id_and_capabilities_are_kept(live: Live) -> None:
    uid = new_app(live)
    app = live.sdk().application.get(uid)
    live.sdk().authentication.app_portal_access(
        app.id, AppPortalAccessIn(capabilities=["ViewBase", "CreateAttempts"], session_id="s-1")
    )
    rows = live.query(
        sa.select(portal_tokens.c.capabilities, portal_tokens.c.session_id).where(
            portal_tokens.c.app_id == app.id
        )
    )
    assert rows == [('["CreateAttempts","ViewBase"]', "s-1")]


def test_read_only_grants_view_base_only(live: Live) -> None:
    uid = new_app(live)
    app = live.sdk().application.get(uid)
    live.sdk().authentication.app_portal_access(
        uid, AppPortalAccessIn(read_only=True, capabilities=["ManageEndpoint"])
    )
    rows = live.query(
        sa.select(portal_tokens.c.capabilities).where(portal_tokens.c.app_id == app.id)
    )
    assert rows == [('["ViewBase"]',)]


def test_inline_application_is_created(live: Live) -> None:
    uid = unique("inline")
    out = live.sdk().authentication.app_portal_access(
        uid, AppPortalAccessIn(application=ApplicationIn(name="Inline Co", uid=uid))
    )
    assert out.token
    assert live.sdk().application.get(uid).name == "Inline Co"


def test_unknown_application_without_inline_is_404(live: Live) -> None:
    with pytest.raises(HttpError) as caught:
        live.sdk().authentication.app_portal_access(unique("nope"), AppPortalAccessIn())
    assert caught.value.status_code == 404


@pytest.mark.parametrize("expiry", [3599, 604801, 0, -5])
def test_expiry_out_of_bounds_is_a_422_naming_it(live: Live, expiry: int) -> None:
    uid = new_app(live)
    with pytest.raises(HTTPValidationError) as caught:
        live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn(expiry=expiry))
    assert caught.value.detail[0].loc[-1] == "expiry"


def test_expiry_bounds_are_accepted(live: Live) -> None:
    uid = new_app(live)
    for expiry in (3600, 604800):
        assert live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn(expiry=expiry))


def test_unknown_capability_is_a_422(live: Live) -> None:
    uid = new_app(live)
    response = live.http().post(
        f"/api/v1/auth/app-portal-access/{uid}", json={"capabilities": ["RuleTheWorld"]}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "capabilities"]


def test_access_needs_an_operator_key(live: Live) -> None:
    uid = new_app(live)
    token = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn()).token
    for bearer, status in (("nope", 401), (token, 403)):
        response = live.http(bearer).post(f"/api/v1/auth/app-portal-access/{uid}", json={})
        assert response.status_code == status


def test_a_portal_token_is_no_operator_key(live: Live) -> None:
    uid = new_app(live)
    token = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn()).token
    with pytest.raises(HttpError) as caught:
        live.sdk(token).application.list()
    assert caught.value.status_code == 403


def test_logout_ends_the_token_and_its_sessions(live: Live) -> None:
    uid = new_app(live)
    out = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn())
    browser = portal_client(live)
    opened = browser.get(urlparse(out.url).path + "?" + urlparse(out.url).query)
    assert opened.status_code == 303
    assert browser.get("/portal/endpoints").status_code == 200
    live.sdk(out.token).authentication.logout()
    assert browser.get("/portal/endpoints").status_code == 401
    with pytest.raises(HttpError) as caught:
        live.sdk(out.token).authentication.logout()
    assert caught.value.status_code == 401


def test_logout_refuses_operator_keys_and_junk(live: Live) -> None:
    for bearer in (None, "junk", "hp_pt_" + "x" * 43):
        assert live.http(bearer).post("/api/v1/auth/logout").status_code == 401
    # The operator key is not a portal token: nothing to log out.
    assert live.http().post("/api/v1/auth/logout").status_code == 401


def test_expire_all_ends_every_link_of_the_app_and_only_that_app(live: Live) -> None:
    uid, other = new_app(live), new_app(live)
    first = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn())
    second = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn())
    kept = live.sdk().authentication.app_portal_access(other, AppPortalAccessIn())
    live.sdk().authentication.expire_all(uid, ApplicationTokenExpireIn())
    for out in (first, second):
        assert portal_client(live).get(_path(out.url)).status_code == 410
        assert live.http(out.token).post("/api/v1/auth/logout").status_code == 401
    assert portal_client(live).get(_path(kept.url)).status_code == 303


def test_expire_all_by_session_id_and_with_grace(live: Live) -> None:
    uid = new_app(live)
    mine = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn(session_id="a"))
    theirs = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn(session_id="b"))
    graced = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn(session_id="c"))
    live.sdk().authentication.expire_all(uid, ApplicationTokenExpireIn(session_ids=["a"]))
    live.sdk().authentication.expire_all(
        uid, ApplicationTokenExpireIn(session_ids=["c"], expiry=3600)
    )
    assert portal_client(live).get(_path(mine.url)).status_code == 410
    assert portal_client(live).get(_path(theirs.url)).status_code == 303
    # An hour of grace: still usable now.
    assert portal_client(live).get(_path(graced.url)).status_code == 303


def test_expire_all_of_an_unknown_app_is_404(live: Live) -> None:
    with pytest.raises(HttpError) as caught:
        live.sdk().authentication.expire_all(unique("none"), ApplicationTokenExpireIn())
    assert caught.value.status_code == 404


def _path(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"
