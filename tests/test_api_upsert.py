"""PUT is idempotent: repeating one leaves one object (issue 9, item 2).

A path naming an id (`app_…`, `ep_…`) can only update: ids are the server's to give, and
creating a fresh object on every call left duplicates that all received every message.
A path naming a uid creates the object under that uid once, then replaces it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from svix.api import ApplicationIn, EndpointIn, EndpointUpsertIn
from svix.exceptions import HttpError

from hookpost.store.schema import applications, endpoints
from tests.support.live import Live, error_of, live_server, unique

live = live_server()
URL = "http://127.0.0.1:9/hook"


def live_endpoints(live: Live, app_id: str) -> int:
    return live.count(endpoints, endpoints.c.app_id == app_id, endpoints.c.deleted_at.is_(None))


def test_put_of_another_applications_endpoint_id_creates_nothing(live: Live) -> None:
    svix = live.sdk()
    a = svix.application.create(ApplicationIn(name="A")).id
    b = svix.application.create(ApplicationIn(name="B")).id
    foreign = svix.endpoint.create(a, EndpointIn(url=URL)).id
    for _ in range(3):
        with pytest.raises(HttpError) as caught:
            svix.endpoint.upsert(b, foreign, EndpointUpsertIn(url=URL))
        assert caught.value.status_code == 404
        assert caught.value.code == "not_found"
    assert live_endpoints(live, b) == 0
    assert live_endpoints(live, a) == 1


def test_put_of_an_unknown_endpoint_id_is_not_found(live: Live) -> None:
    http = live.http()
    app = live.sdk().application.create(ApplicationIn(name="C")).id
    for _ in range(3):
        response = http.put(f"/api/v1/app/{app}/endpoint/ep_doesnotexist", json={"url": URL})
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert live_endpoints(live, app) == 0


def test_put_of_an_endpoint_uid_three_times_leaves_one(live: Live) -> None:
    http = live.http()
    app, uid = live.sdk().application.create(ApplicationIn(name="D")).id, unique("ep")
    answers = [
        http.put(f"/api/v1/app/{app}/endpoint/{uid}", json={"url": URL}).status_code
        for _ in range(3)
    ]
    assert answers == [201, 200, 200]
    assert live_endpoints(live, app) == 1


def test_put_of_an_unknown_application_id_twice_creates_nothing(live: Live) -> None:
    http = live.http()
    before = live.count(applications, applications.c.name == "Ghost")
    for _ in range(2):
        response = http.put("/api/v1/app/app_doesnotexist", json={"name": "Ghost"})
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert live.count(applications, applications.c.name == "Ghost") == before


def test_put_of_an_application_uid_twice_leaves_one(live: Live) -> None:
    http, uid = live.http(), unique("app")
    first = http.put(f"/api/v1/app/{uid}", json={"name": "Once"})
    second = http.put(f"/api/v1/app/{uid}", json={"name": "Twice"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    rows = live.query(sa.select(applications.c.name).where(applications.c.uid == uid))
    assert [r.name for r in rows] == ["Twice"]


def test_put_under_a_uid_with_another_body_uid_repeats_as_a_conflict(live: Live) -> None:
    """Svix creates the app under the body's uid; a repeat finds the uid taken: still one."""
    http, path_uid, body_uid = live.http(), unique("path"), unique("body")
    first = http.put(f"/api/v1/app/{path_uid}", json={"name": "X", "uid": body_uid})
    assert first.status_code == 201
    assert first.json()["uid"] == body_uid
    again = http.put(f"/api/v1/app/{path_uid}", json={"name": "X", "uid": body_uid})
    assert again.status_code == 409
    assert live.count(applications, applications.c.uid == body_uid) == 1
