"""One error table: `render(error)` gives every error its status, body and headers, and the
route handlers, the publish fast path and the middleware all answer through it.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from hookpost.api.errors import MESSAGES, SlowBody, Unexpected, render
from hookpost.config import Settings
from hookpost.core import errors, wording
from hookpost.runtime import open_runtime
from tests.support.message_ids import raised_message_ids
from tests.support.server import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.BadRequest("no"), 400, "generic_error"),
        (errors.AuthenticationFailed("who?"), 401, "authentication_failed"),
        (errors.NotFound("gone"), 404, "not_found"),
        (errors.Conflict("busy", code="idempotency_conflict"), 409, "idempotency_conflict"),
        (errors.PayloadTooLarge("big"), 413, "payload_too_large"),
        (errors.NotSupported("later"), 501, "not_implemented"),
        (SlowBody("slow"), 408, "request_timeout"),
    ],
)
def test_each_error_renders_its_status_code_and_detail(
    error: errors.HookpostError, status: int, code: str
) -> None:
    rendered = render(error)
    assert rendered.status == status
    assert orjson.loads(rendered.body) == {"code": code, "detail": error.detail}
    assert rendered.headers == ()


def test_invalid_input_renders_the_validation_shape() -> None:
    rendered = render(errors.InvalidInput.said(("body", "uid"), "too long", "value_error.length"))
    assert rendered.status == 422
    assert orjson.loads(rendered.body) == {
        "detail": [{"loc": ["body", "uid"], "msg": "too long", "type": "value_error.length"}]
    }


def test_an_input_problem_is_worded_by_its_message_id() -> None:
    problem = errors.InvalidInput.at(("query", "limit"), "limit_too_high", limit=250)
    assert problem.problems[0].message_id == "limit_too_high"
    assert problem.problems[0].params == {"limit": 250}
    assert orjson.loads(render(problem).body) == {
        "detail": [
            {
                "loc": ["query", "limit"],
                "msg": "Given limit must not exceed 250",
                "type": "value_error",
            }
        ]
    }


def test_an_error_is_worded_by_its_message_id_and_keeps_its_code() -> None:
    error = errors.BadRequest(code="limit_reached", message_id="too_many_old_secrets", limit=10)
    assert error.message_id == "too_many_old_secrets"
    assert orjson.loads(render(error).body) == {
        "code": "limit_reached",
        "detail": "at most 10 old secrets may be valid at once; wait for one to expire",
    }


def test_every_message_id_raised_has_its_english() -> None:
    raised = raised_message_ids()
    assert sorted(raised - set(MESSAGES)) == ["validation_error"]  # worded per problem
    # Every line of the table is raised somewhere (no dead words for the portal to translate).
    assert sorted(set(MESSAGES) - raised) == []


def test_an_unavailable_database_says_when_to_retry() -> None:
    rendered = render(errors.Unavailable("the database is unreachable"))
    assert rendered.status == 503
    assert rendered.headers == ((b"retry-after", b"1"),)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = await open_runtime(Settings(database_url=database_url, api_token=TOKEN))
    await runtime.admit_operator()
    transport = httpx.ASGITransport(app=runtime.api())
    async with httpx.AsyncClient(transport=transport, base_url="http://hookpost") as c:
        yield c
    await runtime.close()


def assert_rendered(answer: httpx.Response, error: errors.HookpostError) -> None:
    expected = render(error)
    assert answer.status_code == expected.status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == expected.body


async def test_handler_fast_path_and_middleware_answer_through_the_same_table(
    client: httpx.AsyncClient,
) -> None:
    missing = errors.NotFound(entity="application")
    # The route handler (a GET never takes the fast path).
    assert_rendered(await client.get("/api/v1/app/nope", headers=AUTH), missing)
    # The publish fast path: a valid, authorised publish to an application that is missing.
    published = await client.post(
        "/api/v1/app/nope/msg", json={"eventType": "x", "payload": {}}, headers=AUTH
    )
    assert_rendered(published, missing)
    # The middleware, before any route: an idempotency key that is too long.
    refused = await client.post(
        "/api/v1/app", json={"name": "a"}, headers={**AUTH, "idempotency-key": "k" * 300}
    )
    too_long = errors.InvalidInput.at(
        ("header", "idempotency-key"), "idempotency_key_too_long", limit=256
    )
    assert_rendered(refused, too_long)


async def test_a_rule_of_core_broken_in_a_body_is_worded_by_its_id(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post("/api/v1/app", json={"name": "a", "uid": "a b"}, headers=AUTH)
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "uid"]
    # The table's words, whether the rule is broken in a body (pydantic) or a path.
    assert problem["msg"] == "must be 1-256 characters of letters, digits, '-', '_' or '.'"
    path = await client.put("/api/v1/app/a%20b", json={"name": "a"}, headers=AUTH)
    assert path.status_code == 422, path.text
    assert path.json()["detail"][0]["msg"] == problem["msg"]


def english(message_id: str, **params: str | int) -> str:
    worded = wording.english(message_id, params)
    assert worded is not None, message_id
    return worded


async def new_app(client: httpx.AsyncClient) -> str:
    created = await client.post("/api/v1/app", json={"name": "errors"}, headers=AUTH)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize(
    ("url", "kind", "message_id", "params"),
    [
        ("ftp://example.com/", "url.scheme", "url_scheme_unsupported", {"scheme": "ftp"}),
        ("https://example.com:99999/", "url.port", "url_port_invalid", {"port": "99999"}),
        ("https://user:pw@example.com/", "url.credentials", "url_credentials", {}),
        ("http://localhost/", "url.blocked_name", "url_name_loopback", {"host": "localhost"}),
    ],
)
async def test_a_bad_url_is_a_422_in_the_tables_english(
    client: httpx.AsyncClient, url: str, kind: str, message_id: str, params: dict[str, str]
) -> None:
    app = await new_app(client)
    answer = await client.post(f"/api/v1/app/{app}/endpoint", json={"url": url}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "detail": [{"loc": ["body", "url"], "msg": english(message_id, **params), "type": kind}]
    }


async def test_a_blocked_address_names_it_in_the_tables_english(
    client: httpx.AsyncClient,
) -> None:
    app = await new_app(client)
    url = "http://169.254.169.254/latest"
    answer = await client.post(f"/api/v1/app/{app}/endpoint", json={"url": url}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert problem["type"] == "url.blocked_address"
    assert problem["msg"] == english(
        "url_blocked_address",
        rule="cloud_metadata",
        explanation="169.254.169.254 is a cloud metadata service address, which hands out "
        "credentials",
    )


async def test_a_bad_secret_is_a_422_in_the_tables_english(client: httpx.AsyncClient) -> None:
    app = await new_app(client)
    short = "whsec_" + base64.b64encode(b"k" * 10).decode()
    body = {"url": "https://example.com/hook", "secret": short}
    answer = await client.post(f"/api/v1/app/{app}/endpoint", json=body, headers=AUTH)
    assert answer.status_code == 422, answer.text
    msg = english("secret_length", min=24, max=75, length=10)
    assert msg == "secret must decode to 24 to 75 bytes, got 10"
    assert answer.json() == {
        "detail": [{"loc": ["body", "secret"], "msg": msg, "type": "value_error"}]
    }
    # Rotating to a key that is not base64 at all: the same table, at `key`.
    body = {"url": "https://example.com/hook"}
    endpoint = (await client.post(f"/api/v1/app/{app}/endpoint", json=body, headers=AUTH)).json()
    rotate = f"/api/v1/app/{app}/endpoint/{endpoint['id']}/secret/rotate"
    answer = await client.post(rotate, json={"key": "whsec_not*base64"}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert (problem["loc"], problem["msg"]) == (["body", "key"], english("secret_not_base64"))


async def test_unknown_routes_and_wrong_methods_answer_svix_bodies_from_the_table(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/v1/no-such-thing", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "detail": english("route_not_found")}
    wrong = await client.delete("/api/v1/app", headers=AUTH)
    assert wrong.status_code == 405
    assert wrong.json() == {"code": "method_not_allowed", "detail": english("method_not_allowed")}
    assert set(wrong.headers["allow"].split(", ")) >= {"GET", "POST"}


async def test_pydantic_problems_a_body_can_have_are_worded_by_the_table(
    client: httpx.AsyncClient,
) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    broken = await client.post("/api/v1/app", content=b'{"name": ', headers=headers)
    assert broken.status_code == 422
    [problem] = broken.json()["detail"]
    assert problem["type"] == "value_error.jsondecode"
    assert problem["msg"].startswith("The body is not valid JSON: ")
    missing = await client.post("/api/v1/app", json={}, headers=AUTH)
    assert missing.status_code == 422
    assert missing.json() == {
        "detail": [{"loc": ["body", "name"], "msg": english("field_required"), "type": "missing"}]
    }


def test_a_bug_is_a_500_with_a_svix_body() -> None:
    rendered = render(Unexpected(message_id="internal_error"))
    assert rendered.status == 500
    body = {"code": "internal_error", "detail": "An unexpected error occurred"}
    assert orjson.loads(rendered.body) == body
