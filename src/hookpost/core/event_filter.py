"""Which endpoints a message goes to: event-type filters (exact names and `prefix.*`) and channels.

Event type names come in any style (`invoice.paid`, `PaymentLinkPaymentSucceeded`); a filter
entry ending in `.*` matches every name that starts with the part before the `*`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from hookpost.core.errors import Problem

_WILDCARD = re.compile(r"[a-zA-Z0-9\-_.]{0,254}[a-zA-Z0-9\-_]\.\*")


def is_wildcard(entry: str) -> bool:
    return _WILDCARD.fullmatch(entry) is not None


def check_filter_entry(entry: str) -> Problem | None:
    """Syntax of one filter entry; existence of exact names is checked against the catalog."""
    if entry.endswith("*") and not is_wildcard(entry):
        return Problem.of("wildcard_syntax", entry=entry)
    return None


def exact_names(entries: Iterable[str]) -> list[str]:
    return [e for e in entries if not is_wildcard(e)]


def matches_event_type(event_types: Sequence[str] | None, event_type: str) -> bool:
    """Whether an endpoint whose filter is `event_types` (None = all) takes `event_type`."""
    if event_types is None:
        return True
    for entry in event_types:
        if entry == event_type:
            return True
        if entry.endswith(".*") and event_type.startswith(entry[:-1]):
            return True
    return False


def matches_channels(
    endpoint_channels: Sequence[str] | None, channels: Sequence[str] | None
) -> bool:
    """Svix's rule: an endpoint with channels takes only messages sharing one of them."""
    if endpoint_channels is None:
        return True
    if not channels:
        return False
    return not set(endpoint_channels).isdisjoint(channels)
