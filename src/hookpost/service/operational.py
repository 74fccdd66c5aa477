"""Operational webhooks: tell the operator when endpoints fail, recover or get disabled.

They travel like any webhook (stored, signed, retried, in the history): as messages of an
internal application, to one endpoint at the operator's URL, as the Svix server does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hookpost.core.errors import ConfigurationError, Conflict, InvalidInput
from hookpost.core.fields import ApplicationFields, EndpointFields
from hookpost.core.models import Application
from hookpost.core.outcomes import AttemptRecord, Notice
from hookpost.service.endpoints import EndpointService
from hookpost.service.messages import MessageService, Publication
from hookpost.store.ports import Operational

APP_UID = "hookpost-operational"
APP_NAME = "hookpost operational webhooks"
ENDPOINT_UID = "operator"
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
        """Publish one operational message per notice the recorded attempts produced."""
        app = self._app
        if app is None:
            return
        for record in records:
            if record.claim.message.app_id == app.id:
                continue  # the operator's own endpoint failing must not notify itself
            for notice in record.decision.notices:
                await self._messages.publish(
                    app.org_id,
                    app.id,
                    Publication(event_type=str(notice), payload=notice_payload(notice, record)),
                )
