"""Endpoint pages: the list with health, create/edit/delete, enable/disable, secret reveal and
rotation, test events and recovery; each action behind the capability Svix names for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from starlette.responses import Response
from starlette.routing import Route

from hookpost.core.errors import FieldProblem, InvalidInput, Problem
from hookpost.core.fields import AttemptQuery, EndpointFields
from hookpost.core.models import Endpoint, EventType, MessageStatus
from hookpost.core.portal import Capability
from hookpost.portal.endpoint_form import METHODS, EndpointDraft
from hookpost.portal.visit import Visit, page
from hookpost.service.probe import TEST_EVENT

LIST_LIMIT = 100
HEALTH_SAMPLE = 50
RECENT_ATTEMPTS = 20
ROTATE_GRACE_SECONDS = 24 * 3600


async def _catalog(visit: Visit) -> list[EventType]:
    return await visit.catalog()


async def _health(visit: Visit, endpoint: Endpoint) -> tuple[int | None, int]:
    """(success rate in percent of the latest attempts, how many were looked at)."""
    recent = await visit.svc.history.attempts_by_endpoint(
        visit.org, visit.app, endpoint.id, AttemptQuery(limit=HEALTH_SAMPLE)
    )
    if not recent.items:
        return None, 0
    good = sum(1 for a in recent.items if a.status == MessageStatus.SUCCESS)
    return round(100 * good / len(recent.items)), len(recent.items)


@page()
async def list_endpoints(visit: Visit) -> Response:
    found = await visit.svc.endpoints.list(
        visit.org, visit.app, limit=LIST_LIMIT, iterator=None, descending=False
    )
    rows = [(ep, *(await _health(visit, ep))) for ep in found.items]
    return visit.render("endpoints.html", rows=rows)


def _form(
    visit: Visit, draft: EndpointDraft, catalog: list[EventType], **extra: object
) -> Response:
    groups: dict[str, list[EventType]] = {}
    for event_type in catalog:
        groups.setdefault(event_type.group_name or "", []).append(event_type)
    status = 422 if extra.get("problems") else 200
    shown = {e.name for e in catalog}
    return visit.render(
        "endpoint_form.html",
        status,
        draft=draft,
        groups=sorted(groups.items()),
        others=[name for name in draft.event_types if name not in shown],
        methods=METHODS,
        **extra,
    )


async def _checked(
    visit: Visit, draft: EndpointDraft
) -> tuple[EndpointFields | None, list[FieldProblem]]:
    """The form's fields, refusing event types hidden from this session by feature flags."""
    fields, problems = draft.fields()
    hidden = sorted(set(draft.event_types) & await visit.hidden_event_types())
    if hidden:
        missing = Problem.of("event_types_missing", names=", ".join(hidden))
        return None, [*problems, FieldProblem.of(("event_types",), missing, "event_types")]
    return fields, problems


def _said(visit: Visit, problems: list[FieldProblem]) -> list[tuple[str, str]]:
    """(sentence in the visitor's language, detail) for each problem. One with a message id is
    said whole from it; a validator's own words keep their English as the detail."""
    said = []
    for problem in problems:
        sentence = visit.speaker.problem(problem)
        worded_by_id = problem.message_id != "invalid_value"
        said.append((sentence, sentence if worded_by_id else problem.msg))
    return said


@page(Capability.MANAGE_ENDPOINT)
async def new_endpoint(visit: Visit) -> Response:
    return _form(visit, EndpointDraft(), await _catalog(visit), endpoint=None)


@page(Capability.MANAGE_ENDPOINT)
async def create_endpoint(visit: Visit) -> Response:
    draft = EndpointDraft.read(visit.form)
    fields, problems = await _checked(visit, draft)
    if fields is not None:
        try:
            secret = draft.secret or None
            created = await visit.svc.endpoints.create(visit.org, visit.app, fields, secret)
        except InvalidInput as exc:
            problems = exc.problems
        else:
            return visit.redirect(f"/endpoints/{created.id}")
    catalog = await _catalog(visit)
    return _form(visit, draft, catalog, endpoint=None, problems=_said(visit, problems))


