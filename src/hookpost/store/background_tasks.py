"""Background tasks, durable: created by a request, run in batches by a runner, resumable.

A task row holds its parameters, a cursor (where the next batch starts), its counts (`data`)
and the lease of the process running it. Each batch is one short write transaction that does
the batch's work, moves the cursor and renews the lease together, so a runner that dies
loses at most an uncommitted batch and the next runner continues from the cursor: work is
neither lost nor done twice. A task claimed too many times (it keeps killing its runner) is
marked failed rather than left "running".
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hookpost.core import ids
from hookpost.core.event_filter import matches_channels, matches_event_type
from hookpost.core.ids import IdFactory
from hookpost.core.models import (
    DeliveryState,
    Endpoint,
    MessageStatus,
    Page,
    Task,
    TaskKind,
    TaskStatus,
)
from hookpost.store import rows
from hookpost.store.base import fetch_page
from hookpost.store.database import Conn, Database
from hookpost.store.history import status_condition
from hookpost.store.messages import id_bound, like_json_item
from hookpost.store.redelivery import add_manual_deliveries
from hookpost.store.schema import (
    applications,
    attempts,
    background_tasks,
    deliveries,
    endpoints,
    messages,
)

Clock = Callable[[], datetime]
BATCH = 500


class LeaseLost(Exception):
    """Another runner took the task over (this one's lease ran out)."""


def task_row(row: Any) -> Task:
    return Task(
        id=row.id,
        org_id=row.org_id,
        kind=TaskKind(row.kind),
        status=TaskStatus(row.status),
        updated_at=rows.from_us(row.updated_at),
        data=rows.from_json(row.data) or {},
        params=rows.from_json(row.params) or {},
        app_id=row.app_id,
        endpoint_id=row.endpoint_id,
        cursor=row.cursor,
        error=row.error,
        runs=row.runs,
        lease_token=row.lease_token,
        created_at=rows.from_us(row.created_at),
        finished_at=rows.opt_from_us(row.finished_at),
    )


class BackgroundTaskStore:
    def __init__(self, db: Database, clock: Clock, ids: IdFactory, batch: int = BATCH) -> None:
        self._db = db
        self._clock = clock
        self._ids = ids
        self.batch = batch
        self._steps: dict[TaskKind, Callable[[Conn, Task], Awaitable[tuple[bool, Task]]]] = {
            TaskKind.ENDPOINT_RECOVER: self._recover,
            TaskKind.ENDPOINT_REPLAY: self._replay_missing,
            TaskKind.ENDPOINT_BULK_REPLAY: self._bulk_replay,
            TaskKind.APPLICATION_PURGE_CONTENT: self._purge_content,
            TaskKind.APPLICATION_STATS: self._app_stats,
            TaskKind.EVENT_TYPE_AGGREGATE: self._event_types,
        }

    # -- the API's side ---------------------------------------------------------------------

    async def create(
        self,
        org_id: str,
        kind: TaskKind,
        params: dict[str, Any],
        data: dict[str, Any],
        *,
        app_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> Task:
        now = rows.to_us(self._clock())
        values = {
            "id": self._ids.new(ids.TASK),
            "org_id": org_id,
            "app_id": app_id,
            "endpoint_id": endpoint_id,
            "kind": kind.value,
            "status": TaskStatus.RUNNING.value,
            "params": rows.to_json(params),
            "data": rows.to_json(data),
            "cursor": None,
            "error": None,
            "runs": 0,
            "lease_token": None,
            "lease_until": None,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        async with self._db.write() as conn:
            await conn.execute(background_tasks.insert().values(**values))
        return task_row(rows.Unprefixed(values))

    async def get(self, org_id: str, task_id: str) -> Task | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(background_tasks).where(
                        background_tasks.c.id == task_id, background_tasks.c.org_id == org_id
                    )
                )
            ).first()
        return None if row is None else task_row(row)

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
        query = sa.select(background_tasks).where(background_tasks.c.org_id == org_id)
        if status is not None:
            query = query.where(background_tasks.c.status == status.value)
        if kind is not None:
            query = query.where(background_tasks.c.kind == kind.value)
        async with self._db.read() as conn:
            return await fetch_page(
                conn,
                query,
                background_tasks.c.id,
                limit=limit,
                iterator=iterator,
                descending=descending,
                convert=task_row,
            )

    async def listening_endpoints(
        self, app_id: str
    ) -> list[tuple[tuple[str, ...] | None, tuple[str, ...] | None]]:
        """(event type filter, channel filter) of each enabled endpoint of an application."""
        async with self._db.read() as conn:
            found = await conn.execute(
                sa.select(endpoints.c.event_types, endpoints.c.channels).where(
                    endpoints.c.app_id == app_id,
                    endpoints.c.deleted_at.is_(None),
                    endpoints.c.disabled.is_(False),
                )
            )
            return [
                (_names(event_types), _names(channels)) for event_types, channels in found.all()
            ]

    async def endpoint_attempt_stats(
        self, endpoint_id: str, since: datetime, until: datetime
    ) -> dict[str, int]:
        """Attempts to an endpoint in [since, until) by outcome, and its deliveries of messages
        created then that were canceled."""
        async with self._db.read() as conn:
            by_status = await conn.execute(
                sa.select(attempts.c.status, sa.func.count())
                .where(
                    attempts.c.endpoint_id == endpoint_id,
                    attempts.c.id >= id_bound(ids.ATTEMPT, since, upper=False),
                    attempts.c.id < id_bound(ids.ATTEMPT, until, upper=False),
                )
                .group_by(attempts.c.status)
            )
            counts = {int(status): int(n) for status, n in by_status.all()}
            canceled = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        deliveries.c.endpoint_id == endpoint_id,
                        deliveries.c.state == DeliveryState.CANCELED.value,
                        deliveries.c.msg_id >= id_bound(ids.MESSAGE, since, upper=False),
                        deliveries.c.msg_id < id_bound(ids.MESSAGE, until, upper=False),
                    )
                )
            ).scalar()
        return {
            "success": counts.get(MessageStatus.SUCCESS, 0),
            "fail": counts.get(MessageStatus.FAIL, 0),
            "canceled": int(canceled or 0),
        }

    # -- the runner's side ------------------------------------------------------------------

    async def claim(self, lease: timedelta, max_runs: int) -> Task | None:
        """Lease one running task nobody holds (new, or its runner's lease ran out).

        A task already claimed `max_runs` times is marked failed instead of run again.
        """
        now = self._clock()
        while True:
            free = sa.and_(
                background_tasks.c.status == TaskStatus.RUNNING.value,
                sa.or_(
                    background_tasks.c.lease_until.is_(None),
                    background_tasks.c.lease_until < rows.to_us(now),
                ),
            )
            async with self._db.read() as conn:
                row = (
                    await conn.execute(
                        sa.select(background_tasks)
                        .where(free)
                        .order_by(background_tasks.c.id)
                        .limit(1)
                    )
                ).first()
            if row is None:
                return None
            task = task_row(row)
            token = secrets.token_hex(16)
            taken = background_tasks.c.lease_token.is_(None)
            if row.lease_token is not None:
                taken = background_tasks.c.lease_token == row.lease_token
            values: dict[str, Any] = {
                "lease_token": token,
                "lease_until": rows.to_us(now + lease),
                "runs": task.runs + 1,
            }
            give_up = task.runs >= max_runs
            if give_up:
                values = {
                    **_finished(now, TaskStatus.FAILED),
                    "error": f"the task was interrupted {task.runs} times; it is not retried",
                }
            async with self._db.write() as conn:
                result = await conn.execute(
                    background_tasks.update()
                    .where(background_tasks.c.id == task.id, taken, free)
                    .values(**values)
                )
            if result.rowcount and not give_up:
                return Task(**{**vars(task), "lease_token": token, "runs": task.runs + 1})
            # Another runner took it, or it was marked failed: look again.

    async def step(self, task: Task, lease: timedelta) -> Task:
        """Run one batch of `task`; the task as it stands after (finished when done).

        Raises `LeaseLost` if another runner holds the task now; the batch is then undone.
        """
        step = self._steps[task.kind]
        now = self._clock()
        async with self._db.write() as conn:
            renewed = await conn.execute(
                background_tasks.update()
                .where(
                    background_tasks.c.id == task.id,
                    background_tasks.c.lease_token == task.lease_token,
                    background_tasks.c.status == TaskStatus.RUNNING.value,
                )
                .values(lease_until=rows.to_us(now + lease))
            )
            if not renewed.rowcount:
                raise LeaseLost(task.id)
            # Where the task stands as committed (the renewal holds the row from here on):
            # never a cursor this runner read before another runner's last batch.
            stored = (
                await conn.execute(
                    sa.select(background_tasks.c.cursor, background_tasks.c.data).where(
                        background_tasks.c.id == task.id
                    )
                )
            ).one()
            task = Task(
                **{**vars(task), "cursor": stored.cursor, "data": rows.from_json(stored.data)}
            )
            done, after = await step(conn, task)
            values: dict[str, Any] = {
                "cursor": after.cursor,
                "data": rows.to_json(after.data),
                "updated_at": rows.to_us(now),
            }
            if done:
                values.update(_finished(now, TaskStatus.FINISHED))
            await conn.execute(
                background_tasks.update().where(background_tasks.c.id == task.id).values(**values)
            )
        status = TaskStatus.FINISHED if done else TaskStatus.RUNNING
        return Task(**{**vars(after), "status": status, "updated_at": now})

    async def fail(self, task: Task, error: str) -> None:
        """Mark `task` failed (if this runner still holds it)."""
        now = self._clock()
        async with self._db.write() as conn:
            await conn.execute(
                background_tasks.update()
                .where(
                    background_tasks.c.id == task.id,
                    background_tasks.c.lease_token == task.lease_token,
                )
                .values(**_finished(now, TaskStatus.FAILED), error=error[:1000])
            )

    # -- the batches, one kind each; each returns (done, task with its new cursor and data) --

    async def _endpoint(self, conn: Conn, task: Task) -> Endpoint:
        row = (
            await conn.execute(
                sa.select(endpoints).where(
                    endpoints.c.id == task.endpoint_id, endpoints.c.deleted_at.is_(None)
                )
            )
        ).first()
        if row is None:
            raise TaskFailed("the endpoint was deleted while the task ran")
        endpoint = rows.endpoint(row)
        if endpoint.disabled:
            raise TaskFailed("the endpoint was disabled while the task ran")
        return endpoint

    def _window(self, task: Task) -> list[sa.ColumnElement[bool]]:
        since = datetime.fromisoformat(task.params["since"])
        conditions = [messages.c.id >= id_bound(ids.MESSAGE, since, upper=False)]
        if task.params.get("until") is not None:
            until = datetime.fromisoformat(task.params["until"])
            conditions.append(messages.c.id <= id_bound(ids.MESSAGE, until, upper=True))
        if task.cursor is not None:
            conditions.append(messages.c.id > task.cursor)
        return conditions

    async def _recover(self, conn: Conn, task: Task) -> tuple[bool, Task]:
        endpoint = await self._endpoint(conn, task)
        failed = (
            sa.select(deliveries.c.msg_id.label("msg_id"))
            .join(messages, messages.c.id == deliveries.c.msg_id)
            .where(
                deliveries.c.endpoint_id == endpoint.id,
                status_condition(MessageStatus.FAIL),
                messages.c.payload.is_not(None),
                *self._window(task),
            )
            .except_(
                sa.select(deliveries.c.msg_id).where(
                    deliveries.c.endpoint_id == endpoint.id,
                    deliveries.c.state.in_(
                        [DeliveryState.SUCCEEDED, DeliveryState.PENDING, DeliveryState.PAUSED]
                    ),
                )
            )
            .subquery()
        )
        query = sa.select(failed.c.msg_id).order_by(failed.c.msg_id).limit(self.batch)
        msg_ids = list((await conn.execute(query)).scalars())
        return await self._sent(conn, task, endpoint, msg_ids, scanned=len(msg_ids))

    async def _replay_missing(self, conn: Conn, task: Task) -> tuple[bool, Task]:
        endpoint = await self._endpoint(conn, task)
        sent = sa.select(deliveries.c.msg_id).where(deliveries.c.endpoint_id == endpoint.id)
        candidates = (
            sa.select(messages.c.id, messages.c.event_type, messages.c.channels)
            .where(
                messages.c.app_id == endpoint.app_id,
                messages.c.payload.is_not(None),
                *self._window(task),
            )
            .order_by(messages.c.id)
            .limit(self.batch)
        )
        scanned = (await conn.execute(candidates)).all()
        if not scanned:
            return True, task
        already = set(
            (
                await conn.execute(sent.where(deliveries.c.msg_id.in_([r.id for r in scanned])))
            ).scalars()
        )
        msg_ids = [
            r.id
            for r in scanned
            if r.id not in already
            and matches_event_type(endpoint.event_types, r.event_type)
            and matches_channels(endpoint.channels, rows.from_json(r.channels))
        ]
        done, after = await self._sent(conn, task, endpoint, msg_ids, scanned=len(scanned))
        return done, Task(**{**vars(after), "cursor": scanned[-1].id})

    async def _bulk_replay(self, conn: Conn, task: Task) -> tuple[bool, Task]:
        endpoint = await self._endpoint(conn, task)
        p = task.params
        conditions = [
            deliveries.c.endpoint_id == endpoint.id,
            messages.c.payload.is_not(None),
            *self._window(task),
        ]
        if p.get("eventTypes"):
            conditions.append(messages.c.event_type.in_(p["eventTypes"]))
        if p.get("channel") is not None:
            conditions.append(like_json_item(messages.c.channels, p["channel"]))
        if p.get("tag") is not None:
            conditions.append(like_json_item(messages.c.tags, p["tag"]))
        if p.get("status") is not None:
            conditions.append(status_condition(int(p["status"])))
        if p.get("statusCodeClass") is not None:
            code, low = attempts.c.response_status_code, int(p["statusCodeClass"])
            in_class = (
                sa.or_(code < 100, code > 599)
                if low == 0
                else sa.and_(code >= low, code < low + 100)
            )
            # The class of the pair's latest attempt (attempts are found by message).
            latest = (
                sa.select(sa.func.max(attempts.c.id))
                .where(
                    attempts.c.msg_id == deliveries.c.msg_id,
                    attempts.c.endpoint_id == deliveries.c.endpoint_id,
                )
                .correlate(deliveries)
                .scalar_subquery()
            )
            conditions.append(
                sa.exists().where(
                    attempts.c.msg_id == deliveries.c.msg_id,
                    attempts.c.id == latest,
                    in_class,
                )
            )
        query = (
            sa.select(messages.c.id)
            .distinct()
            .join(deliveries, deliveries.c.msg_id == messages.c.id)
            .where(*conditions)
            .order_by(messages.c.id)
            .limit(self.batch)
        )
        msg_ids = list((await conn.execute(query)).scalars())
        return await self._sent(conn, task, endpoint, msg_ids, scanned=len(msg_ids))

    async def _sent(
        self, conn: Conn, task: Task, endpoint: Endpoint, msg_ids: Sequence[str], *, scanned: int
    ) -> tuple[bool, Task]:
        """Queue one manual delivery of each of `msg_ids` to `endpoint`; count them."""
        await add_manual_deliveries(conn, self._ids, rows.to_us(self._clock()), endpoint, msg_ids)
        data = {**task.data, "messagesSent": task.data.get("messagesSent", 0) + len(msg_ids)}
        cursor = msg_ids[-1] if msg_ids else task.cursor
        return scanned < self.batch, Task(**{**vars(task), "data": data, "cursor": cursor})

    async def _purge_content(self, conn: Conn, task: Task) -> tuple[bool, Task]:
        conditions = [messages.c.app_id == task.app_id]
        if task.cursor is not None:
            conditions.append(messages.c.id > task.cursor)
        batch = list(
            (
                await conn.execute(
                    sa.select(messages.c.id)
                    .where(*conditions)
                    .order_by(messages.c.id)
                    .limit(self.batch)
                )
            ).scalars()
        )
        purged = 0
        if batch:
            result = await conn.execute(
                messages.update()
                .where(messages.c.id.in_(batch), messages.c.payload.is_not(None))
                .values(payload=None)
            )
            purged = result.rowcount or 0
        data = {"messagesPurged": task.data.get("messagesPurged", 0) + purged}
        cursor = batch[-1] if batch else task.cursor
        return len(batch) < self.batch, Task(**{**vars(task), "data": data, "cursor": cursor})

    async def _apps(self, conn: Conn, task: Task) -> list[Any]:
        """The next batch of the task's applications (all of the organization's, or a list)."""
        query = sa.select(applications.c.id, applications.c.uid).where(
            applications.c.org_id == task.org_id, applications.c.deleted_at.is_(None)
        )
        if task.params.get("appIds") is not None:
            query = query.where(applications.c.id.in_(task.params["appIds"]))
        if task.cursor is not None:
            query = query.where(applications.c.id > task.cursor)
        return list((await conn.execute(query.order_by(applications.c.id).limit(self.batch))).all())

    async def _app_stats(self, conn: Conn, task: Task) -> tuple[bool, Task]:
        apps = await self._apps(conn, task)
        since = datetime.fromisoformat(task.params["since"])
        until = datetime.fromisoformat(task.params["until"])
        counts: dict[str, int] = {}
        if apps:
            # Deliveries of the messages created in the window, found by message (indexed).
            counted = await conn.execute(
                sa.select(messages.c.app_id, sa.func.count())
                .select_from(messages.join(deliveries, deliveries.c.msg_id == messages.c.id))
                .where(
                    messages.c.app_id.in_([a.id for a in apps]),
                    messages.c.id >= id_bound(ids.MESSAGE, since, upper=False),
                    messages.c.id <= id_bound(ids.MESSAGE, until, upper=True),
                )
                .group_by(messages.c.app_id)
            )
            counts = {app_id: int(n) for app_id, n in counted.all()}
        found = [
            {"messageDestinations": counts.get(a.id, 0), "appId": a.id, "appUid": a.uid}
            for a in apps
        ]
        data = {"appStats": [*task.data.get("appStats", []), *found]}
        cursor = apps[-1].id if apps else task.cursor
        return len(apps) < self.batch, Task(**{**vars(task), "data": data, "cursor": cursor})

    async def _event_types(self, conn: Conn, task: Task) -> tuple[bool, Task]:
        apps = await self._apps(conn, task)
        subscribed: dict[str, set[str]] = {a.id: set() for a in apps}
        catch_all: dict[str, bool] = {a.id: False for a in apps}
        if apps:
            found = await conn.execute(
                sa.select(endpoints.c.app_id, endpoints.c.event_types).where(
                    endpoints.c.app_id.in_(list(subscribed)), endpoints.c.deleted_at.is_(None)
                )
            )
            for app_id, names in found.all():
                listed = rows.from_json(names)
                if listed:
                    subscribed[app_id].update(listed)
                else:
                    catch_all[app_id] = True
        entries = [
            {
                "appId": a.id,
                "explicitlySubscribedEventTypes": sorted(subscribed[a.id]),
                "hasCatchAllEndpoint": catch_all[a.id],
            }
            for a in apps
        ]
        data = {"event_types": [*task.data.get("event_types", []), *entries]}
        cursor = apps[-1].id if apps else task.cursor
        return len(apps) < self.batch, Task(**{**vars(task), "data": data, "cursor": cursor})


class TaskFailed(Exception):
    """The task cannot go on (its endpoint is gone, say); it is marked failed with this text."""


def _names(text: str | None) -> tuple[str, ...] | None:
    value = rows.from_json(text)
    return None if value is None else tuple(value)


def _finished(now: datetime, status: TaskStatus) -> dict[str, Any]:
    return {
        "status": status.value,
        "finished_at": rows.to_us(now),
        "updated_at": rows.to_us(now),
        "lease_token": None,
        "lease_until": None,
    }
