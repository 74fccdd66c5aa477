"""A fast path for the hottest route, publishing (`POST /api/v1/app/{app}/msg`).

Well-formed, authorised publishes skip FastAPI's routing and dependency machinery; anything
unusual (bad token, not JSON, invalid fields) falls through to the regular route, so every
error still comes from one place with one shape.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pydantic
from starlette.types import ASGIApp, Receive, Scope, Send

from hookpost import codec
from hookpost.api.errors import send_error
from hookpost.api.http import replay_body, send_json
from hookpost.api.metrics import ROUTE_KEY
from hookpost.api.wire import outputs
from hookpost.api.wire.inputs import MessageIn
from hookpost.core.errors import HookpostError
from hookpost.service.container import Services

_PUBLISH = re.compile(r"^/api/v1/app/([^/]+)/msg$")
PUBLISH_ROUTE = "/api/v1/app/{app_id}/msg"  # the regular route's template
_JSON_TYPES = (b"application/json",)
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


class FastPublish:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PUBLISH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        request = self._understood(scope, body)
        if request is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        org_id = await self._organization(scope)
        if org_id is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        message_in, with_content = request
        scope[ROUTE_KEY] = PUBLISH_ROUTE  # for the request timer (api/metrics.py)
        key = scope.get("state", {}).get("idempotency_key")
        try:
            published = await self.services.messages.publish(
                org_id, match.group(1), message_in.publication(), idempotency_key=key
            )
        except HookpostError as exc:
            await send_error(send, exc)
            return
        rendered = outputs.message(published.message, with_content=with_content)
        await send_json(send, 202, codec.dumps(rendered))

    def _understood(self, scope: Scope, body: bytes) -> tuple[MessageIn, bool] | None:
        """The validated request, or None to let the regular route explain what is wrong."""
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if not content_type.split(b";")[0].strip().lower().endswith(_JSON_TYPES):
            return None
        with_content = True
        for name, value in parse_qsl(scope["query_string"].decode("latin-1")):
            if name == "with_content":
                if value.lower() not in _BOOLEANS:
                    return None
                with_content = _BOOLEANS[value.lower()]
        try:
            return MessageIn.model_validate(codec.loads(body)), with_content
        except (codec.JsonError, pydantic.ValidationError):
            return None

    async def _organization(self, scope: Scope) -> str | None:
        authorization = dict(scope["headers"]).get(b"authorization")
        try:
            return await self.services.access.authenticate(
                None if authorization is None else authorization.decode("latin-1")
            )
        except HookpostError:
            return None


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
