"""The OpenAPI document says what the API answers: every error status with its body schema.

FastAPI declares a route's own success status and 422; the error table (api/errors.py) can
answer others on any authenticated route, so they are declared here, once, for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA = "HttpErrorOut"
VALIDATION_SCHEMA = "HTTPValidationError"
_ERROR_BODY: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "required": ["code", "detail"],
    "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
}
# What any authenticated route may answer besides its success (and 422, described apart).
ERRORS = {
    400: "The request cannot be acted on",
    401: "No or wrong API key",
    403: "The key may not call this route",
    404: "No such object for this key",
    409: "A duplicate uid, eventId or event type name",
    413: "The body is larger than the server accepts",
    429: "Too many requests",
    503: "The database is unavailable; retry after Retry-After seconds",
}
BODY_ERRORS = {408: "The body did not arrive in time"}
_HEALTH = "/api/v1/health"
_HEALTH_DOWN: dict[str, Any] = {
    "description": "The database does not answer",
    "content": {"application/json": {"schema": {"type": "object"}}},
}

# For routes that answer 201 when a PUT creates, or 200 when a POST finds what exists.
CREATED: dict[int | str, dict[str, Any]] = {201: {"description": "Created"}}
FOUND: dict[int | str, dict[str, Any]] = {200: {"description": "Found: it existed already"}}
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"description": "Server-sent events", "content": {"text/event-stream": {}}}
}


def install(api: FastAPI) -> None:
    """Make `api.openapi()` (and /openapi.json) return the document with the errors declared."""
    generate: Callable[[], dict[str, Any]] = api.openapi
    done = False

    def openapi() -> dict[str, Any]:
        nonlocal done
        document = generate()  # FastAPI keeps it in `api.openapi_schema` after the first call
        if not done:
            declare_errors(document)
            done = True
        return document

    api.openapi = openapi  # type: ignore[method-assign]


def declare_errors(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = _ERROR_BODY
    error = _json(ERROR_SCHEMA)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path.startswith(_HEALTH):
                if path == _HEALTH:
                    responses.setdefault("503", _HEALTH_DOWN)
                continue
            declared = {**ERRORS, **(BODY_ERRORS if "requestBody" in operation else {})}
            for status, description in declared.items():
                responses.setdefault(str(status), {"description": description, "content": error})
            responses.setdefault(
                "422",
                {"description": "A field breaks a rule", "content": _json(VALIDATION_SCHEMA)},
            )
            for status, response in responses.items():
                if status.startswith("2") and status != "204":
                    _one_success_type(response)
    # FastAPI declares HTTPValidationError only when some route has parameters; keep it sure.
    if VALIDATION_SCHEMA not in schemas:
        schemas[VALIDATION_SCHEMA] = {
            "title": VALIDATION_SCHEMA,
            "type": "object",
            "properties": {"detail": {"type": "array", "items": {"type": "object"}}},
        }


def _one_success_type(response: dict[str, Any]) -> None:
    """JSON unless the route declared another type (FastAPI adds JSON beside it)."""
    content = response.setdefault("content", {"application/json": {"schema": {}}})
    if len(content) > 1:
        content.pop("application/json", None)


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
