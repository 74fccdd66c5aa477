"""Background tasks (Svix's `qtask_`): starting them, reading them, and the runner that does them.

A request validates, stores a task and returns it `running`; a `TaskRunner` in every server
process then works through it in short batches (`store.background_tasks`), so a recover of a
hundred thousand messages neither blocks the request nor holds a long transaction. A task
whose process died is resumed from its cursor once its lease runs out, or marked failed after
`max_runs` interrupted runs; none stays `running` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hookpost.core import ids
from hookpost.core.errors import BadRequest, HookpostError, InvalidInput, NotFound
from hookpost.core.event_filter import matches_channels, matches_event_type
from hookpost.core.models import Endpoint, Page, Task, TaskKind, TaskStatus
from hookpost.service.lookup import require_app, require_endpoint, require_message
from hookpost.store.background_tasks import BackgroundTaskStore, LeaseLost, TaskFailed
from hookpost.store.ports import Lookups

log = logging.getLogger("hookpost.tasks")
MAX_WINDOW = timedelta(days=14, minutes=5)
STATS_DAYS = 28  # the longest range the statistics routes (stats, attempt-stats) cover
MAX_STATS_RANGE = timedelta(days=STATS_DAYS, minutes=5)  # with slack for the caller's clock


def stats_since(since: datetime | None, until: datetime) -> datetime:
    """Where a statistics range ending at `until` starts (`STATS_DAYS` earlier when not given),
    once it is one the statistics accept: starting before it ends and not too long."""
    since = since or until - timedelta(days=STATS_DAYS)
    if since > until or until - since > MAX_STATS_RANGE:
        raise BadRequest(code="invalid_range", message_id="range_too_long", days=STATS_DAYS)
    return since


@dataclass(frozen=True)
class ReplayFilters:
    """Which of an endpoint's messages a bulk replay sends again (Svix's BulkReplayIn)."""

    event_types: tuple[str, ...] | None = None
    channel: str | None = None
    tag: str | None = None
    status: int | None = None
    status_code_class: int | None = None


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


class TaskService:
    """Starts background tasks and reads them; `kick` tells this process's runner."""

    def __init__(
        self,
        lookups: Lookups,
        tasks: BackgroundTaskStore,
        clock: Callable[[], datetime],
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self._lookups = lookups
        self._tasks = tasks
        self._clock = clock
        self.kick = kick

    async def get(self, org_id: str, task_id: str) -> Task:
        task = await self._tasks.get(org_id, task_id) if ids.is_valid(ids.TASK, task_id) else None
        if task is None:
            raise NotFound(entity="background_task")
        return task

    async def list_tasks(
        self,
        org_id: str,
        *,
        status: TaskStatus | None,
        kind: TaskKind | None,
        limit: int,
        iterator: str | None,
        descending: bool,
    ) -> Page[Task]:
        return await self._tasks.list_tasks(
            org_id,
            status=status,
            kind=kind,
            limit=limit,
            iterator=iterator,
            descending=descending,
        )

    async def recover(
        self, org_id: str, app_ref: str, endpoint_ref: str, since: datetime, until: datetime | None
    ) -> Task:
        endpoint, until = await self._window(org_id, app_ref, endpoint_ref, since, until)
        return await self._start_endpoint_task(
            TaskKind.ENDPOINT_RECOVER, endpoint, {"since": _iso(since), "until": _iso(until)}
        )

    async def replay_missing(
        self, org_id: str, app_ref: str, endpoint_ref: str, since: datetime, until: datetime | None
    ) -> Task:
        endpoint, until = await self._window(org_id, app_ref, endpoint_ref, since, until)
        return await self._start_endpoint_task(
            TaskKind.ENDPOINT_REPLAY, endpoint, {"since": _iso(since), "until": _iso(until)}
        )

    async def bulk_replay(
        self,
        org_id: str,
        app_ref: str,
        endpoint_ref: str,
        since: datetime,
        until: datetime | None,
        *,
        filters: ReplayFilters,
    ) -> Task:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, endpoint_ref)
        if until is not None and since > until:
            raise InvalidInput.at(("body", "since"), "since_after_until")
        params = {
            "since": _iso(since),
            "until": _iso(until),
            "eventTypes": list(filters.event_types) if filters.event_types else None,
            "channel": filters.channel,
            "tag": filters.tag,
            "status": filters.status,
            "statusCodeClass": filters.status_code_class,
        }
        return await self._start_endpoint_task(TaskKind.ENDPOINT_BULK_REPLAY, endpoint, params)

    async def expunge_all_contents(self, org_id: str, app_ref: str) -> Task:
        app = await require_app(self._lookups, org_id, app_ref)
        return await self._start(
            org_id, TaskKind.APPLICATION_PURGE_CONTENT, {}, {"messagesPurged": 0}, app_id=app.id
        )

    async def aggregate_app_stats(
        self, org_id: str, since: datetime, until: datetime, app_refs: list[str] | None
    ) -> tuple[Task, list[str]]:
        """Start counting message destinations per application; the refs not found."""
        if since > until:
            raise InvalidInput.at(("body", "since"), "since_after_until")
        app_ids: list[str] | None = None
        unresolved: list[str] = []
        if app_refs is not None:
            app_ids = []
            for ref in dict.fromkeys(app_refs):
                try:
                    app_ids.append((await require_app(self._lookups, org_id, ref)).id)
                except NotFound:
                    unresolved.append(ref)
            if not app_ids and app_refs:
                raise InvalidInput.at(("body", "appIds"), "no_application_exists")
        params = {"since": _iso(since), "until": _iso(until), "appIds": app_ids}
        task = await self._start(org_id, TaskKind.APPLICATION_STATS, params, {"appStats": []})
        return task, unresolved

    async def aggregate_event_types(self, org_id: str) -> Task:
        return await self._start(org_id, TaskKind.EVENT_TYPE_AGGREGATE, {}, {"event_types": []})

    async def endpoint_attempt_stats(
        self,
        org_id: str,
        app_ref: str,
        endpoint_ref: str,
        since: datetime | None,
        until: datetime | None,
    ) -> dict[str, int]:
        """Svix's EndpointAttemptStats over whole hours (28 days up to now by default)."""
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, endpoint_ref)
        hour = timedelta(hours=1)
        until = until or self._clock()
        since = stats_since(since, until)
        start = since.replace(minute=0, second=0, microsecond=0)
        end = until.replace(minute=0, second=0, microsecond=0)
        end = end if end == until else end + hour
        return await self._tasks.endpoint_attempt_stats(endpoint.id, start, end)

    async def _start_endpoint_task(
        self, kind: TaskKind, endpoint: Endpoint, params: dict[str, Any]
    ) -> Task:
        if endpoint.disabled:
            raise BadRequest(code="endpoint_disabled", message_id="endpoint_disabled_enable_first")
        return await self._start(
            endpoint.org_id,
            kind,
            params,
            {"messagesSent": 0},
            app_id=endpoint.app_id,
            endpoint_id=endpoint.id,
        )

    async def _start(
        self,
        org_id: str,
        kind: TaskKind,
        params: dict[str, Any],
        data: dict[str, Any],
        *,
        app_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> Task:
        task = await self._tasks.create(
            org_id, kind, params, data, app_id=app_id, endpoint_id=endpoint_id
        )
        self.kick()
        return task

    async def _window(
        self, org_id: str, app_ref: str, endpoint_ref: str, since: datetime, until: datetime | None
    ) -> tuple[Endpoint, datetime]:
        endpoint = await require_endpoint(self._lookups, org_id, app_ref, endpoint_ref)
        until = until or self._clock()
        if until - since > MAX_WINDOW:
            raise InvalidInput.at(("body", "since"), "window_too_long", days=14)
        if since > until:
            raise InvalidInput.at(("body", "since"), "since_after_until")
        return endpoint, until


class MessageTools:
    """Message precheck and bulk expunge: synchronous, as in Svix."""

    def __init__(
        self,
        lookups: Lookups,
        tasks: BackgroundTaskStore,
        expunge: Callable[[str, str, str], Awaitable[bool]],
    ) -> None:
        self._lookups = lookups
        self._tasks = tasks
        self._expunge = expunge  # (org id, app id, message id): the store's expunge

    async def precheck(
        self, org_id: str, app_ref: str, event_type: str, channels: list[str] | None
    ) -> bool:
        """Whether an enabled endpoint of the application would receive such a message."""
        app = await require_app(self._lookups, org_id, app_ref)
        for filters, channel_filters in await self._tasks.listening_endpoints(app.id):
            if matches_event_type(filters, event_type) and matches_channels(
                channel_filters, tuple(channels) if channels else None
            ):
                return True
        return False

    async def bulk_expunge(self, org_id: str, app_ref: str, refs: list[str]) -> dict[str, str]:
        app = await require_app(self._lookups, org_id, app_ref)
        results: dict[str, str] = {}
        for ref in dict.fromkeys(refs):
            try:
                message = await require_message(self._lookups, org_id, app.id, ref)
            except NotFound:
                results[ref] = "not-found"
                continue
            await self._expunge(org_id, app.id, message.id)
            results[ref] = "expunged"
        return results


class TaskRunner:
    """Works through background tasks one at a time, in batches, in this process."""

    def __init__(
        self,
        tasks: BackgroundTaskStore,
        *,
        lease: timedelta,
        max_runs: int = 5,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._tasks = tasks
        self._lease = lease
        self._max_runs = max_runs
        self._wake = wake  # deliveries were queued: ring the worker
        self._kicked = asyncio.Event()

    def kick(self) -> None:
        self._kicked.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: run every claimable task; look again when kicked or a lease may have
        run out (a quarter of the lease)."""
        while not stop.is_set():
            self._kicked.clear()
            try:
                while not stop.is_set() and await self.run_one():
                    pass
            except HookpostError as error:  # the database is away: try again later
                log.warning("background tasks paused: %s", error)
            except Exception:  # never let one bad row stop the runner for good
                log.exception("background task runner error; it goes on")
            waits = [asyncio.ensure_future(self._kicked.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waits,
                timeout=self._lease.total_seconds() / 4,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for waiting in waits:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting

    async def run_one(self) -> bool:
        """Claim one task and run it to its end; False when there was none."""
        task = await self._tasks.claim(self._lease, self._max_runs)
        if task is None:
            return False
        while task.status is TaskStatus.RUNNING:
            sent = task.data.get("messagesSent")
            try:
                task = await self._tasks.step(task, self._lease)
            except LeaseLost:
                log.info("background task %s was taken over by another process", task.id)
                return True
            except TaskFailed as failure:
                await self._tasks.fail(task, str(failure))
                return True
            except HookpostError:
                raise  # the database: the lease runs out and the task is resumed later
            except Exception as error:
                log.exception("background task %s failed", task.id)
                await self._tasks.fail(task, f"internal error: {type(error).__name__}")
                return True
            if task.data.get("messagesSent") != sent:
                self._wake()
            await asyncio.sleep(0)  # let requests in between batches
        return True
