"""Operational webhooks: tell the operator when endpoints fail, recover or get disabled.

They travel like any webhook (stored, signed, retried, in the history): as messages of an
internal application per organization, to that application's endpoints, as the Svix server
does. The endpoints come from two sources that coexist: `HOOKPOST_OPERATIONAL_WEBHOOK_URL`
(the endpoint with uid `operator` of the default organization, recreated or re-enabled on
every start) and the `/api/v1/operational-webhook/endpoint` API (`OperationalEndpoints`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hookpost.core.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from hookpost.core.fields import ApplicationFields, EndpointFields
from hookpost.core.models import Application, Endpoint, Page
from hookpost.core.outcomes import AttemptRecord, Notice
from hookpost.service.endpoints import EndpointService
from hookpost.service.messages import MessageService, Publication
from hookpost.store.ports import Operational

APP_UID = "hookpost-operational"
APP_NAME = "hookpost operational webhooks"
ENDPOINT_UID = "operator"
# Svix's operational event types: an endpoint may subscribe to any of them; hookpost sends
# the four of `Notice` (the others never occur here).
EVENT_TYPES = frozenset(
    {
        *(str(n) for n in Notice),
        "background_task.finished",
        "endpoint.created",
        "endpoint.deleted",
        "endpoint.enabled",
        "endpoint.updated",
        "message.attempt.log",
    }
)
log = logging.getLogger("hookpost.operational")


def _timestamp(record: AttemptRecord) -> str:
    return record.started_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def notice_payload(notice: Notice, record: AttemptRecord) -> dict[str, Any]:
    """The `{"type", "data"}` body Svix sends for each operational event."""
    claim = record.claim
    if notice is Notice.ENDPOINT_DISABLED:
        since = claim.endpoint.failing_since or record.started_at
        data: dict[str, Any] = {
            "appId": claim.message.app_id,
            "appUid": claim.app_uid,
            "endpointId": claim.endpoint.id,
            "endpointUid": claim.endpoint.uid,
            "failSince": since.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "trigger": "automatic",
        }
    else:
        data = {
            "appId": claim.message.app_id,
            "appUid": claim.app_uid,
            "msgId": claim.message.id,
            "msgEventId": claim.message.event_id,
            "endpointId": claim.endpoint.id,
            "lastAttempt": {
                "id": record.attempt_id,
                "responseStatusCode": record.outcome.status_code,
                "timestamp": _timestamp(record),
            },
        }
    return {"type": str(notice), "data": data}


class OperationalWebhooks:
    def __init__(
        self, store: Operational, messages: MessageService, endpoints: EndpointService
    ) -> None:
        self._store = store
        self._messages = messages
        self._endpoints = endpoints
        self._app: Application | None = None

    async def configure(self, url: str, secret: str | None) -> Application:
        """Create (or update) the internal application and the operator's endpoint.

        They live in hookpost's internal organization, out of every customer's sight.
        """
        await self._retire_visible_application()
        org = await self._store.ensure_internal_organization()
        app, _ = await self._store.get_or_create_application(
            org.id, ApplicationFields(APP_NAME, APP_UID)
        )
        fields = EndpointFields(url=url, uid=ENDPOINT_UID, description="the operator")
        existing = await self._store.get_endpoint(org.id, app.id, ENDPOINT_UID)
        try:
            if existing is None:
                await self._endpoints.create(org.id, app.id, fields, secret)
            elif existing.url != url or existing.disabled:
                await self._endpoints.patch(
                    org.id, app.id, ENDPOINT_UID, {"url": url, "disabled": False}
                )
        except (InvalidInput, Conflict) as exc:
            raise ConfigurationError(
                f"HOOKPOST_OPERATIONAL_WEBHOOK_URL is not usable: {exc}"
            ) from exc
        self._app = app
        return app

    async def _retire_visible_application(self) -> None:
        """Earlier versions kept the application in the default organization, where the
        operator's key listed it as a customer's: delete that one (its history stays)."""
        org = await self._store.ensure_organization()
        old = await self._store.get_application(org.id, APP_UID)
        if old is not None and old.name == APP_NAME:
            await self._store.delete_application(org.id, old.id)

    async def emit(self, records: Sequence[AttemptRecord]) -> None:
        """Publish one operational message per notice, to the organization's internal app."""
        apps: dict[str, Application | None] = {}
        if self._app is not None:
            apps[self._app.org_id] = self._app
        for record in records:
            if not record.decision.notices:
                continue
            org_id = record.claim.endpoint.org_id
            if org_id not in apps:  # set up through the API, or not at all
                apps[org_id] = await self._store.get_application(org_id, APP_UID)
            app = apps[org_id]
            if app is None or record.claim.message.app_id == app.id:
                continue  # an operational endpoint failing must not notify itself
            for notice in record.decision.notices:
                await self._messages.publish(
                    app.org_id,
                    app.id,
                    Publication(event_type=str(notice), payload=notice_payload(notice, record)),
                )


class OperationalEndpointService(EndpointService):
    """Endpoints of the internal application: their event types are Svix's operational ones,
    not the organization's catalog."""

    async def _check_event_types(
        self,
        org_id: str,  # noqa: ARG002 - the catalog's signature
        event_types: tuple[str, ...] | None,
    ) -> None:
        unknown = sorted(set(event_types or ()) - EVENT_TYPES)
        if unknown:
            raise InvalidInput.at(
                ("body", "eventTypes"),
                f"The following event types don't exist: {', '.join(unknown)}",
            )


class OperationalEndpoints:
    """`/api/v1/operational-webhook/endpoint`: the organization's operational endpoints."""

    def __init__(self, store: Operational, endpoints: OperationalEndpointService) -> None:
        self._store = store
        self._endpoints = endpoints

    async def _app(self, org_id: str) -> Application:
        app, _ = await self._store.get_or_create_application(
            org_id, ApplicationFields(APP_NAME, APP_UID)
        )
        return app

    async def _existing_app(self, org_id: str) -> Application:
        app = await self._store.get_application(org_id, APP_UID)
        if app is None:
            raise NotFound(entity="endpoint")
        return app

    async def list(
        self, org_id: str, *, limit: int, iterator: str | None, descending: bool
    ) -> Page[Endpoint]:
        app = await self._store.get_application(org_id, APP_UID)
        if app is None:
            return Page([], False)
        return await self._endpoints.list(
            org_id, app.id, limit=limit, iterator=iterator, descending=descending
        )

    async def create(self, org_id: str, fields: EndpointFields, secret: str | None) -> Endpoint:
        app = await self._app(org_id)
        return await self._endpoints.create(org_id, app.id, fields, secret)

    async def get(self, org_id: str, ref: str) -> Endpoint:
        app = await self._existing_app(org_id)
        return await self._endpoints.get(org_id, app.id, ref)

    async def put(self, org_id: str, ref: str, fields: EndpointFields) -> tuple[Endpoint, bool]:
        app = await self._app(org_id)
        return await self._endpoints.put(org_id, app.id, ref, fields)

    async def delete(self, org_id: str, ref: str) -> None:
        app = await self._existing_app(org_id)
        await self._endpoints.delete(org_id, app.id, ref)

    async def rotate_secret(
        self, org_id: str, ref: str, secret: str | None, grace_seconds: int
    ) -> Endpoint:
        app = await self._existing_app(org_id)
        return await self._endpoints.rotate_secret(org_id, app.id, ref, secret, grace_seconds)

    async def set_headers(self, org_id: str, ref: str, headers: dict[str, str]) -> Endpoint:
        app = await self._existing_app(org_id)
        return await self._endpoints.set_headers(org_id, app.id, ref, headers)
