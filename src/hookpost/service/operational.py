"""Operational webhooks: tell the operator when endpoints fail, recover or get disabled.

They travel like any webhook (stored, signed, retried, in the history): as messages of one
application per customer organization, to that application's endpoints, as the Svix server
does. Those applications live in hookpost's internal organization, which no API key belongs
to, so no customer lists or reaches them as their own (`operational_app_uid` names the one of
each organization). The endpoints come from two sources that coexist:
`HOOKPOST_OPERATIONAL_WEBHOOK_URL` (the endpoint with uid `operator` of the default
organization's application, recreated or re-enabled on every start) and the
`/api/v1/operational-webhook/endpoint` API (`OperationalEndpoints`).
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
from hookpost.store.ports import Applications, Lookups, Organizations

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


def operational_app_uid(org_id: str, default_org_id: str) -> str:
    """The uid, in the internal organization, of organization `org_id`'s operational app (the
    default organization's keeps the uid earlier versions gave it)."""
    return APP_UID if org_id == default_org_id else f"{APP_UID}.{org_id}"


class OperationalApps:
    """Finds (or makes) each customer organization's operational application."""

    def __init__(
        self, organizations: Organizations, applications: Applications, lookups: Lookups
    ) -> None:
        self._organizations = organizations
        self._applications = applications
        self.lookups = lookups
        self._orgs: tuple[str, str] | None = None  # (internal, default) organization ids

    async def organizations(self) -> tuple[str, str]:
        if self._orgs is None:
            internal = await self._organizations.ensure_internal_organization()
            default = await self._organizations.ensure_organization()
            self._orgs = (internal.id, default.id)
        return self._orgs

    async def find(self, org_id: str) -> Application | None:
        internal, default = await self.organizations()
        if org_id == internal:
            return None  # the operational applications' own endpoints notify nobody
        return await self.lookups.get_application(internal, operational_app_uid(org_id, default))

    async def find_or_create(self, org_id: str) -> Application:
        internal, default = await self.organizations()
        fields = ApplicationFields(APP_NAME, operational_app_uid(org_id, default))
        app, _ = await self._applications.get_or_create_application(internal, fields)
        return app

    async def retire_visible_application(self) -> None:
        """Earlier versions kept the application in the default organization, where the
        operator's key listed it as a customer's: delete that one (its history stays)."""
        org = await self._organizations.ensure_organization()
        old = await self.lookups.get_application(org.id, APP_UID)
        if old is not None and old.name == APP_NAME:
            await self._applications.delete_application(org.id, old.id)


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
        self, apps: OperationalApps, messages: MessageService, endpoints: EndpointService
    ) -> None:
        self._apps = apps
        self._messages = messages
        self._endpoints = endpoints

    async def configure(self, url: str, secret: str | None) -> Application:
        """Create (or update) the default organization's operational application and the
        operator's endpoint, in the internal organization, out of every customer's sight."""
        await self._apps.retire_visible_application()
        app = await self._apps.find_or_create((await self._apps.organizations())[1])
        fields = EndpointFields(url=url, uid=ENDPOINT_UID, description="the operator")
        existing = await self._apps.lookups.get_endpoint(app.org_id, app.id, ENDPOINT_UID)
        try:
            if existing is None:
                await self._endpoints.create(app.org_id, app.id, fields, secret)
            elif existing.url != url or existing.disabled:
                await self._endpoints.patch(
                    app.org_id, app.id, ENDPOINT_UID, {"url": url, "disabled": False}
                )
        except (InvalidInput, Conflict) as exc:
            raise ConfigurationError(
                f"HOOKPOST_OPERATIONAL_WEBHOOK_URL is not usable: {exc}"
            ) from exc
        return app

    async def emit(self, records: Sequence[AttemptRecord]) -> None:
        """Publish one operational message per notice, to the operational application of the
        organization whose endpoint it is about."""
        apps: dict[str, Application | None] = {}
        for record in records:
            if not record.decision.notices:
                continue
            org_id = record.claim.endpoint.org_id
            if org_id not in apps:  # set up by the variable or the API, or not at all
                apps[org_id] = await self._apps.find(org_id)
            app = apps[org_id]
            if app is None:
                continue
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
                ("body", "eventTypes"), "event_types_missing", names=", ".join(unknown)
            )


class OperationalEndpoints:
    """`/api/v1/operational-webhook/endpoint`: the organization's operational endpoints (of
    its application in the internal organization)."""

    def __init__(self, apps: OperationalApps, endpoints: OperationalEndpointService) -> None:
        self._apps = apps
        self._endpoints = endpoints

    async def _existing_app(self, org_id: str) -> Application:
        app = await self._apps.find(org_id)
        if app is None:
            raise NotFound(entity="endpoint")
        return app

    async def list(
        self, org_id: str, *, limit: int, iterator: str | None, descending: bool
    ) -> Page[Endpoint]:
        app = await self._apps.find(org_id)
        if app is None:
            return Page([], False)
        return await self._endpoints.list(
            app.org_id, app.id, limit=limit, iterator=iterator, descending=descending
        )

    async def create(self, org_id: str, fields: EndpointFields, secret: str | None) -> Endpoint:
        app = await self._apps.find_or_create(org_id)
        return await self._endpoints.create(app.org_id, app.id, fields, secret)

    async def get(self, org_id: str, ref: str) -> Endpoint:
        app = await self._existing_app(org_id)
        return await self._endpoints.get(app.org_id, app.id, ref)

    async def put(self, org_id: str, ref: str, fields: EndpointFields) -> tuple[Endpoint, bool]:
        app = await self._apps.find_or_create(org_id)
        return await self._endpoints.put(app.org_id, app.id, ref, fields)

    async def delete(self, org_id: str, ref: str) -> None:
        app = await self._existing_app(org_id)
        await self._endpoints.delete(app.org_id, app.id, ref)

    async def rotate_secret(
        self, org_id: str, ref: str, secret: str | None, grace_seconds: int
    ) -> Endpoint:
        app = await self._existing_app(org_id)
        return await self._endpoints.rotate_secret(app.org_id, app.id, ref, secret, grace_seconds)

    async def set_headers(self, org_id: str, ref: str, headers: dict[str, str]) -> Endpoint:
        app = await self._existing_app(org_id)
        return await self._endpoints.set_headers(app.org_id, app.id, ref, headers)
