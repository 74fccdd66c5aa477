"""ASGI middleware in front of the routes: body limits, idempotency keys (api/front.py is
the outermost layer, before these).

Idempotency follows Svix: a POST with an `idempotency-key` is answered once; repeats within
the retention time get the first 2xx answer back, and a key whose request failed is freed.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookpost.api.errors import SlowBody, send_error
from hookpost.api.http import replay_body, send_json
from hookpost.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    PayloadTooLarge,
    Unavailable,
)
from hookpost.core.models import IdempotentAnswer
from hookpost.service.access import AccessService

BODY_READ_TIMEOUT = 30.0
ANONYMOUS_BODY_BYTES = 64 * 1024  # read before the token is checked; larger bodies wait for it
MAX_IDEMPOTENCY_KEY = 256
IDEMPOTENCY_LOCK = timedelta(seconds=30)
IDEMPOTENCY_WAIT = 10.0  # under the SDK's 15 s request timeout
# Message creation records its key inside the publishing transaction (crash-safe), so the
# generic cache is skipped for it.
_MESSAGE_CREATE = re.compile(r"^/api/v1/app/[^/]+/msg$")


class ClientGone(Exception):
    """The connection closed before the whole body arrived."""


class BodyLimitMiddleware:
    """Read bodies whole, up to a limit, before routing: 413 above it, 408 when too slow.

    An API body that may exceed `anonymous_bytes` is read only once its bearer token is
    known good (401 otherwise), so no one without a key can make the server buffer much.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        access: AccessService | None = None,
        anonymous_bytes: int = ANONYMOUS_BODY_BYTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.access = access
        self.anonymous_bytes = anonymous_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "DELETE", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        large = declared is None or int(declared) > self.anonymous_bytes
        if large and self.access is not None and scope["path"].startswith("/api/"):
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            try:
                org_id = await self.access.authenticate(authorization)
            except (AuthenticationFailed, Unavailable) as exc:
                await send_error(send, exc)
                return
            scope.setdefault("state", {})["org_id"] = org_id  # the route need not ask again
        try:
            async with asyncio.timeout(BODY_READ_TIMEOUT):
                body = await self._read(receive)
        except TimeoutError:
            await send_error(send, SlowBody(message_id="body_too_slow"))
            return
        except ClientGone:
            return  # the client left (or was cut off) mid-body: a partial body is no request
        if body is None:
            await self._too_large(send)
            return
        await self.app(scope, replay_body(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        too_large = PayloadTooLarge(message_id="request_too_large", limit=self.max_bytes)
        await send_error(send, too_large)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, access: AccessService, keep_for: timedelta) -> None:
        self.app = app
        self.access = access
        self.keep_for = keep_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key, authorization = headers.get(b"idempotency-key"), headers.get(b"authorization")
        if not raw_key or authorization is None:
            await self.app(scope, receive, send)
            return
        if len(raw_key) > MAX_IDEMPOTENCY_KEY or not raw_key.isascii():
            problem = InvalidInput.at(
                ("header", "idempotency-key"),
                "idempotency_key_too_long",
                limit=MAX_IDEMPOTENCY_KEY,
            )
            await send_error(send, problem)
            return
        key_hash = hashlib.sha256(
            b"\0".join([authorization, raw_key, scope["raw_path"], scope["query_string"]])
        ).hexdigest()
        scope.setdefault("state", {})["idempotency_key"] = key_hash
        if _MESSAGE_CREATE.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._claim(key_hash)
        except Unavailable as exc:
            await send_error(send, exc)
            return
        if answer is not None:
            await self._replay(send, answer)
            return
        await self._run_and_keep(scope, receive, send, key_hash)

    async def _claim(self, key_hash: str) -> IdempotentAnswer | None:
        """None when this request owns the key; otherwise the earlier request's answer."""
        waited, pause = 0.0, 0.02
        while True:
            answer = await self.access.claim_idempotency_key(
                key_hash, lock_for=IDEMPOTENCY_LOCK, keep_for=self.keep_for
            )
            if answer is None or not answer.running or waited >= IDEMPOTENCY_WAIT:
                return answer
            await asyncio.sleep(pause)  # a concurrent duplicate: wait for its answer
            waited += pause
            pause = min(pause * 2, 0.2)

    async def _replay(self, send: Send, answer: IdempotentAnswer) -> None:
        if answer.running:
            busy = Conflict(code="idempotency_conflict", message_id="idempotency_key_in_use")
            await send_error(send, busy)
            return
        replayed = ((b"idempotent-replayed", b"true"),)
        await send_json(send, answer.status_code or 200, answer.body or b"", replayed)

    async def _run_and_keep(
        self, scope: Scope, receive: Receive, send: Send, key_hash: str
    ) -> None:
        status = 500
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if 200 <= status < 300:
                await self.access.finish_idempotency_key(key_hash, status, b"".join(chunks))
            else:
                await self.access.release_idempotency_key(key_hash)
