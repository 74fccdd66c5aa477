"""Message pages: the log with filters and keyset pages, a message with its attempts per
endpoint, one attempt in full, and resending a message to one endpoint.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from starlette.responses import Response
from starlette.routing import Route

from hookpost.core import ids
from hookpost.core.errors import NotFound
from hookpost.core.fields import AttemptQuery, MessageQuery
from hookpost.core.models import Delivery, Message, MessageStatus
from hookpost.core.portal import Capability
from hookpost.portal.visit import Visit, page

PAGE_SIZE = 50
STATUSES = {s.text: s for s in MessageStatus}


def N_(message: str) -> str:  # noqa: N802 - gettext's marker name, seen by the extractor
    return message


# The templates translate statuses by their capitalised name; listed here for extraction.
STATUS_WORDS = (N_("Success"), N_("Pending"), N_("Fail"), N_("Sending"))


def _day(text: str, *, end: bool) -> datetime | None:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


def _iterator(text: str) -> str | None:
    return text if text and ids.is_valid(ids.MESSAGE, text.removeprefix("-")) else None


@page()
async def message_log(visit: Visit) -> Response:
    q = visit.request.query_params
    filters = {
        "event_type": q.get("event_type", ""),
        "status": q.get("status", ""),
        "endpoint": q.get("endpoint", ""),
        "since": q.get("since", ""),
        "until": q.get("until", ""),
        "search": q.get("search", "").strip(),
    }
    if filters["search"]:
        try:
            found = await visit.svc.messages.get(visit.org, visit.app, filters["search"])
        except NotFound:
            found = None
        rows: list[tuple[Message, Delivery | None]] = [] if found is None else [(found, None)]
        has_more = False
    else:
        rows, has_more = await _page(visit, filters, _iterator(q.get("iterator", "")))
    endpoints = await visit.svc.endpoints.list(
        visit.org, visit.app, limit=100, iterator=None, descending=False
    )
    catalog = await visit.catalog()
    return visit.render(
        "messages.html",
        rows=rows,
        has_more=has_more,
        filters=filters,
        statuses=list(STATUSES),
        endpoints=endpoints.items,
        catalog=catalog,
        next_iterator=rows[-1][0].id if rows and has_more else None,
        prev_iterator=f"-{rows[0][0].id}" if rows and q.get("iterator") else None,
    )


async def _page(
    visit: Visit, filters: dict[str, str], iterator: str | None
) -> tuple[list[tuple[Message, Delivery | None]], bool]:
    event_types = (filters["event_type"],) if filters["event_type"] else None
    after = _day(filters["since"], end=False)
    before = _day(filters["until"], end=True)
    status = STATUSES.get(filters["status"])
    if filters["endpoint"]:
        # Status belongs to a message *and an endpoint*: it filters that endpoint's deliveries.
        pairs = await visit.svc.history.endpoint_messages(
            visit.org,
            visit.app,
            filters["endpoint"],
            AttemptQuery(
                limit=PAGE_SIZE,
                iterator=iterator,
                after=after,
                before=before,
                event_types=event_types,
                status=None if status is None else int(status),
            ),
        )
        return [(m, d) for m, d in pairs.items], pairs.has_more
    found = await visit.svc.messages.list(
        visit.org,
        visit.app,
        MessageQuery(
            limit=PAGE_SIZE, iterator=iterator, after=after, before=before, event_types=event_types
        ),
    )
    return [(m, None) for m in found.items], found.has_more


def _payload(message: Message) -> str:
    if message.payload is None:
        return ""
    text = message.payload.decode("utf-8", "replace")
    if message.raw_payload:
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@page()
async def show_message(visit: Visit) -> Response:
    message = await visit.svc.messages.get(visit.org, visit.app, _msg(visit))
    destinations = await visit.svc.history.message_destinations(
        visit.org, visit.app, message.id, limit=100, iterator=None
    )
    attempts = await visit.svc.history.attempts_by_message(
        visit.org, visit.app, message.id, AttemptQuery(limit=100)
    )
    return visit.render(
        "message.html",
        message=message,
        payload=_payload(message),
        destinations=destinations.items,
        attempts=attempts.items,
        notice=visit.request.query_params.get("notice", ""),
    )


@page()
async def show_attempt(visit: Visit) -> Response:
    message = await visit.svc.messages.get(visit.org, visit.app, _msg(visit))
    attempt = await visit.svc.history.attempt(
        visit.org, visit.app, message.id, str(visit.request.path_params["attempt"])
    )
    return visit.render("attempt.html", message=message, attempt=attempt, payload=_payload(message))


@page(Capability.CREATE_ATTEMPTS)
async def resend(visit: Visit) -> Response:
    message = await visit.svc.messages.get(visit.org, visit.app, _msg(visit))
    await visit.svc.history.resend(visit.org, visit.app, message.id, visit.form.get("endpoint"))
    return visit.redirect(f"/messages/{message.id}", notice="resent")


def _msg(visit: Visit) -> str:
    return str(visit.request.path_params["message"])


routes = [
    Route("/messages", message_log, methods=["GET"]),
    Route("/messages/{message}", show_message, methods=["GET"]),
    Route("/messages/{message}/attempts/{attempt}", show_attempt, methods=["GET"]),
    Route("/messages/{message}/resend", resend, methods=["POST"]),
]
