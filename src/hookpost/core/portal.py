"""Customer-portal access grants: capabilities, the grant a token carries, and its rules.

Pure values and decisions; the store keeps grants and the edges enforce them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

MIN_EXPIRY = 3600
MAX_EXPIRY = 7 * 86400
DEFAULT_EXPIRY = MAX_EXPIRY


class Capability(enum.StrEnum):
    """What a portal token lets its holder do, with Svix's names."""

    VIEW_BASE = "ViewBase"
    VIEW_ENDPOINT_SECRET = "ViewEndpointSecret"  # noqa: S105 - a capability name
    MANAGE_ENDPOINT_SECRET = "ManageEndpointSecret"  # noqa: S105 - a capability name
    MANAGE_TRANSFORMATIONS = "ManageTransformations"
    CREATE_ATTEMPTS = "CreateAttempts"
    MANAGE_ENDPOINT = "ManageEndpoint"


def resolve_capabilities(
    requested: tuple[str, ...] | None, *, read_only: bool
) -> frozenset[Capability]:
    """The capabilities a grant really has.

    None means all of them (Svix's default); `read_only` wins over anything listed; ViewBase
    is always included. What implies what follows Svix's descriptions: managing an endpoint
    covers its secret, and managing the secret covers seeing it.
    """
    if read_only:
        return frozenset({Capability.VIEW_BASE})
    if requested is None:
        return frozenset(Capability)
    granted = {Capability(c) for c in requested} | {Capability.VIEW_BASE}
    if Capability.MANAGE_ENDPOINT in granted:
        granted |= {Capability.MANAGE_ENDPOINT_SECRET}
    if Capability.MANAGE_ENDPOINT_SECRET in granted:
        granted |= {Capability.VIEW_ENDPOINT_SECRET}
    return frozenset(granted)


@dataclass(frozen=True)
class PortalGrant:
    """One portal token: which application it opens, for how long, and what it allows."""

    id: str
    org_id: str
    app_id: str
    capabilities: frozenset[Capability]
    feature_flags: tuple[str, ...]
    session_id: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def live_at(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now

    def allows(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def sees(self, event_type_flags: tuple[str, ...] | None) -> bool:
        """Whether an event type behind `event_type_flags` is shown (Svix's feature flags:
        an event type with flags is visible only to tokens holding one of them)."""
        return not event_type_flags or any(f in self.feature_flags for f in event_type_flags)


@dataclass(frozen=True)
class PortalSession:
    """A browser's session, opened from a magic link; it never outlives its grant."""

    id: str
    grant: PortalGrant
    expires_at: datetime
