"""Catalog files on disk: reading YAML or JSON documents, writing them back.

What a document means (a catalog or an OpenAPI description) is `core.event_catalog`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hookpost.remote.connection import RemoteError


def read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RemoteError(f"cannot read {path}: {exc}") from None
    import yaml  # noqa: PLC0415 - only the catalog commands need it, not every process

    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)  # YAML 1.1, a superset of JSON for these documents
    except (ValueError, yaml.YAMLError) as exc:
        raise RemoteError(f"{path} is not valid YAML or JSON: {exc}") from None


def is_openapi(document: Any) -> bool:
    return isinstance(document, dict) and any(
        key in document for key in ("openapi", "webhooks", "x-webhooks")
    )


def render(document: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    import yaml  # noqa: PLC0415 - see read_document

    text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return text
