"""`POST /api/v1/event-type/import/openapi`: the event catalog from an OpenAPI document.

As the svix SDK's `event_type.import_openapi` calls it: `spec` (an object) or `specRaw` (YAML
or JSON text), `dryRun`, `replaceAll`.
"""

from typing import Any

from fastapi import APIRouter, Response

from hookpost.api.deps import OrgId, Svc
from hookpost.api.http import HookpostRoute, json_response
from hookpost.api.wire.rules import WireModel
from hookpost.core.errors import InvalidInput
from hookpost.core.event_catalog import CatalogError, from_openapi
from hookpost.service.catalog_import import CatalogImport

router = APIRouter(prefix="/api/v1/event-type", tags=["Event Type"], route_class=HookpostRoute)


class ImportOpenApiIn(WireModel):
    dry_run: bool = False
    replace_all: bool = False
    spec: dict[str, Any] | None = None
    spec_raw: str | None = None


def _document(body: ImportOpenApiIn) -> Any:
    if (body.spec is None) == (body.spec_raw is None):
        raise InvalidInput.at(("body",), "spec_exactly_one")
    if body.spec is not None:
        return body.spec
    import yaml  # noqa: PLC0415 - a rare request; a server process need not carry PyYAML

    try:
        # safe_load builds plain data only (no tags that run code); JSON is valid YAML.
        return yaml.safe_load(body.spec_raw or "")
    except yaml.YAMLError as exc:
        raise InvalidInput.at(("body", "specRaw"), "spec_unreadable", reason=str(exc)) from None


@router.post("/import/openapi")
async def import_openapi(body: ImportOpenApiIn, org: OrgId, svc: Svc) -> Response:
    try:
        entries = from_openapi(_document(body))
    except CatalogError as exc:
        raise InvalidInput.said(("body", "spec"), str(exc)) from None
    modified = await CatalogImport(svc.catalog).apply(
        org, entries, dry_run=body.dry_run, replace_all=body.replace_all
    )
    data: dict[str, Any] = {"modified": modified}
    if body.dry_run:
        data["to_modify"] = [
            {
                "name": entry.name,
                "description": entry.fields.description,
                "schemas": entry.fields.schemas,
                "deprecated": entry.fields.deprecated,
                "groupName": entry.fields.group_name,
                "featureFlags": None,
            }
            for entry in entries
        ]
    return json_response({"data": data})
