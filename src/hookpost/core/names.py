"""Rules for the names and labels callers choose: uids, event ids, event types, channels, tags.

Each check returns a problem message, or None when the value is acceptable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_NAME = 256
MAX_CHANNEL = 128
MAX_TAG = 128
MAX_METADATA_BYTES = 4096

_NAME = re.compile(r"[a-zA-Z0-9\-_.]{1,256}")
_CHANNEL = re.compile(r"[a-zA-Z0-9\-_.:+]{1,128}")
_TAG = re.compile(r"[a-zA-Z0-9\-_./\\#]{1,128}")
# Printable text: rejects C0 controls except tab/newline, DEL and lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def is_name(value: str) -> bool:
    """Whether `value` could name anything at all: an id, a uid, an eventId or an event type.

    Lookups by anything else are answered "not found" without asking the database.
    """
    return _NAME.fullmatch(value) is not None


def check_uid(value: str, id_prefix: str) -> str | None:
    """An application/endpoint uid or a message eventId."""
    if not _NAME.fullmatch(value):
        return "must be 1-256 characters of letters, digits, '-', '_' or '.'"
    if value.startswith(id_prefix):
        return f"must not start with '{id_prefix}', the prefix of generated ids"
    return None


def check_event_type_name(value: str) -> str | None:
    if not _NAME.fullmatch(value):
        return "event type names are 1-256 characters of letters, digits, '-', '_' or '.'"
    return None


def check_channel(value: str) -> str | None:
    if not _CHANNEL.fullmatch(value):
        return "channels are 1-128 characters of letters, digits, '-', '_', '.', ':' or '+'"
    return None


def check_tag(value: str) -> str | None:
    if not _TAG.fullmatch(value):
        return "tags are 1-128 characters of letters, digits, '-', '_', '.', '/', '\\' or '#'"
    return None


def check_text(value: str, *, allow_empty: bool = True, max_length: int = 65_536) -> str | None:
    """Free text such as names and descriptions."""
    if not value and not allow_empty:
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if _CONTROL.search(value):
        return "must not contain control characters"
    return None


def check_metadata(value: Mapping[str, str]) -> str | None:
    size = sum(len(k.encode()) + len(v.encode()) + 6 for k, v in value.items()) + 2
    if size > MAX_METADATA_BYTES:
        return f"metadata must be at most {MAX_METADATA_BYTES} bytes serialized"
    for key, item in value.items():
        if _CONTROL.search(key) or _CONTROL.search(item):
            return "metadata must not contain control characters"
    return None


def check_unique(values: list[str]) -> str | None:
    if len(set(values)) != len(values):
        return "must not contain duplicates"
    return None
