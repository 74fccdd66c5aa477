"""The error table: every failure becomes a JSON body the Svix SDKs parse, never HTML or 500s.

422s carry `{"detail": [{"loc", "msg", "type"}]}`; everything else `{"code", "detail"}`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookpost.api.http import json_response
from hookpost.core import errors

log = logging.getLogger("hookpost.api")

STATUS: dict[type[errors.HookpostError], int] = {
    errors.BadRequest: 400,
    errors.AuthenticationFailed: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.InvalidInput: 422,
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


def status_of(error: errors.HookpostError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"code": code, "detail": detail}


def validation_body(problems: list[errors.FieldProblem]) -> dict[str, Any]:
    return {"detail": [{"loc": list(p.loc), "msg": p.msg, "type": p.type} for p in problems]}


def _readable_type(kind: str) -> str:
    # Svix's clients know `value_error.jsondecode` for bodies that are not JSON at all.
    return "value_error.jsondecode" if kind == "json_invalid" else kind


async def on_hookpost_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.HookpostError)
    status = status_of(exc)
    if isinstance(exc, errors.InvalidInput):
        return json_response(validation_body(exc.problems), status)
    response = json_response(error_body(exc.code, exc.detail), status)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


async def on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid value"))
        if error.get("type") == "json_invalid":
            message = f"The body is not valid JSON: {error.get('ctx', {}).get('error', '')}"
        loc = tuple(p for p in error.get("loc", ()) if not isinstance(p, int) or p >= 0)
        problems.append(errors.FieldProblem(loc, message, _readable_type(str(error["type"]))))
    return json_response(validation_body(problems), 422)


async def on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if status == 404:
        detail = "Entity not found" if detail == "Not Found" else detail
    return json_response(error_body(_HTTP_CODES.get(status, "http_error"), detail), status)


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response(error_body("internal_error", "An unexpected error occurred"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.HookpostError, on_hookpost_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected_error)
