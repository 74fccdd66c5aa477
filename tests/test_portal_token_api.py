"""A portal token as an app-scoped API key (for custom portals built on svix-react): its own
application's routes within its capabilities, and nothing else, route by route.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from svix.api import AppPortalAccessIn, EndpointIn, EndpointPatch, EndpointSecretRotateIn, MessageIn
from svix.exceptions import HttpError

from hookpost.api.portal_scope import ALLOWED
from hookpost.api.routes import (
    applications,
    attempts,
    catalog_import,
    endpoints,
    event_types,
    messages,
    poller,
    stream,
)
from tests.support.live import Live, live_server
from tests.support.portal import add_endpoint, new_app

live = live_server()
ROUTES = [
    (method, route.path)
    for module in (
        applications,
        endpoints,
        messages,
        attempts,
        event_types,
        poller,
        stream,
        catalog_import,
    )
    for route in module.router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
]


def token(live: Live, uid: str, **access: object) -> str:
    return str(live.sdk().authentication.app_portal_access(uid, AppPortalAccessIn(**access)).token)


def status_of(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except HttpError as exc:
        return int(exc.status_code)
    return 200


def test_its_own_application_through_the_sdk(live: Live) -> None:
    uid = new_app(live)
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/own")
    message = live.sdk().message.create(uid, MessageIn(event_type="own.thing", payload={"a": 1}))
    svix = live.sdk(token(live, uid))
    app_id = svix.application.get(uid).id
    assert [e.id for e in svix.endpoint.list(uid).data] == [endpoint]
    assert [e.id for e in svix.endpoint.list(app_id).data] == [endpoint]
    assert svix.endpoint.get_secret(uid, endpoint).key.startswith("whsec_")
    assert svix.message.get(uid, message.id).id == message.id
    created = svix.endpoint.create(uid, EndpointIn(url="http://127.0.0.1:9/made-by-portal"))
    assert created.url == "http://127.0.0.1:9/made-by-portal"
    svix.event_type.list()
    # Never: publishing, changing the application, other applications' lists.
    assert status_of(lambda: svix.message.create(uid, MessageIn(event_type="x", payload={}))) in (
        401,
        403,
    )
    assert status_of(lambda: svix.application.delete(uid)) == 403
    assert status_of(svix.application.list) == 403
    assert live.sdk().application.get(uid).id == app_id


def test_capabilities_apply_to_the_api_too(live: Live) -> None:
    uid = new_app(live)
    endpoint = add_endpoint(live, uid, "http://127.0.0.1:9/caps")
    read_only = live.sdk(token(live, uid, read_only=True))
    assert read_only.endpoint.list(uid).data
    assert status_of(lambda: read_only.endpoint.get_secret(uid, endpoint)) == 403
    assert status_of(lambda: read_only.endpoint.delete(uid, endpoint)) == 403
    assert (
        status_of(lambda: read_only.endpoint.rotate_secret(uid, endpoint, EndpointSecretRotateIn()))
        == 403
    )
    secret_only = live.sdk(token(live, uid, capabilities=["ViewEndpointSecret"]))
    assert secret_only.endpoint.get_secret(uid, endpoint).key
    change = EndpointPatch(url="http://127.0.0.1:9/x")
    assert status_of(lambda: secret_only.endpoint.patch(uid, endpoint, change)) == 403
    assert live.sdk().endpoint.get(uid, endpoint).url == "http://127.0.0.1:9/caps"


def test_logged_out_or_expired_tokens_are_refused(live: Live) -> None:
    uid = new_app(live)
    value = token(live, uid)
    svix = live.sdk(value)
    svix.endpoint.list(uid)
    svix.authentication.logout()
    assert status_of(lambda: svix.endpoint.list(uid)) == 401


def test_every_route_refuses_another_application(live: Live) -> None:
    mine, theirs = new_app(live), new_app(live)
    their_endpoint = add_endpoint(live, theirs, "http://127.0.0.1:9/theirs")
    http = live.http(token(live, mine))
    for method, path in ROUTES:
        if "{app_id}" not in path:
            continue
        url = path.format(
            app_id=theirs,
            endpoint_id=their_endpoint,
            msg_id="msg_x",
            attempt_id="atmpt_x",
            sink_id=their_endpoint,
            consumer_id="c",
        )
        response = http.request(method, url, json={})
        assert response.status_code in (401, 403), (method, path, response.status_code)
    assert live.sdk().endpoint.get(theirs, their_endpoint).url == "http://127.0.0.1:9/theirs"


@pytest.mark.parametrize(("method", "path"), sorted(set(ROUTES) - set(ALLOWED)))
def test_routes_outside_the_table_are_refused_even_for_its_own_app(
    live: Live, method: str, path: str
) -> None:
    uid = new_app(live)
    http = live.http(token(live, uid))
    url = path.format(
        app_id=uid,
        endpoint_id="ep_x",
        msg_id="msg_x",
        attempt_id="atmpt_x",
        event_type_name="x.y",
        sink_id="ep_x",
        consumer_id="c",
    )
    response = http.request(method, url, json={"name": "x", "description": "x"})
    assert response.status_code in (401, 403), response.text


def test_its_own_application_s_live_stream_and_no_other(live: Live) -> None:
    mine, theirs = new_app(live), new_app(live)
    http = live.http(token(live, mine))
    with http.stream("GET", f"/api/v1/app/{mine}/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
    assert http.get(f"/api/v1/app/{theirs}/stream").status_code in (401, 403)
