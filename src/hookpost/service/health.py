"""Liveness and readiness of an API process: fixed words for the caller, the database's own
error (which may name hosts and addresses) for the log only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from hookpost.core.errors import Unavailable
from hookpost.store.ports import Credentials

log = logging.getLogger("hookpost.health")

NotReady = Literal["database_unavailable", "schema_behind"]


class Schema(Protocol):
    """Where the database's schema stands against this hookpost's migrations."""

    async def state(self) -> Literal["current", "behind", "ahead"]: ...


@dataclass(frozen=True)
class Readiness:
    """Ready, or the fixed reason why not (safe to show to anyone)."""

    reason: NotReady | None = None

    @property
    def ready(self) -> bool:
        return self.reason is None


class HealthService:
    def __init__(self, store: Credentials, schema: Schema) -> None:
        self._store = store
        self._schema = schema

    async def database_answers(self) -> bool:
        """Whether the database answers a trivial query (Svix's `/api/v1/health`)."""
        try:
            await self._store.ping()
        except Unavailable as error:
            log.warning("health: %s", error.detail)
            return False
        return True

    async def readiness(self) -> Readiness:
        """Ready when the database answers and its schema has every migration of this code.

        A schema *ahead* of this code (a newer hookpost ran `migrate`) keeps the process
        ready, with a warning: in a rolling upgrade the old processes serve until they are
        replaced, rather than all leaving the load balancer the moment the schema moves.
        """
        try:
            state = await self._schema.state()
        except Unavailable as error:
            log.warning("not ready: %s", error.detail)
            return Readiness("database_unavailable")
        if state == "behind":
            log.warning(
                "not ready: the database schema lacks migrations of this hookpost; "
                "run `hookpost migrate`"
            )
            return Readiness("schema_behind")
        if state == "ahead":
            log.warning(
                "the database schema is newer than this hookpost (a newer version migrated "
                "it): replace this process with the new version"
            )
        return Readiness()
