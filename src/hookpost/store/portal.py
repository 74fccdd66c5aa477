"""Portal grants and sessions as stored: tokens and magic links by hash, browser sessions.

Spending a magic link is one conditional UPDATE, so two browsers racing for it get one session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hookpost.core.ids import IdFactory
from hookpost.core.portal import Capability, PortalGrant, PortalSession
from hookpost.store import rows
from hookpost.store.database import Database
from hookpost.store.schema import portal_sessions, portal_tokens

TOKEN_ID = "ptok_"  # noqa: S105 - an id prefix
SESSION_ID = "psess_"


def _grant(row: Any) -> PortalGrant:
    return PortalGrant(
        id=row.id,
        org_id=row.org_id,
        app_id=row.app_id,
        capabilities=frozenset(Capability(c) for c in rows.from_json(row.capabilities)),
        feature_flags=tuple(rows.from_json(row.feature_flags)),
        session_id=row.session_id,
        created_at=rows.from_us(row.created_at),
        expires_at=rows.from_us(row.expires_at),
        revoked_at=rows.opt_from_us(row.revoked_at),
    )


class PortalGrants:
    def __init__(self, db: Database, clock: Callable[[], datetime], ids: IdFactory) -> None:
        self._db = db
        self._clock = clock
        self._ids = ids

    async def add(
        self,
        *,
        org_id: str,
        app_id: str,
        token_hash: str,
        link_hash: str,
        capabilities: frozenset[Capability],
        feature_flags: tuple[str, ...],
        session_id: str | None,
        expires_at: datetime,
    ) -> PortalGrant:
        now = self._clock()
        grant = PortalGrant(
            self._ids.new(TOKEN_ID),
            org_id,
            app_id,
            capabilities,
            feature_flags,
            session_id,
            now,
            expires_at,
        )
        async with self._db.write() as conn:
            await conn.execute(
                portal_tokens.insert().values(
                    id=grant.id,
                    org_id=org_id,
                    app_id=app_id,
                    token_hash=token_hash,
                    link_hash=link_hash,
                    capabilities=rows.to_json(sorted(capabilities)),
                    feature_flags=rows.to_json(list(feature_flags)),
                    session_id=session_id,
                    created_at=rows.to_us(now),
                    expires_at=rows.to_us(expires_at),
                )
            )
        return grant

    async def find_by_token(self, token_hash: str) -> PortalGrant | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(portal_tokens).where(portal_tokens.c.token_hash == token_hash)
                )
            ).first()
        return None if row is None else _grant(row)

    async def spend_link(self, link_hash: str) -> PortalGrant | None:
        """The live grant behind an unused link, marking the link used; None otherwise."""
        now_us = rows.to_us(self._clock())
        async with self._db.write() as conn:
            spent = await conn.execute(
                portal_tokens.update()
                .where(
                    portal_tokens.c.link_hash == link_hash,
                    portal_tokens.c.link_used_at.is_(None),
                    portal_tokens.c.revoked_at.is_(None),
                    portal_tokens.c.expires_at > now_us,
                )
                .values(link_used_at=now_us)
            )
            if not spent.rowcount:
                return None
            row = (
                await conn.execute(
                    sa.select(portal_tokens).where(portal_tokens.c.link_hash == link_hash)
                )
            ).first()
        return None if row is None else _grant(row)

    async def revoke(self, grant_id: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                portal_tokens.update()
                .where(portal_tokens.c.id == grant_id, portal_tokens.c.revoked_at.is_(None))
                .values(revoked_at=rows.to_us(self._clock()))
            )

    async def expire_app(
        self, org_id: str, app_id: str, at: datetime, session_ids: tuple[str, ...] | None
    ) -> int:
        """Bring the expiry of the application's grants forward to `at` (never later)."""
        at_us = rows.to_us(at)
        query = portal_tokens.update().where(
            portal_tokens.c.org_id == org_id,
            portal_tokens.c.app_id == app_id,
            portal_tokens.c.expires_at > at_us,
        )
        if session_ids:
            query = query.where(portal_tokens.c.session_id.in_(session_ids))
        async with self._db.write() as conn:
            result = await conn.execute(query.values(expires_at=at_us))
        return int(result.rowcount or 0)

    async def open_session(
        self, grant: PortalGrant, session_hash: str, expires_at: datetime
    ) -> PortalSession:
        now = self._clock()
        session = PortalSession(self._ids.new(SESSION_ID), grant, expires_at)
        async with self._db.write() as conn:
            await conn.execute(
                portal_sessions.insert().values(
                    id=session.id,
                    token_id=grant.id,
                    session_hash=session_hash,
                    created_at=rows.to_us(now),
                    expires_at=rows.to_us(expires_at),
                )
            )
        return session

    async def find_session(self, session_hash: str) -> PortalSession | None:
        """The open session with this hash, with its grant as it is now."""
        query = (
            sa.select(
                portal_tokens,
                portal_sessions.c.id.label("s_id"),
                portal_sessions.c.expires_at.label("s_expires_at"),
            )
            .join(portal_sessions, portal_sessions.c.token_id == portal_tokens.c.id)
            .where(
                portal_sessions.c.session_hash == session_hash,
                portal_sessions.c.ended_at.is_(None),
            )
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return PortalSession(row.s_id, _grant(row), rows.from_us(row.s_expires_at))

    async def end_session(self, session_hash: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                portal_sessions.update()
                .where(
                    portal_sessions.c.session_hash == session_hash,
                    portal_sessions.c.ended_at.is_(None),
                )
                .values(ended_at=rows.to_us(self._clock()))
            )
