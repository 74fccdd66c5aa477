"""Event catalogs as documents: hookpost's catalog files and an OpenAPI document's webhooks.

Pure conversions between those documents and event type fields; reading YAML is the edges'.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hookpost.core.fields import EventTypeFields
from hookpost.core.names import check_event_type_name

# Svix keeps schemas by version; hookpost writes and reads version "1".
SCHEMA_VERSION = "1"
_MAX_REF_DEPTH = 32


class CatalogError(ValueError):
    """A catalog document is not usable; the message says where and why."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    fields: EventTypeFields

    @property
    def example(self) -> Any:
        """The first example payload of the newest schema, if it has one."""
        return example_of(self.fields.schemas)


def example_of(schemas: Mapping[str, Any] | None) -> Any:
    if not schemas:
        return None
    newest = schemas[max(schemas, key=lambda v: (len(v), v))]
    if not isinstance(newest, Mapping):
        return None
    examples = newest.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    return newest.get("example")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CatalogError(f"{where}: expected text")
    return value


def _entry(name: Any, where: str, **fields: Any) -> CatalogEntry:
    name = _text(name, f"{where}.name")
    problem = check_event_type_name(name)
    if problem:
        raise CatalogError(f"{where}: {problem}")
    return CatalogEntry(name, EventTypeFields(**fields))


# hookpost catalog files -------------------------------------------------------------------


def from_catalog(document: Any) -> list[CatalogEntry]:
    """`{"eventTypes": [{"name", "description", "schema"?, "deprecated"?, "groupName"?,
    "featureFlags"?, "descriptions"?: {lang: text}}]}`; a bare list works too."""
    items = (
        document.get("eventTypes", document.get("event_types"))
        if isinstance(document, Mapping)
        else document
    )
    if not isinstance(items, list):
        raise CatalogError("a catalog is a mapping with an eventTypes list")
    entries, seen = [], set()
    for n, item in enumerate(items):
        where = f"eventTypes[{n}]"
        if not isinstance(item, Mapping):
            raise CatalogError(f"{where}: expected a mapping")
        description = _text(item.get("description", ""), f"{where}.description")
        translations = item.get("descriptions") or {}
        if not isinstance(translations, Mapping):
            raise CatalogError(f"{where}.descriptions: expected a mapping of language to text")
        for lang, text in translations.items():
            if lang != "en":
                description += f" ({_text(lang, where)}: {_text(text, f'{where}.{lang}')})"
        schema = item.get("schema")
        schemas = item.get("schemas")
        if schema is not None:
            if not isinstance(schema, Mapping):
                raise CatalogError(f"{where}.schema: expected a JSON schema object")
            schemas = {SCHEMA_VERSION: dict(schema)}
        if schemas is not None and not isinstance(schemas, Mapping):
            raise CatalogError(f"{where}.schemas: expected a mapping of version to schema")
        flags = item.get("featureFlags")
        entry = _entry(
            item.get("name"),
            where,
            description=description,
            deprecated=bool(item.get("deprecated", False)),
            schemas=None if schemas is None else dict(schemas),
            feature_flags=tuple(flags) if flags else None,
            group_name=item.get("groupName"),
        )
        if entry.name in seen:
            raise CatalogError(f"{where}: {entry.name!r} appears twice")
        seen.add(entry.name)
        entries.append(entry)
    return entries


def to_catalog(entries: list[CatalogEntry]) -> dict[str, Any]:
    items = []
    for entry in entries:
        item: dict[str, Any] = {"name": entry.name, "description": entry.fields.description}
        schemas = entry.fields.schemas
        if schemas and list(schemas) == [SCHEMA_VERSION]:
            item["schema"] = schemas[SCHEMA_VERSION]
        elif schemas:
            item["schemas"] = schemas
        if entry.fields.deprecated:
            item["deprecated"] = True
        if entry.fields.group_name:
            item["groupName"] = entry.fields.group_name
        if entry.fields.feature_flags:
            item["featureFlags"] = list(entry.fields.feature_flags)
        items.append(item)
    return {"eventTypes": items}


