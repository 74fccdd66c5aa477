"""Routes of Svix's background tasks and the operations that start them, plus message precheck
and bulk expunge.

- `/api/v1/background-task` (list, get)
- `/api/v1/app/{app}/endpoint/{ep}/recover`, `/replay-missing`, `/bulk-replay` (202, a task),
  `/attempt-stats` (200)
- `/api/v1/app/{app}/msg/expunge-all-contents` (202, a task), `/bulk-expunge` (200, results),
  `/precheck/active` (200)
- `/api/v1/stats/usage/app` (POST, 202) and `/api/v1/stats/usage/event-types` (PUT, 202)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from hookpost.api.deps import Order, OrgId, Svc, as_utc, check_status_code_class, page_args
from hookpost.api.http import HookpostRoute, json_response
from hookpost.api.wire import outputs
from hookpost.api.wire.inputs import RecoverIn
from hookpost.api.wire.rules import Channels, EventTypeName, WireModel
from hookpost.core import ids
from hookpost.core.models import MessageStatus, Task, TaskKind, TaskStatus
from hookpost.service.background import ReplayFilters

router = APIRouter(route_class=HookpostRoute)
APP = "/api/v1/app/{app_id}"
ENDPOINT = APP + "/endpoint/{endpoint_id}"


class BulkReplayIn(WireModel):
    since: datetime
    until: datetime | None = None
    event_types: list[EventTypeName] | None = None
    channel: str | None = None
    tag: str | None = None
    status: MessageStatus | None = None
    status_code_class: int | None = None


class MessagePrecheckIn(WireModel):
    event_type: EventTypeName
    channels: Channels | None = None


class BulkExpungeContentsIn(WireModel):
    ids: list[str] = Field(default_factory=list, max_length=1000)


class AppUsageStatsIn(WireModel):
    since: datetime
    until: datetime
    app_ids: list[str] | None = Field(None, max_length=1000)


def background_task(task: Task) -> dict[str, Any]:
    """Svix's BackgroundTaskOut, plus hookpost's `createdAt`, `finishedAt` and `error`."""
    return {
        **outputs.task(task),
        "data": task.data,
        "createdAt": outputs.timestamp(task.created_at),
        "finishedAt": outputs.timestamp(task.finished_at),
        "error": task.error,
    }


def _utc(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None
    return converted


@router.get("/api/v1/background-task", tags=["Background Task"])
async def list_background_tasks(
    org: OrgId,
    svc: Svc,
    status: TaskStatus | None = None,
    task: TaskKind | None = None,
    limit: int = 50,
    iterator: str | None = None,
    order: Order = "descending",
) -> Response:
    result = await svc.tasks.list_tasks(
        org,
        status=status,
        kind=task,
        descending=order == "descending",
        **page_args(limit, iterator, ids.TASK),
    )
    return json_response(outputs.page([background_task(t) for t in result.items], result, "id"))


@router.get("/api/v1/background-task/{task_id}", tags=["Background Task"])
async def get_background_task(task_id: str, org: OrgId, svc: Svc) -> Response:
    return json_response(background_task(await svc.tasks.get(org, task_id)))


@router.post(ENDPOINT + "/recover", status_code=202, tags=["Endpoint"])
async def recover_endpoint(
    app_id: str, endpoint_id: str, body: RecoverIn, org: OrgId, svc: Svc
) -> Response:
    task = await svc.tasks.recover(org, app_id, endpoint_id, _utc(body.since), as_utc(body.until))
    return json_response(outputs.task(task), 202)


@router.post(ENDPOINT + "/replay-missing", status_code=202, tags=["Endpoint"])
async def replay_missing(
    app_id: str, endpoint_id: str, body: RecoverIn, org: OrgId, svc: Svc
) -> Response:
    task = await svc.tasks.replay_missing(
        org, app_id, endpoint_id, _utc(body.since), as_utc(body.until)
    )
    return json_response(outputs.task(task), 202)


@router.get(ENDPOINT + "/attempt-stats", tags=["Endpoint"])
async def get_endpoint_attempt_stats(
    app_id: str,
    endpoint_id: str,
    org: OrgId,
    svc: Svc,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    stats = await svc.tasks.endpoint_attempt_stats(
        org, app_id, endpoint_id, as_utc(since), as_utc(until)
    )
    return json_response(stats)


@router.post(ENDPOINT + "/bulk-replay", status_code=202, tags=["Endpoint"])
async def bulk_replay(
    app_id: str, endpoint_id: str, body: BulkReplayIn, org: OrgId, svc: Svc
) -> Response:
    check_status_code_class(body.status_code_class, ("body", "statusCodeClass"))
    filters = ReplayFilters(
        event_types=tuple(body.event_types) if body.event_types else None,
        channel=body.channel,
        tag=body.tag,
        status=None if body.status is None else int(body.status),
        status_code_class=body.status_code_class,
    )
    task = await svc.tasks.bulk_replay(
        org, app_id, endpoint_id, _utc(body.since), as_utc(body.until), filters=filters
    )
    return json_response(outputs.task(task), 202)


@router.post(APP + "/msg/expunge-all-contents", status_code=202, tags=["Message"])
async def expunge_all_contents(app_id: str, org: OrgId, svc: Svc) -> Response:
    return json_response(outputs.task(await svc.tasks.expunge_all_contents(org, app_id)), 202)


@router.post(APP + "/msg/bulk-expunge", tags=["Message"])
async def bulk_expunge(app_id: str, body: BulkExpungeContentsIn, org: OrgId, svc: Svc) -> Response:
    results = await svc.message_tools.bulk_expunge(org, app_id, body.ids)
    return json_response({"results": results})


@router.post(APP + "/msg/precheck/active", tags=["Message"])
async def precheck(app_id: str, body: MessagePrecheckIn, org: OrgId, svc: Svc) -> Response:
    active = await svc.message_tools.precheck(org, app_id, body.event_type, body.channels)
    return json_response({"active": active})


@router.post("/api/v1/stats/usage/app", status_code=202, tags=["Statistics"])
async def aggregate_app_stats(body: AppUsageStatsIn, org: OrgId, svc: Svc) -> Response:
    task, unresolved = await svc.tasks.aggregate_app_stats(
        org, _utc(body.since), _utc(body.until), body.app_ids
    )
    return json_response({**outputs.task(task), "unresolvedAppIds": unresolved}, 202)


@router.put("/api/v1/stats/usage/event-types", status_code=202, tags=["Statistics"])
async def aggregate_event_types(org: OrgId, svc: Svc) -> Response:
    return json_response(outputs.task(await svc.tasks.aggregate_event_types(org)), 202)
