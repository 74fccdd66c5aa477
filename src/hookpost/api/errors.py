"""The error table: every failure becomes a JSON body the Svix SDKs parse, never HTML or 500s.

422s carry `{"detail": [{"loc", "msg", "type"}]}`; everything else `{"code", "detail"}`, the
detail in English from `MESSAGES` (core/wording.py) by the error's message id; the portal
translates the same ids.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from hookpost import codec
from hookpost.api.http import json_response, send_json
from hookpost.api.methods import allowed_methods
from hookpost.core import errors, wording

log = logging.getLogger("hookpost.api")


class SlowBody(errors.HookpostError):
    """The request body did not arrive within the time allowed (408); an API-only error."""

    code = "request_timeout"


class MethodNotAllowed(errors.HookpostError):
    """The path exists but not with this method (405; Starlette's own, worded here)."""

    code = "method_not_allowed"


class Unexpected(errors.HookpostError):
    """A bug: an exception nothing else handled (500), answered in JSON all the same."""

    code = "internal_error"


STATUS: dict[type[errors.HookpostError], int] = {
    errors.BadRequest: 400,
    SlowBody: 408,
    errors.AuthenticationFailed: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    MethodNotAllowed: 405,
    errors.PayloadTooLarge: 413,
    errors.InvalidInput: 422,
    Unexpected: 500,
    errors.NotSupported: 501,
    errors.Unavailable: 503,
}
_HTTP_CODES = {
    400: "bad_request",
    401: "authentication_failed",
    403: "insufficient access",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# The English of every error and input problem raised by message id (core/wording.py, shared
# with the portal, which translates the same ids); the API words its answers from it.
MESSAGES = wording.ENGLISH


def describe(error: errors.HookpostError) -> str:
    """The English detail of `error`, by its message id."""
    worded = wording.english(error.message_id, error.params)
    return error.detail if worded is None else worded


def describe_problem(problem: errors.FieldProblem) -> str:
    """The English `msg` of one input problem, by its message id."""
    worded = wording.english(problem.message_id, problem.params)
    return problem.msg if worded is None else worded


def status_of(error: errors.HookpostError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"code": code, "detail": detail}


def validation_body(problems: list[errors.FieldProblem]) -> dict[str, Any]:
    return {
        "detail": [
            {"loc": list(p.loc), "msg": describe_problem(p), "type": p.type} for p in problems
        ]
    }


@dataclass(frozen=True)
class Rendered:
    """An error as the client receives it: status, JSON body and extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


def render(error: errors.HookpostError) -> Rendered:
    """The one mapping of an error to its answer, wherever in the stack it is raised."""
    status = status_of(error)
    if isinstance(error, errors.InvalidInput):
        body = validation_body(error.problems)
    else:
        body = error_body(error.code, describe(error))
    # The database is down for a moment: the SDKs retry a 503 that says when.
    headers = ((b"retry-after", b"1"),) if status == 503 else ()
    return Rendered(status, codec.dumps(body), headers)


async def send_error(send: Send, error: errors.HookpostError) -> None:
    """`render(error)` answered straight on ASGI, for code that runs before routing."""
    rendered = render(error)
    await send_json(send, rendered.status, rendered.body, rendered.headers)


def _readable_type(kind: str) -> str:
    # Svix's clients know `value_error.jsondecode` for bodies that are not JSON at all.
    return "value_error.jsondecode" if kind == "json_invalid" else kind


async def on_hookpost_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.HookpostError)
    rendered = render(exc)
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in rendered.headers}
    return Response(rendered.body, rendered.status, headers, media_type="application/json")


def _pydantic_problem(error: Mapping[str, Any]) -> errors.FieldProblem:
    """One of pydantic's errors as a problem: a rule of ours keeps its id; a missing field and
    a body that is not JSON get theirs; any other type error keeps pydantic's own words."""
    loc = tuple(p for p in error.get("loc", ()) if not isinstance(p, int) or p >= 0)
    kind = _readable_type(str(error["type"]))
    ctx = error.get("ctx", {})
    broken = ctx.get("error")
    if isinstance(broken, errors.RuleBroken):
        return errors.FieldProblem.of(loc, broken.problem, kind)
    if error["type"] == "json_invalid":
        reason = errors.Problem.of("body_not_json", reason=str(ctx.get("error", "")))
        return errors.FieldProblem.of(loc, reason, kind)
    if error["type"] == "missing":
        return errors.FieldProblem.of(loc, errors.Problem.of("field_required"), kind)
    return errors.FieldProblem(loc, str(error.get("msg", "invalid value")), kind)


async def on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_pydantic_problem(error) for error in exc.errors()]
    return json_response(validation_body(problems), 422)


def _http_error(status: int) -> errors.HookpostError:
    """Starlette's own refusals (no route, wrong method, ...) as errors of the table."""
    if status == 404:
        return errors.NotFound(entity="route")
    if status == 405:
        return MethodNotAllowed(message_id="method_not_allowed")
    return errors.HookpostError(
        code=_HTTP_CODES.get(status, "http_error"), message_id="http_error", status=status
    )


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    error = _http_error(status)
    response = json_response(error_body(error.code, describe(error)), status)
    if status == 405:
        # Starlette names the methods of the first route on the path; the path has more.
        allowed = allowed_methods(request.app.router.routes, request.scope)
        response.headers["allow"] = ", ".join(allowed)
    return response


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return await on_hookpost_error(request, Unexpected(message_id="internal_error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.HookpostError, on_hookpost_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
