"""Publishing: turn a payload into the exact bytes to sign and send, store it, wake the workers.

An application named in the request body is created on the fly when the path names no app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hookpost import codec
from hookpost.core.errors import InvalidInput, NotFound, PayloadTooLarge
from hookpost.core.fields import ApplicationFields, MessageQuery, NewMessage
from hookpost.core.models import Message, Page, Published
from hookpost.core.names import is_name
from hookpost.service.lookup import require_app, require_message
from hookpost.store.ports import Lookups, MessageLog, Publisher


@dataclass(frozen=True)
class Publication:
    """What a caller asks to publish, before it is turned into bytes."""

    event_type: str
    payload: dict[str, Any]
    event_id: str | None = None
    channels: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    raw_payload: str | None = None
    retention_seconds: float = 90 * 86400.0
    application: ApplicationFields | None = None
    deliver_at: datetime | None = None  # first due then (Svix: best effort, within 24 hours)


class MessageService:
    def __init__(
        self,
        lookups: Lookups,
        store: Publisher,
        log: MessageLog,
        max_payload_bytes: int,
        wake: Callable[[], None],
    ) -> None:
        self._lookups = lookups
        self._store = store
        self._log = log
        self._max_payload = max_payload_bytes
        self._wake = wake

    async def publish(
        self,
        org_id: str,
        app_ref: str,
        publication: Publication,
        *,
        idempotency_key: str | None = None,
        only_endpoint: str | None = None,
    ) -> Published:
        if not is_name(app_ref):
            raise NotFound(entity="application")
        body = _body(publication)
        if len(body) > self._max_payload:
            raise PayloadTooLarge(
                message_id="payload_over_limit", size=len(body), limit=self._max_payload
            )
        create_app, refused = _inline_application(app_ref, publication.application)
        new = NewMessage(
            event_type=publication.event_type,
            payload=body,
            event_id=publication.event_id,
            channels=publication.channels,
            tags=publication.tags,
            raw_payload=publication.raw_payload is not None,
            retention_seconds=publication.retention_seconds,
            deliver_at=publication.deliver_at,
        )
        try:
            published = await self._store.publish(
                org_id,
                app_ref,
                new,
                create_app=create_app,
                idempotency_key=idempotency_key,
                only_endpoint=only_endpoint,
            )
        except NotFound as exc:
            # No application under that name, and the inline one cannot be it: say why.
            if refused is not None and exc.params.get("entity") == "application":
                raise refused from None
            raise
        if published.deliveries > published.handed_over and not published.rang:
            self._wake()  # some deliveries wait in the queue for a worker
        return published

    async def get(self, org_id: str, app_ref: str, ref: str) -> Message:
        return await require_message(self._lookups, org_id, app_ref, ref)

    async def list(self, org_id: str, app_ref: str, query: MessageQuery) -> Page[Message]:
        app = await require_app(self._lookups, org_id, app_ref)
        return await self._log.list_messages(org_id, app.id, query)

    async def expunge(self, org_id: str, app_ref: str, ref: str) -> None:
        message = await require_message(self._lookups, org_id, app_ref, ref)
        await self._log.expunge_message_content(org_id, message.app_id, message.id)


def _inline_application(
    app_ref: str, application: ApplicationFields | None
) -> tuple[ApplicationFields | None, InvalidInput | None]:
    """The application to create with the message if the path names none yet, or why the
    inline one cannot be created (raised only if the application does not exist).

    The store creates it inside the publishing transaction when it finds no application
    under `app_ref`, so an SDK publish that sends it every time costs no extra read.
    """
    if application is None:
        return None, None
    if application.uid is None:
        return None, InvalidInput.at(
            ("body", "application", "uid"),
            "application_uid_required",
            "application_uid_missing",
        )
    if application.uid != app_ref:
        return None, InvalidInput.at(
            ("body", "application", "uid"),
            "application_uid_mismatch",
            "application_uid_mismatch",
            uid=application.uid,
        )
    return application, None


def _body(publication: Publication) -> bytes:
    """The bytes to store and sign; text that UTF-8 cannot carry is the caller's error."""
    raw = publication.raw_payload
    loc = ("body", "payload") if raw is None else ("body", "transformationsParams", "rawPayload")
    try:
        return codec.dumps(publication.payload) if raw is None else raw.encode()
    except UnicodeEncodeError:  # an unpaired surrogate (the codec refuses them on the wire)
        raise InvalidInput.at(loc, "unpaired_surrogate") from None
