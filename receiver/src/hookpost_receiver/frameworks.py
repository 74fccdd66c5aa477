"""Small adapters that verify webhooks inside FastAPI/Starlette, Flask, aiohttp and Django.

Each imports its framework only when used, so the receiver library needs none installed.
"""

# No `from __future__ import annotations` here: FastAPI inspects the dependency's
# annotations at runtime, and its `Request` is only a local name inside the factory.

import functools
import importlib
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from hookpost_receiver.errors import WebhookVerificationError
from hookpost_receiver.webhook import Webhook

if TYPE_CHECKING:
    from aiohttp import web
    from starlette.requests import Request

P = ParamSpec("P")
R = TypeVar("R")
Secrets = str | Sequence[str] | Webhook


def _webhook(secret: Secrets) -> Webhook:
    return secret if isinstance(secret, Webhook) else Webhook(secret)


def flask_verify(secret: Secrets) -> Callable[[Callable[Concatenate[Any, P], R]], Callable[P, R]]:
    """Decorate a Flask view: it gets the verified payload first; a bad request gets 400.

    @app.post("/webhook")
    @flask_verify(secret)
    def hook(payload): ...
    """
    webhook = _webhook(secret)

    def decorate(view: Callable[Concatenate[Any, P], R]) -> Callable[P, R]:
        @functools.wraps(view)
        def verified(*args: P.args, **kwargs: P.kwargs) -> R:
            # Through importlib so type checking works whether or not Flask is installed.
            request = importlib.import_module("flask").request
            try:
                payload = webhook.verify(request.get_data(), request.headers)
            except WebhookVerificationError as exc:
                http_errors = importlib.import_module("werkzeug.exceptions")
                raise http_errors.BadRequest(description=str(exc)) from exc
            return view(payload, *args, **kwargs)

        return verified

    return decorate


def fastapi_dependency(
    secret: Secrets,
) -> "Callable[[Request], Coroutine[Any, Any, Any]]":
    """A FastAPI dependency giving the verified payload, or HTTPException(400).

    @app.post("/webhook")
    async def hook(payload: Any = Depends(fastapi_dependency(secret))): ...
    """
    from fastapi import HTTPException, Request  # noqa: PLC0415 (optional dependency)

    webhook = _webhook(secret)

    async def verified_payload(request: Request) -> Any:
        body = await request.body()
        try:
            return webhook.verify(body, request.headers)
        except WebhookVerificationError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc

    return verified_payload


async def aiohttp_verify(request: "web.Request", webhook: Webhook) -> Any:
    """The verified payload of an aiohttp request; raises HTTPBadRequest (400) otherwise."""
    from aiohttp import web  # noqa: PLC0415 (optional dependency)

    body = await request.read()
    try:
        return webhook.verify(body, request.headers)
    except WebhookVerificationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc


def django_verify(request: Any, webhook: Webhook) -> Any:
    """The verified payload of a Django HttpRequest; raises BadRequest (Django answers 400)."""
    try:
        return webhook.verify(request.body, request.headers)
    except WebhookVerificationError as exc:
        # Through importlib so type checking works whether or not Django is installed.
        exceptions = importlib.import_module("django.core.exceptions")
        raise exceptions.BadRequest(str(exc)) from exc


async def starlette_verify(request: "Request", webhook: Webhook) -> Any:
    """The verified payload of a Starlette request; raises HTTPException(400) otherwise."""
    from starlette.exceptions import HTTPException  # noqa: PLC0415 (optional dependency)

    body = await request.body()
    try:
        return webhook.verify(body, request.headers)
    except WebhookVerificationError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
