"""Custom headers an endpoint may add to its deliveries, and which of them are sensitive.

Names that would break the request, impersonate hookpost's signature or cloud infrastructure
are refused; values may not smuggle line breaks into the request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hookpost.core.errors import Problem

MAX_VALUE_BYTES = 4096
MAX_HEADERS = 64

FORBIDDEN = frozenset(
    {
        "host",
        "user-agent",
        "keep-alive",
        "connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "age",
        "cache-control",
        "clear-site-data",
        "expires",
        "pragma",
        "warning",
        "content-length",
        "content-type",
        "content-encoding",
        "content-language",
        "content-location",
    }
)
FORBIDDEN_PREFIXES = (
    "x-amz-",
    "x-amzn-",
    "x-google",
    "x-goog-",
    "x-gfe",
    "x-azure-",
    "x-fd-",
    "x-svix-",
    "svix-",
    "webhook-",
    "x-hookpost-",
)
SENSITIVE = frozenset(
    {
        "authorization",
        "x-auth-token",
        "x-api-key",
        "www-authenticate",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")
# Visible ASCII, spaces and tabs only: other bytes are sent raw by HTTP clients and read
# differently by different servers.
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e]")


def check_header(name: str, value: str) -> Problem | None:
    """Why header `name: value` cannot be sent, or None when it can."""
    if not _TOKEN.fullmatch(name):
        return Problem.of("header_name_invalid", name=name)
    lowered = name.lower()
    if lowered in FORBIDDEN:
        return Problem.of("header_set_by_hookpost", name=name)
    reserved = next((p for p in FORBIDDEN_PREFIXES if lowered.startswith(p)), None)
    if reserved:
        return Problem.of("header_prefix_reserved", prefix=reserved)
    if _BAD_VALUE.search(value):
        return Problem.of("header_value_unprintable", name=name)
    if len(value.encode()) > MAX_VALUE_BYTES:
        return Problem.of("header_value_too_long", name=name, limit=MAX_VALUE_BYTES)
    return None


def check_headers(headers: Mapping[str, str]) -> Problem | None:
    if len(headers) > MAX_HEADERS:
        return Problem.of("too_many_headers", limit=MAX_HEADERS)
    lowered = [n.lower() for n in headers]
    if len(set(lowered)) != len(lowered):
        return Problem.of("header_names_repeat")
    for name, value in headers.items():
        problem = check_header(name, value)
        if problem:
            return problem
    return None


def split_sensitive(headers: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Headers safe to show, and the names of those whose values are hidden."""
    shown = {n: v for n, v in headers.items() if n.lower() not in SENSITIVE}
    hidden = sorted(n for n in headers if n.lower() in SENSITIVE)
    return shown, hidden