# OpenAPI ---------------------------------------------------------------------------------


def from_openapi(spec: Any) -> list[CatalogEntry]:
    """One event type per entry of `webhooks` (OpenAPI 3.1) or `x-webhooks` (3.0 extension).

    The schema is the request body's JSON schema with local `$ref`s inlined; examples from
    the media type join the schema's `examples`.
    """
    if not isinstance(spec, Mapping):
        raise CatalogError("an OpenAPI document is a mapping")
    hooks = spec.get("webhooks") or spec.get("x-webhooks")
    if not isinstance(hooks, Mapping) or not hooks:
        raise CatalogError("the OpenAPI document has no webhooks (or x-webhooks) section")
    entries = []
    for name, path_item in hooks.items():
        where = f"webhooks.{name}"
        if not isinstance(path_item, Mapping):
            raise CatalogError(f"{where}: expected a path item")
        operation = next(
            (
                path_item[m]
                for m in ("post", "put", "patch")
                if isinstance(path_item.get(m), Mapping)
            ),
            None,
        )
        if operation is None:
            raise CatalogError(f"{where}: no post operation")
        body = _resolve(spec, operation.get("requestBody") or {}, where)
        media = (body.get("content") or {}).get("application/json") or {}
        schema = _inline(spec, media.get("schema"), where, 0) if media.get("schema") else None
        examples = [
            example.get("value")
            for example in (media.get("examples") or {}).values()
            if isinstance(example, Mapping) and "value" in example
        ]
        if "example" in media:
            examples.insert(0, media["example"])
        if schema is not None and examples:
            schema["examples"] = [*schema.get("examples", []), *examples]
        description = (
            operation.get("description") or operation.get("summary") or body.get("description")
        )
        tags = operation.get("tags") or []
        entries.append(
            _entry(
                name,
                where,
                description=description or "",
                deprecated=bool(operation.get("deprecated", False)),
                schemas=None if schema is None else {SCHEMA_VERSION: schema},
                group_name=tags[0] if tags and isinstance(tags[0], str) else None,
            )
        )
    return entries


def to_openapi(entries: list[CatalogEntry], title: str = "Webhooks") -> dict[str, Any]:
    hooks = {}
    for entry in entries:
        schemas = entry.fields.schemas or {}
        schema = schemas.get(SCHEMA_VERSION) or {"type": "object"}
        operation: dict[str, Any] = {
            "description": entry.fields.description,
            "requestBody": {"content": {"application/json": {"schema": schema}}},
            "responses": {"2XX": {"description": "received"}},
        }
        if entry.fields.deprecated:
            operation["deprecated"] = True
        if entry.fields.group_name:
            operation["tags"] = [entry.fields.group_name]
        hooks[entry.name] = {"post": operation}
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1"}, "webhooks": hooks}


def _resolve(spec: Mapping[str, Any], node: Any, where: str) -> dict[str, Any]:
    resolved = _inline(spec, node, where, 0) if isinstance(node, Mapping) else None
    return dict(resolved) if isinstance(resolved, Mapping) else {}


def _inline(spec: Mapping[str, Any], node: Any, where: str, depth: int) -> Any:
    """A copy of `node` with `#/...` references replaced by what they point to."""
    if depth > _MAX_REF_DEPTH:
        raise CatalogError(f"{where}: $ref nesting deeper than {_MAX_REF_DEPTH} (a cycle?)")
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _inline(spec, _follow(spec, ref, where), where, depth + 1)
        return {key: _inline(spec, value, where, depth) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(spec, item, where, depth) for item in node]
    return copy.deepcopy(node)


def _follow(spec: Mapping[str, Any], ref: str, where: str) -> Any:
    if not ref.startswith("#/"):
        raise CatalogError(f"{where}: only local references (#/...) are supported, got {ref}")
    node: Any = spec
    for escaped in ref[2:].split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise CatalogError(f"{where}: {ref} points nowhere")
        node = node[part]
    return node
