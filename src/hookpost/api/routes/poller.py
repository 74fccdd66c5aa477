"""Routes of the polling API (`/api/v1/app/{app}/poller/{sink}`), as the svix SDK calls them.

A sink is an endpoint of the application: its event-type and channel filters apply.
"""

from datetime import datetime

from fastapi import APIRouter, Response

from hookpost.api.deps import OrgId, Svc, as_utc, check_filters, check_limit
from hookpost.api.http import HookpostRoute, json_response
from hookpost.api.wire import outputs
from hookpost.api.wire.rules import WireModel
from hookpost.core.errors import InvalidInput
from hookpost.core.names import check_event_type_name
from hookpost.service.polling import PollBatch

router = APIRouter(
    prefix="/api/v1/app/{app_id}/poller/{sink_id}", tags=["Message"], route_class=HookpostRoute
)


class ConsumerSeekIn(WireModel):
    after: datetime


def _batch(batch: PollBatch) -> dict[str, object]:
    return {
        "data": [outputs.polled_message(m) for m in batch.messages],
        "iterator": batch.iterator,
        "done": batch.done,
    }


@router.get("")
async def poll(
    app_id: str,
    sink_id: str,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
    event_type: str | None = None,
    channel: str | None = None,
    after: datetime | None = None,
) -> Response:
    check_filters(channel, None)
    if event_type is not None and (problem := check_event_type_name(event_type)):
        raise InvalidInput.broken(("query", "event_type"), problem)
    batch = await svc.polling.poll(
        org,
        app_id,
        sink_id,
        limit=check_limit(limit),
        iterator=iterator,
        event_type=event_type,
        channel=channel,
        after=as_utc(after),
    )
    return json_response(_batch(batch))


@router.get("/consumer/{consumer_id}")
async def consumer_poll(
    app_id: str,
    sink_id: str,
    consumer_id: str,
    org: OrgId,
    svc: Svc,
    limit: int = 50,
    iterator: str | None = None,
) -> Response:
    batch = await svc.polling.consumer_poll(
        org, app_id, sink_id, consumer_id, limit=check_limit(limit), iterator=iterator
    )
    return json_response(_batch(batch))


@router.post("/consumer/{consumer_id}/seek")
async def consumer_seek(
    app_id: str, sink_id: str, consumer_id: str, body: ConsumerSeekIn, org: OrgId, svc: Svc
) -> Response:
    after = as_utc(body.after)
    assert after is not None
    iterator = await svc.polling.consumer_seek(org, app_id, sink_id, consumer_id, after)
    return json_response({"iterator": iterator})
