"""Bad request bodies get a 4xx JSON answer naming the problem, never a 500, and store nothing.

Raw HTTP (httpx), since the SDK cannot send most of these. Each case embeds a unique name
or targets a fresh application, so "nothing was created" can be checked in the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hookpost.store.schema import applications, endpoints, event_types, messages
from tests.support.live import Live, error_of, live_server, locs, unique

MAX_PAYLOAD = 1024 * 1024
live = live_server({"HOOKPOST_MAX_PAYLOAD_BYTES": str(MAX_PAYLOAD)})
JSON = {"content-type": "application/json"}
DEEP = 100_000


def post(live: Live, path: str, body: bytes) -> httpx.Response:
    return live.http().post(path, content=body, headers=JSON)


def new_app(live: Live) -> str:
    return str(live.http().post("/api/v1/app", json={"name": "bad-input"}).json()["id"])


def messages_of(live: Live, app: str) -> int:
    return live.count(messages, messages.c.app_id == app)


def apps_named(live: Live, name: str) -> int:
    return live.count(applications, applications.c.name == name)


# -- JSON that does not parse -------------------------------------------------------------
MALFORMED = {
    "empty": b"",
    "truncated": b'{"name": "NAME"',
    "trailing garbage": b'{"name": "NAME"} {}',
    "NaN": b'{"name": "NAME", "metadata": NaN}',
    "Infinity": b'{"name": "NAME", "throttleRate": Infinity}',
    "-Infinity": b'{"name": "NAME", "throttleRate": -Infinity}',
    "1e400": b'{"name": "NAME", "throttleRate": 1e400}',
    "5000-digit integer": b'{"name": "NAME", "throttleRate": ' + b"9" * 5000 + b"}",
    "byte order mark": b'\xef\xbb\xbf{"name": "NAME"}',
    "invalid utf-8": b'{"name": "NAME\xff"}',
    "lone surrogate escape": b'{"name": "NAME\\ud800"}',
    "single quotes": b"{'name': 'NAME'}",
    "comment": b'{"name": "NAME" /* hi */}',
    "deep arrays": b'{"name": "NAME", "metadata": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    "deep objects": b'{"name": "NAME", "metadata": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
    "a bare string": b'"NAME"',
    "an array": b'[{"name": "NAME"}]',
    "null": b"null",
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_json_is_a_422_naming_the_body(live: Live, case: str) -> None:
    name = unique("malformed")
    response = post(live, "/api/v1/app", MALFORMED[case].replace(b"NAME", name.encode()))
    assert response.status_code == 422, response.text
    problems = error_of(response)["detail"]
    assert problems[0]["loc"][0] == "body"
    assert problems[0]["msg"]
    assert apps_named(live, name) == 0


@pytest.mark.parametrize("case", ["truncated", "NaN", "deep objects", "5000-digit integer"])
def test_malformed_payloads_store_no_message(live: Live, case: str) -> None:
    app = new_app(live)
    body = MALFORMED[case].replace(b'"name": "NAME"', b'"eventType": "a.b"')
    body = body.replace(b'"metadata"', b'"payload"').replace(b'"throttleRate"', b'"payload"')
    response = post(live, f"/api/v1/app/{app}/msg", body)
    assert response.status_code == 422, response.text
    assert error_of(response)["detail"][0]["loc"][0] == "body"
    assert messages_of(live, app) == 0


# -- well-formed JSON of the wrong shape ----------------------------------------------------
@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ([], ["body", "payload"]),
        ("text", ["body", "payload"]),
        (None, ["body", "payload"]),
        (7, ["body", "payload"]),
    ],
)
def test_a_payload_must_be_an_object(live: Live, payload: Any, loc: list[str]) -> None:
    app = new_app(live)
    response = live.http().post(
        f"/api/v1/app/{app}/msg", json={"eventType": "a.b", "payload": payload}
    )
    assert locs(response)[0] == loc
    assert messages_of(live, app) == 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": 5}, ["body", "name"]),
        ({"name": ["x"]}, ["body", "name"]),
        ({"name": None}, ["body", "name"]),
        ({}, ["body", "name"]),
        ({"name": "x", "uid": 5}, ["body", "uid"]),
        ({"name": "x", "metadata": []}, ["body", "metadata"]),
        ({"name": "x", "metadata": {"k": 1}}, ["body", "metadata", "k"]),
        ({"name": "x", "throttleRate": "fast"}, ["body", "throttleRate"]),
        ({"name": "x", "throttleRate": 0}, ["body", "throttleRate"]),
        ({"name": "x", "throttleRate": 2**70}, ["body", "throttleRate"]),
    ],
)
def test_wrong_types_name_the_field(live: Live, body: dict[str, Any], loc: list[str]) -> None:
    before = live.count(applications)
    response = live.http().post("/api/v1/app", json=body)
    assert locs(response)[0] == loc
    assert live.count(applications) == before


def test_wrong_types_in_messages_and_endpoints(live: Live) -> None:
    app, http = new_app(live), live.http()
    cases: list[tuple[str, dict[str, Any], list[Any]]] = [
        ("msg", {"eventType": 5, "payload": {}}, ["body", "eventType"]),
        ("msg", {"payload": {}}, ["body", "eventType"]),
        ("msg", {"eventType": "a"}, ["body", "payload"]),
        ("msg", {"eventType": "a", "payload": {}, "channels": "eu"}, ["body", "channels"]),
        ("msg", {"eventType": "a", "payload": {}, "payloadRetentionPeriod": 0}, None),
        ("endpoint", {"url": 5}, ["body", "url"]),
        ("endpoint", {"url": "http://127.0.0.1:9/", "eventTypes": "a"}, ["body", "eventTypes"]),
        ("endpoint", {"url": "http://127.0.0.1:9/", "disabled": "perhaps"}, ["body", "disabled"]),
        ("endpoint", {"url": "http://127.0.0.1:9/", "eventTypes": []}, ["body", "eventTypes"]),
    ]
    for resource, body, loc in cases:
        response = http.post(f"/api/v1/app/{app}/{resource}", json=body)
        assert response.status_code == 422, (body, response.text)
        problem = locs(response)[0]
        assert problem[0] == "body"
        if loc is not None:
            assert problem[: len(loc)] == loc, (body, problem)
    assert messages_of(live, app) == 0
    assert live.count(endpoints, endpoints.c.app_id == app) == 0


# -- sizes --------------------------------------------------------------------------------
def test_a_payload_over_the_limit_is_a_413(live: Live) -> None:
    app = new_app(live)
    filler = "x" * (MAX_PAYLOAD - 5)  # {"f":"…"} is 8 bytes more than the filler
    response = live.http().post(
        f"/api/v1/app/{app}/msg", json={"eventType": "a", "payload": {"f": filler}}
    )
    assert response.status_code == 413, response.text
    assert error_of(response)["code"] == "payload_too_large"
    assert str(MAX_PAYLOAD) in response.json()["detail"]
    at_limit = live.http().post(
        f"/api/v1/app/{app}/msg", json={"eventType": "a", "payload": {"f": filler[:-3]}}
    )
    assert at_limit.status_code == 202, at_limit.text
    assert messages_of(live, app) == 1


def test_a_body_far_over_the_limit_is_refused_before_parsing(live: Live) -> None:
    app = new_app(live)
    huge = b'{"eventType":"a","payload":{"f":"' + b"x" * (2 * MAX_PAYLOAD) + b'"}}'
    response = post(live, f"/api/v1/app/{app}/msg", huge)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no content-length: the limit is counted as it arrives
        yield b'{"eventType":"a","payload":{"f":"'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}}'

    chunked = live.http().post(f"/api/v1/app/{app}/msg", content=chunks(), headers=JSON)
    assert chunked.status_code == 413
    assert error_of(chunked)["code"] == "payload_too_large"
    assert messages_of(live, app) == 0


# -- strings: empty, too long, control and invisible characters ---------------------------
@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": ""}, ["body", "name"]),
        ({"name": "a\u0000b"}, ["body", "name"]),
        ({"name": "bell\u0007"}, ["body", "name"]),
        ({"name": "x", "uid": ""}, ["body", "uid"]),
        ({"name": "x", "uid": "u" * 257}, ["body", "uid"]),
        ({"name": "x", "uid": "a\u0000"}, ["body", "uid"]),
        ({"name": "x", "uid": "rtl\u202eevil"}, ["body", "uid"]),
        ({"name": "x", "metadata": {"k": "v\u0000"}}, ["body", "metadata"]),
        ({"name": "x", "metadata": {"k\u0000": "v"}}, ["body", "metadata"]),
        ({"name": "x", "metadata": {"k": "v" * 5000}}, ["body", "metadata"]),
    ],
)
def test_bad_strings_in_applications(live: Live, body: dict[str, Any], loc: list[str]) -> None:
    before = live.count(applications)
    response = live.http().post("/api/v1/app", json=body)
    assert locs(response)[0][:2] == loc
    assert live.count(applications) == before


@pytest.mark.parametrize(
    "name",
    ["", "e" * 257, "a\u0000b", "invoice\u202epaid", "invoice\u200b.paid", "in voice", "é"],
)
def test_bad_event_type_names(live: Live, name: str) -> None:
    http, app, before = live.http(), new_app(live), live.count(event_types)
    created = http.post("/api/v1/event-type", json={"name": name, "description": ""})
    assert locs(created)[0] == ["body", "name"]
    published = http.post(f"/api/v1/app/{app}/msg", json={"eventType": name, "payload": {}})
    assert locs(published)[0] == ["body", "eventType"]
    filtered = http.post(
        f"/api/v1/app/{app}/endpoint",
        json={"url": "http://127.0.0.1:9/", "eventTypes": [name]},
    )
    assert locs(filtered)[0][:2] == ["body", "eventTypes"]
    assert live.count(event_types) == before
    assert messages_of(live, app) == 0
    assert live.count(endpoints, endpoints.c.app_id == app) == 0


def test_longest_names_are_accepted(live: Live) -> None:
    http = live.http()
    uid = unique("long").ljust(256, "u")
    assert http.post("/api/v1/app", json={"name": "n", "uid": uid}).status_code == 201
    name = unique("long").ljust(256, "e")
    assert (
        http.post("/api/v1/event-type", json={"name": name, "description": ""}).status_code == 201
    )
    assert http.get(f"/api/v1/app/{uid}").json()["uid"] == uid
    assert http.get(f"/api/v1/event-type/{name}").json()["name"] == name


def test_bad_strings_in_messages_endpoints_and_headers(live: Live) -> None:
    http, app = live.http(), new_app(live)
    msg = f"/api/v1/app/{app}/msg"
    url = "http://127.0.0.1:9/"
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        (msg, {"eventType": "a", "payload": {}, "eventId": "e" * 257}, ["body", "eventId"]),
        (msg, {"eventType": "a", "payload": {}, "eventId": "a\u0000"}, ["body", "eventId"]),
        (msg, {"eventType": "a", "payload": {}, "channels": ["c" * 129]}, ["body", "channels"]),
        (msg, {"eventType": "a", "payload": {}, "channels": ["\u0000"]}, ["body", "channels"]),
        (msg, {"eventType": "a", "payload": {}, "tags": ["a b"]}, ["body", "tags"]),
        (f"/api/v1/app/{app}/endpoint", {"url": ""}, ["body", "url"]),
        (f"/api/v1/app/{app}/endpoint", {"url": url, "description": "\u0000"}, ["body"]),
        (f"/api/v1/app/{app}/endpoint", {"url": url, "uid": "u" * 257}, ["body", "uid"]),
        (f"/api/v1/app/{app}/endpoint", {"url": url, "headers": {"X-A": "a\nb"}}, ["body"]),
        ("/api/v1/event-type", {"name": unique("et"), "description": "\u0000"}, ["body"]),
    ]
    for path, body, loc in cases:
        response = http.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert locs(response)[0][: len(loc)] == loc, (body, response.text)
    assert messages_of(live, app) == 0
    assert live.count(endpoints, endpoints.c.app_id == app) == 0


def test_any_unicode_in_payloads_and_names_round_trips(live: Live) -> None:
    http = live.http()
    name = "Ünïcödé 🚀 \u202e שלום \u200b"  # free text may hold anything printable
    app = http.post("/api/v1/app", json={"name": name, "metadata": {"emoji": "🎉"}}).json()
    assert http.get(f"/api/v1/app/{app['id']}").json()["name"] == name
    payload = {"nul": "a\u0000b", "emoji": "🚀", "rtl": "\u202e", "cjk": "漢字", "esc": "\\\"'"}
    created = http.post(f"/api/v1/app/{app['id']}/msg", json={"eventType": "a", "payload": payload})
    assert created.status_code == 202
    got = http.get(f"/api/v1/app/{app['id']}/msg/{created.json()['id']}")
    assert got.json()["payload"] == payload
    assert json.loads(got.content)["payload"]["nul"] == "a\u0000b"
