"""Bad paths and query strings: unknown or malformed ids are 404s, bad iterators and filters
422s naming the parameter, unknown routes and methods JSON 404/405s, and no redirect, ever.

Also what must *not* be refused: trailing slashes, unknown fields and unknown query params.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from hookpost.store.schema import applications, endpoints, event_types
from tests.support.live import Live, error_of, live_server, locs, unique
from tests.support.waiting import eventually

live = live_server()
WELL_FORMED = "2yZ6mBIeUiIl4bBWVJp4mO0DXz1"  # a valid id body that names nothing
GARBAGE = ["%00", "a%20b", "%E2%80%AE", "x" * 5000, "a%2Fb", "%F0%9F%9A%80"]


@dataclass(frozen=True)
class Objects:
    app: str
    endpoint: str
    msg: str
    attempt: str


@pytest.fixture(scope="module")
def objs(live: Live) -> Objects:
    http = live.http()
    app = http.post("/api/v1/app", json={"name": "paths", "uid": unique("app")}).json()["id"]
    ep = http.post(f"/api/v1/app/{app}/endpoint", json={"url": "http://127.0.0.1:9/"}).json()
    msg = http.post(f"/api/v1/app/{app}/msg", json={"eventType": "a", "payload": {}}).json()
    attempts = eventually(
        lambda: http.get(f"/api/v1/app/{app}/attempt/msg/{msg['id']}").json()["data"],
        what="an attempt",
    )
    return Objects(app, ep["id"], msg["id"], attempts[0]["id"])


def assert_404(response: httpx.Response) -> None:
    assert response.status_code == 404, (response.request.url, response.text)
    assert error_of(response)["code"] == "not_found"


def test_unknown_and_malformed_ids_are_404s(live: Live, objs: Objects) -> None:
    http, o = live.http(), objs
    refs = [f"app_{WELL_FORMED}", f"ep_{WELL_FORMED}", f"msg_{WELL_FORMED}", *GARBAGE]
    for ref in refs:
        for path in (
            f"/api/v1/app/{ref}",
            f"/api/v1/app/{ref}/endpoint",
            f"/api/v1/app/{ref}/msg",
            f"/api/v1/app/{o.app}/endpoint/{ref}",
            f"/api/v1/app/{o.app}/endpoint/{ref}/secret",
            f"/api/v1/app/{o.app}/endpoint/{ref}/msg",
            f"/api/v1/app/{o.app}/attempt/endpoint/{ref}",
            f"/api/v1/app/{o.app}/msg/{ref}",
            f"/api/v1/app/{o.app}/msg/{ref}/endpoint",
            f"/api/v1/app/{o.app}/attempt/msg/{ref}",
            f"/api/v1/app/{o.app}/msg/{o.msg}/attempt/{ref}",
            f"/api/v1/event-type/{ref}",
        ):
            assert_404(http.get(path))
        assert_404(http.patch(f"/api/v1/app/{ref}", json={"name": "x"}))
        assert_404(http.delete(f"/api/v1/app/{o.app}/endpoint/{ref}"))
        assert_404(http.delete(f"/api/v1/app/{o.app}/msg/{ref}/content"))
        assert_404(http.delete(f"/api/v1/event-type/{ref}"))
        assert_404(http.post(f"/api/v1/app/{ref}/msg", json={"eventType": "a", "payload": {}}))
        assert_404(http.post(f"/api/v1/app/{o.app}/msg/{o.msg}/endpoint/{ref}/resend"))
    assert http.get(f"/api/v1/app/{o.app}/msg/{o.msg}/attempt/{o.attempt}").status_code == 200
    assert http.get(f"/api/v1/app/{o.app}").status_code == 200


def test_a_put_path_that_cannot_be_a_uid_is_a_422(live: Live, objs: Objects) -> None:
    http = live.http()
    counts = (live.count(applications), live.count(endpoints), live.count(event_types))
    for ref in ("a%20b", "%00", "u" * 257, "%E2%80%AE"):
        app = http.put(f"/api/v1/app/{ref}", json={"name": "x"})
        assert locs(app)[0] == ["path", "app_id"]
        ep = http.put(f"/api/v1/app/{objs.app}/endpoint/{ref}", json={"url": "http://127.0.0.1:9/"})
        assert locs(ep)[0] == ["path", "endpoint_id"]
        et = http.put(f"/api/v1/event-type/{ref}", json={"description": ""})
        assert locs(et)[0] == ["path", "event_type_name"]
    assert (live.count(applications), live.count(endpoints), live.count(event_types)) == counts


@pytest.mark.parametrize(
    ("path", "iterator"),
    [
        ("/api/v1/app", f"ep_{WELL_FORMED}"),
        ("/api/v1/app", "-msg_x"),
        ("/api/v1/app", "app_short"),
        ("/api/v1/app/{app}/endpoint", f"app_{WELL_FORMED}"),
        ("/api/v1/app/{app}/msg", f"ep_{WELL_FORMED}"),
        ("/api/v1/app/{app}/msg", "garbage"),
        ("/api/v1/app/{app}/attempt/msg/{msg}", f"msg_{WELL_FORMED}"),
        ("/api/v1/app/{app}/attempt/endpoint/{ep}", f"-ep_{WELL_FORMED}"),
        ("/api/v1/app/{app}/endpoint/{ep}/msg", f"atmpt_{WELL_FORMED}"),
        ("/api/v1/app/{app}/msg/{msg}/endpoint", f"msg_{WELL_FORMED}"),
        ("/api/v1/event-type", "not a name"),
        ("/api/v1/event-type", "\x00"),
    ],
)
def test_iterators_of_the_wrong_kind_are_422s(
    live: Live, objs: Objects, path: str, iterator: str
) -> None:
    url = path.format(app=objs.app, msg=objs.msg, ep=objs.endpoint)
    response = live.http().get(url, params={"iterator": iterator})
    assert locs(response)[0] == ["query", "iterator"]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/app", {"limit": "0"}, "limit"),
        ("/api/v1/app", {"limit": "-1"}, "limit"),
        ("/api/v1/app", {"limit": "251"}, "limit"),
        ("/api/v1/app", {"limit": "ten"}, "limit"),
        ("/api/v1/app", {"limit": "9" * 30}, "limit"),
        ("/api/v1/app", {"order": "sideways"}, "order"),
        ("/api/v1/event-type", {"include_archived": "maybe"}, "include_archived"),
        ("/api/v1/app/{app}/msg", {"with_content": "perhaps"}, "with_content"),
        ("/api/v1/app/{app}/msg", {"before": "yesterday"}, "before"),
        ("/api/v1/app/{app}/msg", {"after": "2025-13-45T00:00:00Z"}, "after"),
        ("/api/v1/app/{app}/msg", {"channel": "has space"}, "channel"),
        ("/api/v1/app/{app}/msg", {"channel": "\x00"}, "channel"),
        ("/api/v1/app/{app}/msg", {"tag": "\x00"}, "tag"),
        ("/api/v1/app/{app}/msg", {"event_types": "a,b c"}, "event_types"),
        ("/api/v1/app/{app}/attempt/msg/{msg}", {"status": "9"}, "status"),
        ("/api/v1/app/{app}/attempt/msg/{msg}", {"status_code_class": "250"}, "status_code_class"),
        ("/api/v1/app/{app}/attempt/endpoint/{ep}", {"channel": "\u202e"}, "channel"),
        ("/api/v1/app/{app}/endpoint/{ep}/stats", {"since": "soon"}, "since"),
    ],
)
def test_bad_query_values_are_422s_naming_them(
    live: Live, objs: Objects, path: str, params: dict[str, str], name: str
) -> None:
    url = path.format(app=objs.app, msg=objs.msg, ep=objs.endpoint)
    response = live.http().get(url, params=params)
    assert locs(response)[0][:2] == ["query", name]


def test_times_far_outside_the_id_range_are_not_errors(live: Live, objs: Objects) -> None:
    http, o = live.http(), objs
    for params in (
        {"before": "9999-12-31T23:59:59Z"},
        {"after": "0001-01-01T00:00:00Z"},
        {"before": "1970-01-01T00:00:00Z"},
        {"after": "2200-01-01T00:00:00+05:00"},
    ):
        for path in (
            f"/api/v1/app/{o.app}/msg",
            f"/api/v1/app/{o.app}/attempt/msg/{o.msg}",
            f"/api/v1/app/{o.app}/attempt/endpoint/{o.endpoint}",
            f"/api/v1/app/{o.app}/endpoint/{o.endpoint}/msg",
        ):
            response = http.get(path, params=params)
            assert response.status_code == 200, (path, params, response.text)
    far = {"since": "9999-01-01T00:00:00Z", "until": "9999-01-02T00:00:00Z"}
    recovered = http.post(f"/api/v1/app/{o.app}/endpoint/{o.endpoint}/replay-missing", json=far)
    assert recovered.status_code == 202
    old = {"since": "0001-01-01T00:00:00Z", "until": "0001-01-02T00:00:00Z"}
    stats = http.get(f"/api/v1/app/{o.app}/endpoint/{o.endpoint}/stats", params=old)
    assert stats.json() == {"success": 0, "pending": 0, "sending": 0, "fail": 0, "canceled": 0}


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/nope", "/api/v2/app", "/api/v1/app/{app}/nope", "/api/v1/app/a/b/c"]
)
def test_unknown_routes_are_json_404s(live: Live, objs: Objects, path: str) -> None:
    url = path.format(app=objs.app)
    for method in ("GET", "POST", "DELETE"):
        assert_404(live.http().request(method, url))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/app"),
        ("DELETE", "/api/v1/app"),
        ("PATCH", "/api/v1/event-type"),
        ("POST", "/api/v1/health"),
        ("GET", "/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
        ("PUT", "/api/v1/app/{app}/msg/{msg}"),
        ("POST", "/api/v1/app/{app}/endpoint/{ep}/secret"),
    ],
)
def test_wrong_methods_are_json_405s(live: Live, objs: Objects, method: str, path: str) -> None:
    url = path.format(app=objs.app, msg=objs.msg, ep=objs.endpoint)
    response = live.http().request(method, url, json={})
    assert response.status_code == 405, response.text
    assert error_of(response)["code"] == "method_not_allowed"


def test_out_of_scope_routes_are_json_501s(live: Live, objs: Objects) -> None:
    for method, path in (
        ("GET", "/api/v1/stats/usage/app"),
        ("POST", f"/api/v1/app/{objs.app}/integration"),
        ("POST", f"/api/v1/app/{objs.app}/endpoint/{objs.endpoint}/transformation"),
        ("GET", "/api/v1/stats/endpoint/count"),
        ("POST", "/ingest/api/v1/source"),
        ("POST", "/api/v1/auth/stream-portal-access/strm_x"),
    ):
        response = live.http().request(method, path, json={})
        assert response.status_code == 501
        assert error_of(response)["code"] == "not_implemented"


def test_trailing_slashes_are_served_without_redirects(live: Live, objs: Objects) -> None:
    http, o = live.http(), objs
    for path in (
        "/api/v1/app/",
        f"/api/v1/app/{o.app}/",
        f"/api/v1/app/{o.app}/endpoint/",
        f"/api/v1/app/{o.app}/endpoint/{o.endpoint}/secret/",
        f"/api/v1/app/{o.app}/msg/{o.msg}/",
        "/api/v1/event-type/",
        "/api/v1/health/",
    ):
        response = http.get(path)
        assert response.status_code in (200, 204), (path, response.status_code)
    created = http.post("/api/v1/app/", json={"name": "slash"})
    assert created.status_code == 201
    assert http.delete(f"/api/v1/app/{created.json()['id']}/").status_code == 204


def test_a_bad_token_wins_over_a_bad_body(live: Live) -> None:
    stranger = live.http("not-a-key")
    for body in (b"{broken", b'{"name": 5}', b""):
        response = stranger.post(
            "/api/v1/app", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 401
        assert error_of(response)["code"] == "authentication_failed"


def test_unknown_fields_and_query_params_are_ignored(live: Live, objs: Objects) -> None:
    http = live.http()
    app = http.post(
        "/api/v1/app?exclude_apps_with_no_endpoints=true&whatever=1",
        json={"name": "extra", "uid": unique("x"), "tags": ["a"], "brandNew": {"nested": 1}},
    )
    assert app.status_code == 201, app.text
    app_id = app.json()["id"]
    legacy = http.post(
        f"/api/v1/app/{app_id}/endpoint",
        json={
            "url": "http://127.0.0.1:9/",
            "filterTypes": ["legacy.*"],
            "rateLimit": 5,
            "version": 1,
            "someCloudOnlyField": True,
        },
    )
    assert legacy.status_code == 201, legacy.text
    assert (legacy.json()["eventTypes"], legacy.json()["throttleRate"]) == (["legacy.*"], 5)
    msg = http.post(
        f"/api/v1/app/{app_id}/msg?with_msg=true&unknown=x",
        json={
            "eventType": "a",
            "payload": {},
            "deliverAt": None,
            "payloadRetentionHours": 24,
            "transformationsParams": {"headers": {"x": "y"}},
            "future": [1, 2],
        },
    )
    assert msg.status_code == 202, msg.text
    listing = http.get(
        f"/api/v1/app/{app_id}/attempt/endpoint/{legacy.json()['id']}",
        params={"expanded_statuses": "true", "with_msg": "true", "nonsense": "1"},
    )
    assert listing.status_code == 200
    flagged = http.post(
        "/api/v1/event-type",
        json={"name": unique("flag"), "description": "", "featureFlag": "beta", "x": 1},
    )
    assert flagged.status_code == 201
    assert flagged.json()["featureFlags"] == ["beta"]
