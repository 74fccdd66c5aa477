"""HTTP plumbing shared by the routes: orjson responses, strict JSON request bodies.

Bodies are parsed by `hookpost.codec` (no NaN, bounded depth, exact big integers) instead of
the standard library, which accepts NaN and crashes on deep nesting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Send

from hookpost import codec
from hookpost.api.deps import organization


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return codec.dumps(content)


def json_response(content: Any, status_code: int = 200) -> JsonResponse:
    return JsonResponse(content, status_code=status_code)


async def send_json(
    send: Send, status: int, payload: bytes, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """Answer straight on ASGI (for middleware and the fast path, which run before routing)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def no_content() -> Response:
    return Response(status_code=204)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = codec.loads(body)
            except codec.JsonError as exc:
                # FastAPI turns this exact exception type into a 422 naming the body.
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class HookpostRoute(APIRoute):
    """Authenticated routes whose handlers see `StrictJsonRequest`s.

    The caller is authenticated before the body is read, so a request with a bad token gets
    a 401 whatever its body, as Svix answers.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            strict = StrictJsonRequest(request.scope, request.receive)
            await organization(strict)
            return await handler(strict)

        return strict_handler


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the already-read `body` once, whole, then defers to `receive`."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
