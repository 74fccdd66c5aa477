"""Portal rules over plain HTTP against a real server: single-use links, session expiry,
capabilities, CSRF, escaping, security headers, and one application never reaching another.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from svix.api import AppPortalAccessIn, MessageIn

from hookpost.store.schema import portal_tokens
from tests.conftest import sqlite_url
from tests.support.live import Live, live_server, unique
from tests.support.portal import add_endpoint, link_path, new_app, visit
from tests.support.server import ServerProcess

live = live_server()


def fresh_client(live: Live, **headers: str) -> httpx.Client:
    client = httpx.Client(base_url=live.url, timeout=30, headers=headers)
    live._clients.append(client)
    return client


def test_a_link_opens_once_into_a_strict_cookie(live: Live) -> None:
    uid = new_app(live)
    out = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn(expiry=3600))
    first = fresh_client(live).get(link_path(out.url))
    assert first.status_code == 303
    assert first.headers["location"] == "/portal/endpoints"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/portal" in cookie
    assert "Secure" not in cookie  # the public URL is http:// here
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 3500 < max_age <= 3600
    again = fresh_client(live).get(link_path(out.url))
    assert again.status_code == 410
    assert "already used or has expired" in again.text
    spanish = fresh_client(live, **{"accept-language": "es-MX,es;q=0.9"}).get(link_path(out.url))
    assert spanish.status_code == 410
    assert "ya se usó o ha caducado" in spanish.text


def test_junk_links_are_refused(live: Live) -> None:
    for code in ("", "nope", "hp_pl_" + "x" * 43, "hp_pl_" + "x" * 600):
        assert fresh_client(live).get(f"/portal/login?code={code}").status_code == 410


def test_links_and_sessions_end_when_their_token_expires(live: Live) -> None:
    uid = new_app(live)
    visitor = visit(live, uid)
    assert visitor.get("/endpoints").status_code == 200
    unopened = live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn())

    async def expire(store: object) -> None:
        async with store.database.write() as conn:  # type: ignore[attr-defined]
            await conn.execute(
                portal_tokens.update()
                .where(portal_tokens.c.app_id == live.sdk().application.get(uid).id)
                .values(expires_at=1)
            )

    live.run(expire)
    ended = visitor.get("/endpoints")
    assert ended.status_code == 401
    assert "session has ended" in ended.text
    # A link whose grant has expired never opens.
    assert fresh_client(live).get(link_path(unopened.url)).status_code == 410


def test_signing_out_ends_the_session(live: Live) -> None:
    visitor = visit(live, new_app(live))
    assert visitor.post("/logout", {}).status_code == 200
    assert visitor.get("/endpoints").status_code == 401


def test_no_cookie_no_page(live: Live) -> None:
    for path in ("/endpoints", "/messages", "/catalog", "/endpoints/new"):
        assert fresh_client(live).get(f"/portal{path}").status_code == 401
    junk = fresh_client(live)
    junk.cookies.set("hookpost_portal", "hp_ps_" + "x" * 43, path="/portal")
    assert junk.get("/portal/endpoints").status_code == 401


def test_security_headers(live: Live) -> None:
    visitor = visit(live, new_app(live))
    response = visitor.get("/endpoints")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in response.text  # no inline (or any) scripts at all


def test_csrf_is_required_on_every_post(live: Live) -> None:
    uid = new_app(live)
    visitor = visit(live, uid)
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/hook")
    posts = [
        ("/endpoints", {"url": "http://127.0.0.1:9/new"}),
        (f"/endpoints/{endpoint}", {"url": "http://127.0.0.1:9/changed"}),
        (f"/endpoints/{endpoint}/toggle", {"disabled": "true"}),
        (f"/endpoints/{endpoint}/delete", {}),
        (f"/endpoints/{endpoint}/secret/rotate", {}),
        (f"/endpoints/{endpoint}/test", {}),
        ("/logout", {}),
    ]
    secret_before = live.sdk().endpoint.get_secret(uid, endpoint).key
    for path, data in posts:
        for token in ("", "0" * 64):
            refused = visitor.post(path, data, csrf=token)
            assert refused.status_code == 403, path
            assert "form has expired" in refused.text
    after = live.sdk().endpoint.get(uid, endpoint)
    assert after.url == "http://127.0.0.1:9/hook"
    assert not after.disabled
    assert live.sdk().endpoint.get_secret(uid, endpoint).key == secret_before
    assert len(live.sdk().endpoint.list(uid).data) == 1
    assert visitor.get("/endpoints").status_code == 200  # still signed in


def test_another_session_token_is_no_csrf_token(live: Live) -> None:
    uid = new_app(live)
    mine, theirs = visit(live, uid), visit(live, uid)
    refused = mine.post("/endpoints", {"url": "http://127.0.0.1:9/x"}, csrf=theirs.csrf())
    assert refused.status_code == 403


def test_payloads_and_fields_render_inert(live: Live) -> None:
    uid = new_app(live)
    evil = "<script>alert(1)</script>"
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/x", description=evil)
    message = live.sdk().message.create(
        uid, MessageIn(event_type="evil.type", payload={"note": evil})
    )
    visitor = visit(live, uid)
    for path in ("/endpoints", f"/endpoints/{endpoint}", f"/messages/{message.id}", "/messages"):
        page = visitor.get(path)
        assert page.status_code == 200, path
        assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in visitor.get(f"/messages/{message.id}").text


def test_one_application_never_reaches_another(live: Live) -> None:
    mine, theirs = new_app(live), new_app(live)
    their_endpoint = add_endpoint(live, theirs, "http://127.0.0.1:9/theirs")
    their_message = live.sdk().message.create(
        theirs, MessageIn(event_type="x.y", payload={"secret": "theirs"})
    )
    visitor = visit(live, mine)
    for path in (
        f"/endpoints/{their_endpoint}",
        f"/endpoints/{their_endpoint}/edit",
        f"/endpoints/{their_endpoint}/secret",
        f"/messages/{their_message.id}",
    ):
        assert visitor.get(path).status_code == 404, path
    for path, data in (
        (f"/endpoints/{their_endpoint}", {"url": "http://127.0.0.1:9/mine"}),
        (f"/endpoints/{their_endpoint}/toggle", {"disabled": "true"}),
        (f"/endpoints/{their_endpoint}/delete", {}),
        (f"/endpoints/{their_endpoint}/secret/rotate", {}),
        (f"/messages/{their_message.id}/resend", {"endpoint": their_endpoint}),
    ):
        assert visitor.post(path, data).status_code == 404, path
    assert "theirs" not in visitor.get(f"/messages?search={their_message.id}").text
    still = live.sdk().endpoint.get(theirs, their_endpoint)
    assert still.url == "http://127.0.0.1:9/theirs"
    assert not still.disabled
    # The cookie and the portal token open no operator route.
    assert visitor.http.get("/api/v1/app").status_code == 401
    assert visitor.http.get(f"/api/v1/app/{mine}/endpoint").status_code == 401
    bearer = {"authorization": f"Bearer {visitor.token}"}
    assert visitor.http.get(f"/api/v1/app/{theirs}/endpoint", headers=bearer).status_code == 403
    assert visitor.http.get("/api/v1/app", headers=bearer).status_code == 403


def test_read_only_sees_but_changes_nothing(live: Live) -> None:
    uid = new_app(live)
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/ro")
    visitor = visit(live, uid, read_only=True)
    listing = visitor.get("/endpoints")
    assert listing.status_code == 200
    assert "http://127.0.0.1:9/ro" in listing.text
    assert "/endpoints/new" not in listing.text
    detail = visitor.get(f"/endpoints/{endpoint}").text
    assert "/secret" not in detail
    assert "/test" not in detail
    assert visitor.get(f"/endpoints/{endpoint}/secret").status_code == 403
    assert visitor.get("/endpoints/new").status_code == 403
    assert visitor.post("/endpoints", {"url": "http://127.0.0.1:9/n"}).status_code == 403
    assert visitor.post(f"/endpoints/{endpoint}/toggle", {"disabled": "true"}).status_code == 403
    assert not live.sdk().endpoint.get(uid, endpoint).disabled


# What each capability alone (plus ViewBase) allows: (secret, rotate, test, create).
MATRIX = {
    "ViewEndpointSecret": (True, False, False, False),
    "ManageEndpointSecret": (True, True, False, False),
    "CreateAttempts": (False, False, True, False),
    "ManageEndpoint": (True, True, False, True),
    "ViewBase": (False, False, False, False),
}


@pytest.mark.parametrize("capability", sorted(MATRIX))
def test_each_capability_allows_exactly_its_actions(live: Live, capability: str) -> None:
    uid = new_app(live)
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/cap")
    visitor = visit(live, uid, capabilities=[capability])
    secret, rotate, test, create = MATRIX[capability]
    shown = visitor.get(f"/endpoints/{endpoint}/secret")
    assert (shown.status_code == 200) is secret
    before = live.sdk().endpoint.get_secret(uid, endpoint).key
    rotated = visitor.post(f"/endpoints/{endpoint}/secret/rotate", {})
    assert (rotated.status_code == 303) is rotate
    assert (live.sdk().endpoint.get_secret(uid, endpoint).key != before) is rotate
    tested = visitor.post(f"/endpoints/{endpoint}/test", {})
    assert (tested.status_code == 200) is test
    created = visitor.post("/endpoints", {"url": "http://127.0.0.1:9/made"})
    assert (created.status_code == 303) is create
    assert len(live.sdk().endpoint.list(uid).data) == (2 if create else 1)


def test_no_capabilities_listed_means_all(live: Live) -> None:
    uid = new_app(live)
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/all")
    visitor = visit(live, uid)
    assert visitor.get(f"/endpoints/{endpoint}/secret").status_code == 200
    assert visitor.post(f"/endpoints/{endpoint}/secret/rotate", {}).status_code == 303
    assert visitor.post(f"/endpoints/{endpoint}/test", {}).status_code == 200
    assert visitor.post("/endpoints", {"url": "http://127.0.0.1:9/made"}).status_code == 303


def test_a_refused_url_is_explained_in_words(live: Live) -> None:
    visitor = visit(live, new_app(live))
    for url, words in (
        ("ftp://example.com/x", "only http and https"),
        ("http://10.1.2.3/hook", "destination not allowed"),
        ("", "Enter the URL"),
    ):
        page = visitor.post("/endpoints", {"url": url})
        assert page.status_code == 422, url
        assert words in page.text, page.text
    page = visitor.post("/endpoints", {"url": "http://127.0.0.1:9/x", "rate_limit": "fast"})
    assert "whole number" in page.text
    page = visitor.post("/endpoints", {"url": "http://127.0.0.1:9/x", "headers": "no colon"})
    assert "Name: value" in page.text
    unique_type = unique("missing.type")
    page = visitor.post("/endpoints", {"url": "http://127.0.0.1:9/x", "event_types": unique_type})
    assert "don&#39;t exist" in page.text or "don't exist" in page.text


def test_behind_https_the_cookie_is_secure_and_framing_follows_the_setting(
    tmp_path: Path,
) -> None:
    env = {
        "HOOKPOST_PUBLIC_URL": "https://hooks.example.test",
        "HOOKPOST_PORTAL_FRAME_ANCESTORS": "https://dashboard.example.test",
    }
    server = ServerProcess(sqlite_url(tmp_path), tmp_path / "server.log", env=env).start()
    try:
        running = Live("sqlite", server.database_url, server)
        uid = new_app(running)
        out = running.sdk().authentication.app_portal_access(uid, AppPortalAccessIn())
        assert out.url.startswith("https://hooks.example.test/portal/login?code=hp_pl_")
        opened = fresh_client(running).get(link_path(out.url))
        assert opened.status_code == 303
        assert "Secure" in opened.headers["set-cookie"]
        policy = opened.headers["content-security-policy"]
        assert "frame-ancestors https://dashboard.example.test" in policy
        assert "x-frame-options" not in opened.headers
        running.close()
    finally:
        server.stop()
