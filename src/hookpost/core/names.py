"""Rules for the names and labels callers choose: uids, event ids, event types, channels, tags.

Each check returns the `Problem` (a message id with its parameters; core/wording.py words it),
or None when the value is acceptable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hookpost.core.errors import Problem

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


def check_uid(value: str, id_prefix: str) -> Problem | None:
    """An application/endpoint uid or a message eventId."""
    if not _NAME.fullmatch(value):
        return Problem.of("uid_characters")
    if value.startswith(id_prefix):
        return Problem.of("uid_id_prefix", prefix=id_prefix)
    return None


def check_event_type_name(value: str) -> Problem | None:
    if not _NAME.fullmatch(value):
        return Problem.of("event_type_name_characters")
    return None


def check_channel(value: str) -> Problem | None:
    if not _CHANNEL.fullmatch(value):
        return Problem.of("channel_characters")
    return None


def check_tag(value: str) -> Problem | None:
    if not _TAG.fullmatch(value):
        return Problem.of("tag_characters")
    return None


def check_text(value: str, *, allow_empty: bool = True, max_length: int = 65_536) -> Problem | None:
    """Free text such as names and descriptions."""
    if not value and not allow_empty:
        return Problem.of("text_empty")
    if len(value) > max_length:
        return Problem.of("text_too_long", limit=max_length)
    if _CONTROL.search(value):
        return Problem.of("text_control_characters")
    return None


def check_metadata(value: Mapping[str, str]) -> Problem | None:
    size = sum(len(k.encode()) + len(v.encode()) + 6 for k, v in value.items()) + 2
    if size > MAX_METADATA_BYTES:
        return Problem.of("metadata_too_large", limit=MAX_METADATA_BYTES)
    for key, item in value.items():
        if _CONTROL.search(key) or _CONTROL.search(item):
            return Problem.of("metadata_control_characters")
    return None


def check_unique(values: list[str]) -> Problem | None:
    if len(set(values)) != len(values):
        return Problem.of("duplicates")
    return None
