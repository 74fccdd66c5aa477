"""Application and event-catalog use cases: thin, but the only way edges reach the store.

An application is one customer of the platform; the catalog is shared by the organization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookpost.core import ids, names
from hookpost.core.errors import InvalidInput, NotFound
from hookpost.core.fields import ApplicationFields, EndpointPresence, EventTypeFields
from hookpost.core.models import Application, EventType, Page
from hookpost.service.lookup import require_app
from hookpost.store.ports import Applications, EventTypes, Lookups


class ApplicationService:
    def __init__(self, lookups: Lookups, store: Applications) -> None:
        self._lookups = lookups
        self._store = store

    async def create(
        self, org_id: str, fields: ApplicationFields, *, get_if_exists: bool = False
    ) -> tuple[Application, bool]:
        if get_if_exists:
            return await self._store.get_or_create_application(org_id, fields)
        return await self._store.create_application(org_id, fields), True

    async def get(self, org_id: str, ref: str) -> Application:
        return await require_app(self._lookups, org_id, ref)

    async def list(
        self,
        org_id: str,
        *,
        limit: int,
        iterator: str | None,
        descending: bool,
        with_endpoints: EndpointPresence = None,
    ) -> Page[Application]:
        return await self._store.list_applications(
            org_id,
            limit=limit,
            iterator=iterator,
            descending=descending,
            with_endpoints=with_endpoints,
        )

    async def put(
        self, org_id: str, ref: str, fields: ApplicationFields
    ) -> tuple[Application, bool]:
        if fields.uid is None and not ref.startswith(ids.APPLICATION):
            # A later GET by the path value should find the app the PUT created.
            problem = names.check_uid(ref, ids.APPLICATION)
            if problem:
                raise InvalidInput.broken(("path", "app_id"), problem)
            fields = ApplicationFields(fields.name, ref, fields.throttle_rate, fields.metadata)
        elif not names.is_name(ref):
            raise InvalidInput.at(("path", "app_id"), "not_an_application_ref")
        return await self._store.put_application(org_id, ref, fields)

    async def patch(self, org_id: str, ref: str, changes: Mapping[str, Any]) -> Application:
        app = await require_app(self._lookups, org_id, ref)
        return await self._store.update_application(org_id, app.id, changes)

    async def delete(self, org_id: str, ref: str) -> None:
        app = await require_app(self._lookups, org_id, ref)
        await self._store.delete_application(org_id, app.id)


class CatalogService:
    def __init__(self, store: EventTypes) -> None:
        self._store = store

    async def create(self, org_id: str, name: str, fields: EventTypeFields) -> EventType:
        return await self._store.create_event_type(org_id, name, fields)

    async def put(self, org_id: str, name: str, fields: EventTypeFields) -> tuple[EventType, bool]:
        problem = names.check_event_type_name(name)
        if problem:
            raise InvalidInput.broken(("path", "event_type_name"), problem)
        return await self._store.put_event_type(org_id, name, fields)

    async def patch(self, org_id: str, name: str, changes: Mapping[str, Any]) -> EventType:
        if not names.is_name(name):
            raise NotFound(entity="event_type")
        updated = await self._store.update_event_type(org_id, name, changes)
        if updated is None:
            raise NotFound(entity="event_type")
        return updated

    async def get(self, org_id: str, name: str) -> EventType:
        event_type = await self._store.get_event_type(org_id, name) if names.is_name(name) else None
        if event_type is None:
            raise NotFound(entity="event_type")
        return event_type

    async def list(
        self, org_id: str, *, limit: int, iterator: str | None, include_archived: bool
    ) -> Page[EventType]:
        if iterator is not None and not names.is_name(iterator.removeprefix("-")):
            raise InvalidInput.at(("query", "iterator"), "iterator_not_an_event_type")
        return await self._store.list_event_types(
            org_id, limit=limit, iterator=iterator, include_archived=include_archived
        )

    async def delete(self, org_id: str, name: str, *, expunge: bool) -> None:
        if not names.is_name(name) or not await self._store.delete_event_type(
            org_id, name, expunge=expunge
        ):
            raise NotFound(entity="event_type")
