"""One error table: `render(error)` gives every error its status, body and headers, and the
route handlers, the publish fast path and the middleware all answer through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from hookpost.api.errors import SlowBody, render
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
    rendered = render(errors.InvalidInput.at(("body", "uid"), "too long", "value_error.length"))
    assert rendered.status == 422
    assert orjson.loads(rendered.body) == {
        "detail": [{"loc": ["body", "uid"], "msg": "too long", "type": "value_error.length"}]
    }


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
        ("header", "idempotency-key"), "must be at most 256 ASCII characters"
    )
    assert_rendered(refused, too_long)
