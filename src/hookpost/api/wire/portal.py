"""Request bodies of Svix's app-portal access routes (`/api/v1/auth/...`).

Expiry bounds and capability names are checked here, so a bad body is a 422 naming the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hookpost.api.wire.inputs import ApplicationIn
from hookpost.api.wire.rules import WireModel
from hookpost.core.portal import MAX_EXPIRY, MIN_EXPIRY

CapabilityName = Literal[
    "ViewBase",
    "ViewEndpointSecret",
    "ManageEndpointSecret",
    "ManageTransformations",
    "CreateAttempts",
    "ManageEndpoint",
]
FeatureFlag = str  # checked by length only: flags are opaque labels chosen by the platform


class AppPortalAccessIn(WireModel):
    application: ApplicationIn | None = None
    read_only: bool | None = None
    capabilities: list[CapabilityName] | None = Field(None, max_length=16)
    feature_flags: list[FeatureFlag] | None = Field(None, max_length=64)
    expiry: int | None = Field(None, ge=MIN_EXPIRY, le=MAX_EXPIRY)
    session_id: str | None = Field(None, min_length=1, max_length=256)


class ApplicationTokenExpireIn(WireModel):
    expiry: int | None = Field(None, ge=0, le=MAX_EXPIRY)
    session_ids: list[str] | None = Field(None, max_length=1000)