@page()
async def show_endpoint(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    attempts = await visit.svc.history.attempts_by_endpoint(
        visit.org, visit.app, endpoint.id, AttemptQuery(limit=RECENT_ATTEMPTS)
    )
    rate, sample = await _health(visit, endpoint)
    return visit.render(
        "endpoint.html",
        endpoint=endpoint,
        attempts=attempts.items,
        rate=rate,
        sample=sample,
        catalog=await _catalog(visit),
        test_event=TEST_EVENT,
        notice=visit.request.query_params.get("notice", ""),
    )


@page(Capability.MANAGE_ENDPOINT)
async def edit_endpoint(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    return _form(visit, EndpointDraft.of(endpoint), await _catalog(visit), endpoint=endpoint)


@page(Capability.MANAGE_ENDPOINT)
async def update_endpoint(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    draft = EndpointDraft.read(visit.form)
    fields, problems = await _checked(visit, draft)
    if fields is not None:
        changes = {
            "url": fields.url,
            "method": fields.method,
            "description": fields.description,
            "disabled": fields.disabled,
            "event_types": fields.event_types,
            "throttle_rate": fields.throttle_rate,
        }
        try:
            await visit.svc.endpoints.patch(visit.org, visit.app, endpoint.id, changes)
            await visit.svc.endpoints.set_headers(visit.org, visit.app, endpoint.id, fields.headers)
        except InvalidInput as exc:
            problems = exc.problems
        else:
            return visit.redirect(f"/endpoints/{endpoint.id}", notice="saved")
    catalog = await _catalog(visit)
    return _form(visit, draft, catalog, endpoint=endpoint, problems=_said(visit, problems))


@page(Capability.MANAGE_ENDPOINT)
async def toggle_endpoint(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    disabled = visit.form.get("disabled") == "true"
    await visit.svc.endpoints.patch(visit.org, visit.app, endpoint.id, {"disabled": disabled})
    return visit.redirect(f"/endpoints/{endpoint.id}", notice="saved")


@page(Capability.MANAGE_ENDPOINT)
async def confirm_delete(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    return visit.render("delete.html", endpoint=endpoint)


@page(Capability.MANAGE_ENDPOINT)
async def delete_endpoint(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    await visit.svc.endpoints.delete(visit.org, visit.app, endpoint.id)
    return visit.redirect("/endpoints")


@page(Capability.VIEW_ENDPOINT_SECRET)
async def show_secret(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    return visit.render("secret.html", endpoint=endpoint)


@page(Capability.MANAGE_ENDPOINT_SECRET)
async def rotate_secret(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    await visit.svc.endpoints.rotate_secret(
        visit.org, visit.app, endpoint.id, None, ROTATE_GRACE_SECONDS
    )
    return visit.redirect(f"/endpoints/{endpoint.id}/secret", notice="rotated")


@page(Capability.CREATE_ATTEMPTS)
async def send_test(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    event_type = visit.form.get("event_type") or TEST_EVENT
    result = await visit.svc.probes.test(visit.org, visit.app, endpoint.id, event_type=event_type)
    return visit.render("test_result.html", endpoint=endpoint, result=result)


@page(Capability.CREATE_ATTEMPTS)
async def recover(visit: Visit) -> Response:
    endpoint = await visit.svc.endpoints.get(visit.org, visit.app, _ref(visit))
    try:
        day = datetime.strptime(visit.form.get("since"), "%Y-%m-%d").date()
    except ValueError:
        return visit.redirect(f"/endpoints/{endpoint.id}", notice="bad-date")
    since = datetime.combine(day, time(), UTC)
    try:
        task = await visit.svc.history.recover(visit.org, visit.app, endpoint.id, since, None)
    except InvalidInput:
        return visit.redirect(f"/endpoints/{endpoint.id}", notice="bad-window")
    return visit.redirect(f"/endpoints/{endpoint.id}", notice="recovered", count=str(task.messages))


def _ref(visit: Visit) -> str:
    return str(visit.request.path_params["endpoint"])


routes = [
    Route("/endpoints", list_endpoints, methods=["GET"]),
    Route("/endpoints", create_endpoint, methods=["POST"]),
    Route("/endpoints/new", new_endpoint, methods=["GET"]),
    Route("/endpoints/{endpoint}", show_endpoint, methods=["GET"]),
    Route("/endpoints/{endpoint}", update_endpoint, methods=["POST"]),
    Route("/endpoints/{endpoint}/edit", edit_endpoint, methods=["GET"]),
    Route("/endpoints/{endpoint}/toggle", toggle_endpoint, methods=["POST"]),
    Route("/endpoints/{endpoint}/delete", confirm_delete, methods=["GET"]),
    Route("/endpoints/{endpoint}/delete", delete_endpoint, methods=["POST"]),
    Route("/endpoints/{endpoint}/secret", show_secret, methods=["GET"]),
    Route("/endpoints/{endpoint}/secret/rotate", rotate_secret, methods=["POST"]),
    Route("/endpoints/{endpoint}/test", send_test, methods=["POST"]),
    Route("/endpoints/{endpoint}/recover", recover, methods=["POST"]),
]
