"""Event catalogs: both source catalogs and OpenAPI documents, imported through the CLI and
through the svix SDK (`event_type.import_openapi`), exported and imported back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from svix.api import EventTypeImportOpenApiIn, EventTypeListOptions, Svix, SvixOptions
from svix.exceptions import HTTPValidationError

from hookpost.core.event_catalog import example_of, from_catalog, to_openapi
from tests.support.cli import ROOT, hookpost
from tests.support.server import TOKEN, ServerProcess

CATALOGS = ROOT / "examples" / "catalogs"
SOURCES = {"billing-platform": (14, "es"), "payment-gateway": (16, "pt")}


def sdk(server: ServerProcess) -> Svix:
    return Svix(TOKEN, SvixOptions(server_url=server.url))


def catalog(server: ServerProcess) -> dict[str, object]:
    listed = sdk(server).event_type.list(
        EventTypeListOptions(limit=250, with_content=True, include_archived=True)
    )
    return {e.name: e for e in listed.data}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_source_catalog_files_are_complete(name: str) -> None:
    count, language = SOURCES[name]
    entries = from_catalog(yaml.safe_load((CATALOGS / f"{name}.yaml").read_text()))
    assert len(entries) == count
    for entry in entries:
        assert f"({language}: " in entry.fields.description  # English, then the original
        example = entry.example
        assert isinstance(example, dict)
        assert example["id"], "the example payload carries the object's id"
        schema = entry.fields.schemas["1"]  # type: ignore[index]
        assert set(schema["required"]) <= set(example)


def test_both_source_catalogs_through_the_cli(server: ServerProcess, tmp_path: Path) -> None:
    for name in sorted(SOURCES):
        done = hookpost(server, "catalog", "import", str(CATALOGS / f"{name}.yaml"))
        assert f"imported {SOURCES[name][0]} event types" in done.stderr
    found = catalog(server)
    assert {"invoice.finalized", "TransactionChargedback"} <= set(found)
    paid = found["invoice.paid"]
    assert paid.description.startswith("Fires when an invoice is paid. (es: ")  # type: ignore[attr-defined]
    assert example_of(paid.schemas)["id"] == "inv_3Kd9Pm1X"  # type: ignore[attr-defined]

    # Export as JSON and as OpenAPI, then import both back: nothing changes.
    exported = hookpost(server, "catalog", "export", "--format", "json").stdout
    document = json.loads(exported)
    assert len(document["eventTypes"]) >= 30
    openapi = yaml.safe_load(hookpost(server, "catalog", "export", "--format", "openapi").stdout)
    assert openapi["webhooks"]["TransactionCaptured"]["post"]["requestBody"]
    before = {n: (e.description, e.schemas) for n, e in catalog(server).items()}  # type: ignore[attr-defined]
    path = tmp_path / "exported-openapi.yaml"
    path.write_text(yaml.safe_dump(openapi))
    hookpost(server, "catalog", "import", str(path))
    after = {n: (e.description, e.schemas) for n, e in catalog(server).items()}  # type: ignore[attr-defined]
    assert after == before


def test_bad_catalog_files_fail_with_a_message(server: ServerProcess, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("eventTypes:\n  - name: 'has spaces'\n")
    done = hookpost(server, "catalog", "import", str(broken), check=False)
    assert done.returncode == 1
    assert "event type names" in done.stderr
    not_yaml = tmp_path / "x.yaml"
    not_yaml.write_text("eventTypes: [unclosed\n")
    assert (
        "not valid YAML" in hookpost(server, "catalog", "import", str(not_yaml), check=False).stderr
    )


def test_openapi_import_through_the_sdk(server: ServerProcess) -> None:
    hp = sdk(server)
    entries = from_catalog(yaml.safe_load((CATALOGS / "payment-gateway.yaml").read_text()))
    spec = to_openapi(entries)
    # Rename so this test's types are its own on the shared database.
    spec["webhooks"] = {f"sdk.{k}": v for k, v in spec["webhooks"].items()}

    dry = hp.event_type.import_openapi(EventTypeImportOpenApiIn(spec=spec, dry_run=True))
    assert len(dry.data.modified) == 16
    assert dry.data.to_modify is not None
    assert {t.name for t in dry.data.to_modify} == set(spec["webhooks"])
    assert "sdk.TransactionCreated" not in catalog(server)

    done = hp.event_type.import_openapi(EventTypeImportOpenApiIn(spec=spec))
    assert sorted(done.data.modified) == sorted(spec["webhooks"])
    got = catalog(server)["sdk.TransactionCaptured"]
    assert example_of(got.schemas)["id"] == "trx_9f83b2c1"  # type: ignore[attr-defined]

    # specRaw as YAML, with a $ref into components and an example beside the schema.
    raw = """
openapi: 3.1.0
info: {title: raw, version: "1"}
webhooks:
  sdk.raw.created:
    post:
      description: A raw thing was created.
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
            example: {id: thing_1}
components:
  schemas:
    Thing:
      type: object
      properties: {id: {type: string}}
      required: [id]
"""
    hp.event_type.import_openapi(EventTypeImportOpenApiIn(spec_raw=raw))
    thing = catalog(server)["sdk.raw.created"]
    assert thing.description == "A raw thing was created."  # type: ignore[attr-defined]
    assert thing.schemas["1"]["required"] == ["id"]  # type: ignore[attr-defined]
    assert example_of(thing.schemas) == {"id": "thing_1"}  # type: ignore[attr-defined]

    for bad in (
        EventTypeImportOpenApiIn(),
        EventTypeImportOpenApiIn(spec_raw="openapi: [unclosed"),
        EventTypeImportOpenApiIn(spec={"openapi": "3.1.0"}),
        EventTypeImportOpenApiIn(
            spec={"webhooks": {"x": {"post": {"requestBody": {"$ref": "#/nowhere"}}}}}
        ),
    ):
        with pytest.raises(HTTPValidationError) as caught:
            hp.event_type.import_openapi(bad)
        assert caught.value.status_code == 422
