"""History and manual redelivery use cases: attempts, per-endpoint status, resend, recover.

Each resolves the application, message and endpoint named in the path first, so a request
can only ever see objects of its own organization and application.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from hookpost.core import ids
from hookpost.core.errors import BadRequest, NotFound
from hookpost.core.fields import AttemptQuery
from hookpost.core.models import Attempt, Delivery, Endpoint, Message, Page, Task
from hookpost.service.background import TaskService, stats_since
from hookpost.service.lookup import require_endpoint, require_message
from hookpost.store.ports import HistoryReader, Lookups, Redelivery


class HistoryService:
    def __init__(
        self,
        lookups: Lookups,
        store: HistoryReader,
        redelivery: Redelivery,
        clock: Callable[[], datetime],
        wake: Callable[[], None],
        *,
        tasks: TaskService | None = None,
    ) -> None:
        self._lookups = lookups
        self._store = store
        self._redelivery = redelivery
        self._clock = clock
        self._wake = wake
        self._tasks = tasks

    async def attempts_by_endpoint(
        self, org_id: str, app_ref: str, endpoint_ref: str, q: AttemptQuery
    ) -> Page[Attempt]:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, endpoint_ref)
        scoped = AttemptQuery(**{**vars(q), "endpoint_id": endpoint.id})
        return await self._store.list_attempts(org_id, endpoint.app_id, scoped)

    async def attempts_by_message(
        self, org_id: str, app_ref: str, msg_ref: str, q: AttemptQuery
    ) -> Page[Attempt]:
        message = await require_message(self._lookups, org_id, app_ref, msg_ref)
        if q.endpoint_id is not None:
            endpoint = await require_endpoint(self._lookups, org_id, message.app_id, q.endpoint_id)
            q = AttemptQuery(**{**vars(q), "endpoint_id": endpoint.id})
        return await self._store.list_attempts(org_id, message.app_id, q, msg_id=message.id)

    async def messages_of(self, attempts: Sequence[Attempt]) -> dict[str, Message]:
        """The messages these attempts delivered (for `with_msg`), by id."""
        if not attempts:
            return {}
        first = attempts[0]
        return await self._store.messages_by_id(
            first.org_id, first.app_id, {a.msg_id for a in attempts}
        )

    async def attempt(self, org_id: str, app_ref: str, msg_ref: str, attempt_id: str) -> Attempt:
        message = await require_message(self._lookups, org_id, app_ref, msg_ref)
        found = (
            await self._store.get_attempt(org_id, message.app_id, message.id, attempt_id)
            if ids.is_valid(ids.ATTEMPT, attempt_id)
            else None
        )
        if found is None:
            raise NotFound(entity="attempt")
        return found

    async def expunge_attempt(
        self, org_id: str, app_ref: str, msg_ref: str, attempt_id: str
    ) -> None:
        message = await require_message(self._lookups, org_id, app_ref, msg_ref)
        expunged = ids.is_valid(ids.ATTEMPT, attempt_id) and (
            await self._store.expunge_attempt_content(
                org_id, message.app_id, message.id, attempt_id
            )
        )
        if not expunged:
            raise NotFound(entity="attempt")

    async def endpoint_messages(
        self, org_id: str, app_ref: str, endpoint_ref: str, q: AttemptQuery
    ) -> Page[tuple[Message, Delivery]]:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, endpoint_ref)
        return await self._store.list_endpoint_messages(org_id, endpoint.id, q)

    async def message_destinations(
        self, org_id: str, app_ref: str, msg_ref: str, *, limit: int, iterator: str | None
    ) -> Page[tuple[Endpoint, Delivery]]:
        message = await require_message(self._lookups, org_id, app_ref, msg_ref)
        return await self._store.list_message_destinations(
            org_id, message.id, limit=limit, iterator=iterator
        )

    async def endpoint_stats(
        self,
        org_id: str,
        app_ref: str,
        endpoint_ref: str,
        since: datetime | None,
        until: datetime | None,
    ) -> dict[str, int]:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, endpoint_ref)
        now = self._clock()
        until = until or now
        if until > now + timedelta(minutes=5):
            raise BadRequest(code="invalid_range", message_id="until_in_future")
        since = stats_since(since, until)
        return await self._store.endpoint_stats(org_id, endpoint.id, since, until)

    async def resend(self, org_id: str, app_ref: str, msg_ref: str, endpoint_ref: str) -> None:
        message = await require_message(self._lookups, org_id, app_ref, msg_ref)
        endpoint = await require_endpoint(self._lookups, org_id, message.app_id, endpoint_ref)
        await self._redelivery.resend(endpoint, message.id)
        self._wake()

    async def recover(
        self, org_id: str, app_ref: str, endpoint_ref: str, since: datetime, until: datetime | None
    ) -> Task:
        """Start a recover task (`TaskService.recover`; kept for the portal)."""
        assert self._tasks is not None, "the runtime gives the history service its tasks"
        return await self._tasks.recover(org_id, app_ref, endpoint_ref, since, until)
