"""One error table: `render(error)` gives every error its status, body and headers, and the
route handlers, the publish fast path and the middleware all answer through it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from hookpost.api.errors import MESSAGES, SlowBody, render
from hookpost.config import Settings
from hookpost.core import errors
from hookpost.runtime import open_runtime
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


SOURCE = Path(__file__).resolve().parents[1] / "src" / "hookpost"
# message_id="...", an error named by its code alone (the id defaults to it),
# NotFound(entity="..."), InvalidInput.at(loc, "...") and the rules' Problem.of("..."), over
# one or more lines.
RAISED = re.compile(
    r'message_id="(?P<id>[a-z0-9_]+)"'
    r'|\(code="(?P<code>[a-z0-9_]+)"\)'
    r'|NotFound\((?:[^()]*, )?entity="(?P<entity>[a-z0-9_]+)"'
    r'|InvalidInput\.at\(\s*(?:\([^()]*\)|\w+),\s*"(?P<input>[a-z0-9_]+)"'
    r'|Problem\.of\(\s*"(?P<rule>[a-z0-9_]+)"'
)


def test_every_message_id_raised_has_its_english() -> None:
    raised = set()
    for path in SOURCE.rglob("*.py"):
        for found in RAISED.finditer(path.read_text()):
            kind = found.lastgroup
            name = found.group(kind)
            raised.add(f"{name}_not_found" if kind == "entity" else name)
    assert len(raised) > 40  # the pattern still finds the raise sites
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
