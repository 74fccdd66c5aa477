"""Importing a whole event catalog at once: create or update each type, archive the rest.

Used by `POST /event-type/import/openapi` and by `hookpost catalog import` (through the API).
"""

from __future__ import annotations

from hookpost.core.event_catalog import CatalogEntry
from hookpost.service.applications import CatalogService

_PAGE = 250


class CatalogImport:
    def __init__(self, catalog: CatalogService) -> None:
        self._catalog = catalog

    async def apply(
        self, org_id: str, entries: list[CatalogEntry], *, dry_run: bool, replace_all: bool
    ) -> list[str]:
        """The names written (or, with `dry_run`, that would be); an archived type that is
        imported again comes back unarchived."""
        modified = [entry.name for entry in entries]
        if replace_all:
            wanted = set(modified)
            modified += [name for name in await self._active_names(org_id) if name not in wanted]
        if dry_run:
            return modified
        for entry in entries:
            await self._catalog.put(org_id, entry.name, entry.fields)
        if replace_all:
            for name in modified[len(entries) :]:
                await self._catalog.patch(org_id, name, {"archived": True})
        return modified

    async def _active_names(self, org_id: str) -> list[str]:
        names: list[str] = []
        iterator = None
        while True:
            page = await self._catalog.list(
                org_id, limit=_PAGE, iterator=iterator, include_archived=False
            )
            names += [event_type.name for event_type in page.items]
            if not page.has_more or not page.items:
                return names
            iterator = page.items[-1].name
