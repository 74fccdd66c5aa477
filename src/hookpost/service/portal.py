"""Customer-portal access: grant tokens and magic links, open and check browser sessions.

Tokens, links and session cookies are random 256-bit values stored only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from hookpost.core import ids
from hookpost.core.errors import AuthenticationFailed, InvalidInput
from hookpost.core.fields import ApplicationFields
from hookpost.core.names import check_uid, is_name
from hookpost.core.portal import (
    DEFAULT_EXPIRY,
    MAX_EXPIRY,
    MIN_EXPIRY,
    PortalGrant,
    PortalSession,
    resolve_capabilities,
)
from hookpost.service.access import MAX_TOKEN_LENGTH, hash_token, random_token
from hookpost.service.lookup import require_app
from hookpost.store.portal import PortalGrants
from hookpost.store.ports import Applications, Lookups

TOKEN_PREFIX = "hp_pt_"  # noqa: S105 - a portal token: an app-scoped key, never an operator's key
LINK_PREFIX = "hp_pl_"
SESSION_PREFIX = "hp_ps_"
LOGIN_PATH = "/portal/login"


def csrf_token(session_secret: str) -> str:
    """The form token of a session: derived from its secret, so nothing more is stored."""
    return hmac.new(session_secret.encode(), b"hookpost portal csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_secret: str, given: str) -> bool:
    return hmac.compare_digest(csrf_token(session_secret), given)


class PortalAccess:
    def __init__(
        self,
        lookups: Lookups,
        applications: Applications,
        grants: PortalGrants,
        clock: Callable[[], datetime],
        *,
        entropy: Callable[[int], bytes],
        public_url: str,
    ) -> None:
        self._lookups = lookups
        self._applications = applications
        self._grants = grants
        self._clock = clock
        self._entropy = entropy
        self.public_url = public_url.rstrip("/")

    async def grant(
        self,
        org_id: str,
        app_ref: str,
        *,
        application: ApplicationFields | None = None,
        expiry: int | None = None,
        read_only: bool = False,
        capabilities: tuple[str, ...] | None = None,
        feature_flags: tuple[str, ...] = (),
        session_id: str | None = None,
    ) -> tuple[str, str]:
        """(magic link, token) for one application; creates it from `application` if absent."""
        seconds = DEFAULT_EXPIRY if expiry is None else expiry
        if not MIN_EXPIRY <= seconds <= MAX_EXPIRY:
            raise InvalidInput.at(
                ("body", "expiry"), "expiry_out_of_range", min=MIN_EXPIRY, max=MAX_EXPIRY
            )
        app_id = await self._application_id(org_id, app_ref, application)
        token = random_token(TOKEN_PREFIX, self._entropy(32))
        link = random_token(LINK_PREFIX, self._entropy(32))
        await self._grants.add(
            org_id=org_id,
            app_id=app_id,
            token_hash=hash_token(token),
            link_hash=hash_token(link),
            capabilities=resolve_capabilities(capabilities, read_only=read_only),
            feature_flags=feature_flags,
            session_id=session_id,
            expires_at=self._clock() + timedelta(seconds=seconds),
        )
        return f"{self.public_url}{LOGIN_PATH}?code={link}", token

    async def _application_id(
        self, org_id: str, app_ref: str, application: ApplicationFields | None
    ) -> str:
        existing = (
            await self._lookups.get_application(org_id, app_ref) if is_name(app_ref) else None
        )
        if existing is not None:
            return existing.id
        if application is None or check_uid(app_ref, ids.APPLICATION):
            return (await require_app(self._lookups, org_id, app_ref)).id
        if application.uid is not None and application.uid != app_ref:
            raise InvalidInput.at(
                ("body", "application", "uid"), "application_uid_mismatch", uid=application.uid
            )
        fields = ApplicationFields(
            application.name, app_ref, application.throttle_rate, application.metadata
        )
        created, _ = await self._applications.get_or_create_application(org_id, fields)
        return created.id

    async def authenticate(self, authorization: str | None) -> PortalGrant:
        """The live grant a `Bearer hp_pt_...` header names; AuthenticationFailed otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            raise AuthenticationFailed(message_id="invalid_token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationFailed(message_id="invalid_token")
        grant = await self._grants.find_by_token(hash_token(token))
        if grant is None or not grant.live_at(self._clock()):
            raise AuthenticationFailed(message_id="invalid_token")
        return grant

    async def logout(self, authorization: str | None) -> None:
        grant = await self.authenticate(authorization)
        await self._grants.revoke(grant.id)

    async def expire_all(
        self, org_id: str, app_ref: str, grace_seconds: int, session_ids: tuple[str, ...] | None
    ) -> None:
        if grace_seconds < 0:
            raise InvalidInput.at(("body", "expiry"), "expiry_negative")
        app = await require_app(self._lookups, org_id, app_ref)
        at = self._clock() + timedelta(seconds=grace_seconds)
        await self._grants.expire_app(org_id, app.id, at, session_ids)

    async def open_link(self, code: str) -> tuple[str, PortalSession] | None:
        """Spend a magic link: (session secret for the cookie, session), or None if spent."""
        if not code.startswith(LINK_PREFIX) or len(code) > MAX_TOKEN_LENGTH:
            return None
        grant = await self._grants.spend_link(hash_token(code))
        if grant is None:
            return None
        secret = random_token(SESSION_PREFIX, self._entropy(32))
        session = await self._grants.open_session(grant, hash_token(secret), grant.expires_at)
        return secret, session

    async def session(self, secret: str | None) -> PortalSession | None:
        """The live session a cookie names; None when absent, ended or expired."""
        if not secret or not secret.startswith(SESSION_PREFIX) or len(secret) > MAX_TOKEN_LENGTH:
            return None
        found = await self._grants.find_session(hash_token(secret))
        now = self._clock()
        if found is None or found.expires_at <= now or not found.grant.live_at(now):
            return None
        return found

    async def end_session(self, secret: str) -> None:
        await self._grants.end_session(hash_token(secret))
