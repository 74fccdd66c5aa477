"""Endpoint use cases: registering URLs with filters and headers, secrets and their rotation.

Filters must name event types that exist in the catalog (or be `prefix.*` wildcards); URLs
must pass the URL rules before they are stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from hookpost.core import headers as header_rules
from hookpost.core import ids, names, signing
from hookpost.core.errors import BadRequest, InvalidInput, NotFound
from hookpost.core.event_filter import exact_names
from hookpost.core.fields import EndpointFields
from hookpost.core.models import Endpoint, Page, Published
from hookpost.service.lookup import require_app, require_endpoint
from hookpost.service.messages import MessageService, Publication
from hookpost.store.ports import EndpointAdmin, EventTypes, Lookups

SECRET_BYTES = 24
PING = "svix.ping"
UrlCheck = Callable[[str], Awaitable[str]]  # the normalised URL, or raises InvalidInput


class EndpointService:
    def __init__(
        self,
        lookups: Lookups,
        store: EndpointAdmin,
        event_types: EventTypes,
        messages: MessageService,
        *,
        entropy: Callable[[int], bytes],
        check_url: UrlCheck,
    ) -> None:
        self._lookups = lookups
        self._store = store
        self._event_types = event_types
        self._messages = messages
        self._entropy = entropy
        self._check_url = check_url

    def new_secret(self) -> str:
        return signing.generate_secret(self._entropy(SECRET_BYTES))

    async def list(
        self, org_id: str, app_ref: str, *, limit: int, iterator: str | None, descending: bool
    ) -> Page[Endpoint]:
        app = await require_app(self._lookups, org_id, app_ref)
        return await self._store.list_endpoints(
            org_id, app.id, limit=limit, iterator=iterator, descending=descending
        )

    async def get(self, org_id: str, app_ref: str, ref: str) -> Endpoint:
        return await require_endpoint(self._lookups, org_id, app_ref, ref)

    async def create(
        self, org_id: str, app_ref: str, fields: EndpointFields, secret: str | None
    ) -> Endpoint:
        app = await require_app(self._lookups, org_id, app_ref)
        fields = await self._checked(org_id, fields)
        return await self._store.create_endpoint(
            org_id, app.id, fields, self._secret(secret, "secret")
        )

    async def put(
        self, org_id: str, app_ref: str, ref: str, fields: EndpointFields
    ) -> tuple[Endpoint, bool]:
        app = await require_app(self._lookups, org_id, app_ref)
        fields = await self._checked(org_id, fields)
        if fields.uid is None and not ref.startswith(ids.ENDPOINT):
            # As for applications: a later GET (or PUT) by the path value must find this
            # endpoint, or every repeated PUT would create another one.
            problem = names.check_uid(ref, ids.ENDPOINT)
            if problem:
                raise InvalidInput.broken(("path", "endpoint_id"), problem)
            fields = EndpointFields(**{**vars(fields), "uid": ref})
        elif not names.is_name(ref):
            raise InvalidInput.at(("path", "endpoint_id"), "not_an_endpoint_ref")
        return await self._store.put_endpoint(org_id, app.id, ref, fields, self.new_secret())

    async def patch(
        self, org_id: str, app_ref: str, ref: str, changes: Mapping[str, Any]
    ) -> Endpoint:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, ref)
        changes = dict(changes)
        if "url" in changes:
            changes["url"] = await self._check_url(changes["url"])
        if changes.get("event_types") is not None:
            await self._check_event_types(org_id, changes["event_types"])
        return await self._update(endpoint, changes)

    async def delete(self, org_id: str, app_ref: str, ref: str) -> None:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, ref)
        await self._store.delete_endpoint(org_id, endpoint.app_id, endpoint.id)

    async def rotate_secret(
        self, org_id: str, app_ref: str, ref: str, secret: str | None, grace_seconds: int
    ) -> Endpoint:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, ref)
        rotated = await self._store.rotate_endpoint_secret(
            org_id,
            endpoint.app_id,
            endpoint.id,
            self._secret(secret, "key"),
            timedelta(seconds=grace_seconds),
        )
        if rotated is None:
            raise NotFound(entity="endpoint")
        return rotated

    async def set_headers(
        self, org_id: str, app_ref: str, ref: str, headers: Mapping[str, str]
    ) -> Endpoint:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, ref)
        return await self._update(endpoint, {"headers": dict(headers)})

    async def patch_headers(
        self,
        org_id: str,
        app_ref: str,
        ref: str,
        changes: Mapping[str, str | None],
        deletions: tuple[str, ...] = (),
    ) -> Endpoint:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, ref)
        removed = {n.lower() for n in deletions} | {
            n.lower() for n, v in changes.items() if v is None
        }
        merged = {n: v for n, v in endpoint.headers.items() if n.lower() not in removed}
        for name, value in changes.items():
            if value is not None:
                merged = {n: v for n, v in merged.items() if n.lower() != name.lower()}
                merged[name] = value
        problem = header_rules.check_headers(merged)
        if problem:
            raise InvalidInput.broken(("body", "headers"), problem)
        return await self._update(endpoint, {"headers": merged})

    async def send_example(
        self, org_id: str, app_ref: str, ref: str, event_type: str, example_index: int
    ) -> Published:
        """Publish an example of `event_type` to this endpoint alone, whatever its filters."""
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, ref)
        if endpoint.disabled:
            raise BadRequest(code="endpoint_disabled")
        payload = await self._example_payload(org_id, event_type, example_index)
        return await self._messages.publish(
            org_id,
            endpoint.app_id,
            Publication(event_type=event_type, payload=payload),
            only_endpoint=endpoint.id,
        )

    async def _example_payload(self, org_id: str, event_type: str, index: int) -> dict[str, Any]:
        if event_type == PING:
            return {"success": True}
        found = await self._event_types.get_event_type(org_id, event_type)
        if found is None:
            raise NotFound(entity="event_type")
        schema = (found.schemas or {}).get("1")
        examples = schema.get("examples") if isinstance(schema, dict) else None
        if not isinstance(examples, list) or index >= len(examples):
            raise BadRequest(code="invalid_scheme", message_id="example_missing")
        example = examples[index]
        if not isinstance(example, dict):
            raise BadRequest(code="invalid_scheme", message_id="example_not_object")
        return example

    async def _update(self, endpoint: Endpoint, changes: Mapping[str, Any]) -> Endpoint:
        updated = await self._store.update_endpoint(
            endpoint.org_id, endpoint.app_id, endpoint.id, changes
        )
        if updated is None:
            raise NotFound(entity="endpoint")
        return updated

    async def _checked(self, org_id: str, fields: EndpointFields) -> EndpointFields:
        await self._check_event_types(org_id, fields.event_types)
        url = await self._check_url(fields.url)
        if url == fields.url:
            return fields
        return EndpointFields(**{**vars(fields), "url": url})

    def _secret(self, secret: str | None, field: str) -> str:
        if secret is None:
            return self.new_secret()
        try:
            if secret.startswith(signing.ASYMMETRIC_SECRET_PREFIX):
                signing.public_key_of(secret)
                return secret
            return signing.validate_endpoint_secret(secret)
        except signing.SecretError as exc:
            raise InvalidInput.broken(("body", field), exc.problem) from None

    async def _check_event_types(self, org_id: str, event_types: tuple[str, ...] | None) -> None:
        if not event_types:
            return
        names = exact_names(event_types)
        live = await self._event_types.live_event_type_names(org_id, names)
        missing = [n for n in names if n not in live]
        if missing:
            raise InvalidInput.at(
                ("body", "eventTypes"), "event_types_missing", names=", ".join(missing)
            )
