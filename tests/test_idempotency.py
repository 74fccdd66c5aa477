"""Idempotency keys (svix-api.md §1.3, §14 step 14): one object per key, the same answer on repeat.

Includes races: 20 identical POSTs released together from threads, against SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import sqlalchemy as sa
from svix.api import ApplicationCreateOptions, ApplicationIn, MessageCreateOptions, MessageIn

from hookpost.store.schema import applications, messages
from tests.support.live import Live, live_server, unique
from tests.support.server import TOKEN

live = live_server()
RACERS = 20


def key() -> str:
    return f"key-{uuid.uuid4()}"


def apps_named(live: Live, name: str) -> int:
    return live.count(applications, applications.c.name == name)


def messages_of(live: Live, app_id: str) -> int:
    return live.count(messages, messages.c.app_id == app_id)


def race(live: Live, path: str, body: dict[str, Any], idempotency_key: str) -> list[httpx.Response]:
    """RACERS identical POSTs, each on its own connection, released at the same moment."""
    start = threading.Barrier(RACERS)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            headers = {"authorization": f"Bearer {TOKEN}", "idempotency-key": idempotency_key}
            start.wait()
            return client.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(post, range(RACERS)))


def test_sdk_app_create_with_one_key_makes_one_app(live: Live) -> None:
    svix, name, k = live.sdk(), unique("idem"), key()
    first = svix.application.create(
        ApplicationIn(name=name), ApplicationCreateOptions(idempotency_key=k)
    )
    again = svix.application.create(
        ApplicationIn(name=name), ApplicationCreateOptions(idempotency_key=k)
    )
    assert again.id == first.id
    assert apps_named(live, name) == 1
    other = svix.application.create(
        ApplicationIn(name=name), ApplicationCreateOptions(idempotency_key=key())
    )
    assert other.id != first.id
    assert apps_named(live, name) == 2


def test_a_repeat_gets_the_first_status_and_body(live: Live) -> None:
    http, name, k = live.http(), unique("idem"), key()
    first = http.post("/api/v1/app", json={"name": name}, headers={"idempotency-key": k})
    again = http.post("/api/v1/app", json={"name": name}, headers={"idempotency-key": k})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["content-type"].startswith("application/json")
    # The body is not part of the key (as in Svix): a changed body replays the first answer.
    changed = http.post("/api/v1/app", json={"name": "other"}, headers={"idempotency-key": k})
    assert changed.content == first.content
    assert apps_named(live, name) == 1


def test_the_key_is_scoped_to_path_and_token(live: Live) -> None:
    http, name, k = live.http(), unique("idem"), key()
    headers = {"idempotency-key": k}
    app = http.post("/api/v1/app", json={"name": name}, headers=headers).json()
    query = http.post("/api/v1/app?get_if_exists=false", json={"name": name}, headers=headers)
    assert query.json()["id"] != app["id"]
    msg = http.post(
        f"/api/v1/app/{app['id']}/msg", json={"eventType": "a", "payload": {}}, headers=headers
    )
    assert msg.status_code == 202
    assert msg.json()["id"].startswith("msg_")
    other_org = live.http(live.new_organization_token())
    elsewhere = other_org.post("/api/v1/app", json={"name": name}, headers=headers)
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != app["id"]
    assert apps_named(live, name) == 3


def test_a_failed_request_frees_its_key(live: Live) -> None:
    http, name, k = live.http(), unique("idem"), key()
    bad = http.post("/api/v1/app", json={"name": ""}, headers={"idempotency-key": k})
    assert bad.status_code == 422
    good = http.post("/api/v1/app", json={"name": name}, headers={"idempotency-key": k})
    assert good.status_code == 201
    assert apps_named(live, name) == 1


def test_sdk_message_create_with_one_key_makes_one_message(live: Live) -> None:
    svix = live.sdk()
    app = svix.application.create(ApplicationIn(name="m", uid=unique("app"))).id
    k = key()
    first = svix.message.create(
        app, MessageIn(event_type="a.b", payload={"n": 1}), MessageCreateOptions(idempotency_key=k)
    )
    again = svix.message.create(
        app, MessageIn(event_type="a.b", payload={"n": 1}), MessageCreateOptions(idempotency_key=k)
    )
    assert again.id == first.id
    assert again.timestamp == first.timestamp
    assert messages_of(live, app) == 1
    svix.message.create(
        app, MessageIn(event_type="a.b", payload={}), MessageCreateOptions(idempotency_key=key())
    )
    assert messages_of(live, app) == 2


def test_a_message_key_with_a_failed_first_request_is_free(live: Live) -> None:
    http = live.http()
    app = http.post("/api/v1/app", json={"name": "m"}).json()["id"]
    k = key()
    bad = http.post(
        f"/api/v1/app/{app}/msg",
        json={"eventType": "a", "payload": []},
        headers={"idempotency-key": k},
    )
    assert bad.status_code == 422
    good = http.post(
        f"/api/v1/app/{app}/msg",
        json={"eventType": "a", "payload": {}},
        headers={"idempotency-key": k},
    )
    assert good.status_code == 202
    assert messages_of(live, app) == 1


def test_an_over_long_key_is_refused(live: Live) -> None:
    http, name = live.http(), unique("idem")
    response = http.post("/api/v1/app", json={"name": name}, headers={"idempotency-key": "k" * 300})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert apps_named(live, name) == 0


def test_racing_app_creates_with_one_key_make_one_app(live: Live) -> None:
    name = unique("race")
    answers = race(live, "/api/v1/app", {"name": name}, key())
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.content for r in answers}) == 1
    assert apps_named(live, name) == 1


def test_racing_message_creates_with_one_key_make_one_message(live: Live) -> None:
    app = live.http().post("/api/v1/app", json={"name": "race"}).json()["id"]
    answers = race(live, f"/api/v1/app/{app}/msg", {"eventType": "a", "payload": {"n": 1}}, key())
    assert {r.status_code for r in answers} == {202}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert messages_of(live, app) == 1


def test_racing_get_or_create_with_one_uid_makes_one_app(live: Live) -> None:
    uid = unique("race")
    start = threading.Barrier(RACERS)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            start.wait()
            return client.post(
                "/api/v1/app?get_if_exists=true",
                json={"name": "r", "uid": uid},
                headers={"authorization": f"Bearer {TOKEN}"},
            )

    with ThreadPoolExecutor(RACERS) as pool:
        answers = list(pool.map(post, range(RACERS)))
    assert {r.status_code for r in answers} <= {200, 201}, [r.text for r in answers]
    assert [r.status_code for r in answers].count(201) == 1
    assert len({r.json()["id"] for r in answers}) == 1
    assert live.count(applications, applications.c.uid == uid) == 1


def test_racing_event_ids_make_one_message(live: Live) -> None:
    app = live.http().post("/api/v1/app", json={"name": "race"}).json()["id"]
    start = threading.Barrier(RACERS)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            start.wait()
            return client.post(
                f"/api/v1/app/{app}/msg",
                json={"eventType": "a", "payload": {}, "eventId": "evt-race"},
                headers={"authorization": f"Bearer {TOKEN}"},
            )

    with ThreadPoolExecutor(RACERS) as pool:
        answers = list(pool.map(post, range(RACERS)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [202] + [409] * (RACERS - 1), [r.text for r in answers]
    assert live.count(messages, sa.and_(messages.c.app_id == app)) == 1
