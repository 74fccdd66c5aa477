"""Request-scoped inputs every route shares: the caller's organization, services, list queries.

Query values follow the Svix SDKs: booleans as true/false, naive datetimes meaning UTC, lists
comma-joined or repeated (`event_types=a,b`, `event_types=a&event_types=b`, `event_types[]=a`).
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request

from hookpost.api import portal_scope
from hookpost.core import ids, names
from hookpost.core.errors import InvalidInput
from hookpost.service.container import Services

MAX_LIMIT = 250


async def services(request: Request) -> Services:
    # async on purpose: FastAPI runs plain functions in a thread pool, a hop per request.
    return _services_of(request)


def _services_of(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def organization(request: Request) -> str:
    """The organization whose API key authorised this request (401 otherwise)."""
    known: str | None = getattr(request.state, "org_id", None)
    if known is None:
        authorization = request.headers.get("authorization")
        services = _services_of(request)
        if portal_scope.is_portal_token(authorization):
            known = await portal_scope.authorize(request, services, authorization)
        else:
            known = await services.access.authenticate(authorization)
        request.state.org_id = known
    return known


OrgId = Annotated[str, Depends(organization)]
Svc = Annotated[Services, Depends(services)]


def as_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes (sent by the Python SDK without an offset) are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def check_limit(limit: int) -> int:
    if limit > MAX_LIMIT:
        raise InvalidInput.at(("query", "limit"), "limit_too_high", limit=MAX_LIMIT)
    if limit < 1:
        raise InvalidInput.at(("query", "limit"), "limit_too_low")
    return limit


STATUS_CODE_CLASSES = frozenset({0, 100, 200, 300, 400, 500})  # 0: no HTTP status at all


def check_status_code_class(value: int | None, loc: tuple[str, str]) -> None:
    if value is not None and value not in STATUS_CODE_CLASSES:
        raise InvalidInput.at(loc, "status_code_class_unknown")


def check_iterator(iterator: str | None, prefix: str) -> str | None:
    if iterator is None:
        return None
    if not ids.is_valid(prefix, iterator.removeprefix("-")):
        raise InvalidInput.at(("query", "iterator"), "iterator_not_an_id", prefix=prefix)
    return iterator


def list_param(request: Request, name: str) -> tuple[str, ...] | None:
    """A list query parameter in any of the spellings the SDKs use."""
    values: list[str] = []
    for key, value in request.query_params.multi_items():
        if key in (name, f"{name}[]") or (key.startswith(f"{name}[") and key.endswith("]")):
            values.extend(v for v in value.split(",") if v)
    return tuple(values) or None


def event_types_param(request: Request) -> tuple[str, ...] | None:
    """The `event_types` filter; each entry must be a possible event type name."""
    values = list_param(request, "event_types")
    for value in values or ():
        problem = names.check_event_type_name(value)
        if problem:
            raise InvalidInput.broken(("query", "event_types"), problem)
    return values


def check_filters(channel: str | None, tag: str | None) -> None:
    """Channel and tag filters follow the rules of the values they match."""
    for field, value, check in (
        ("channel", channel, names.check_channel),
        ("tag", tag, names.check_tag),
    ):
        problem = None if value is None else check(value)
        if problem:
            raise InvalidInput.broken(("query", field), problem)


Limit = Annotated[int, Query()]
Order = Literal["ascending", "descending"]


def page_args(limit: int, iterator: str | None, prefix: str) -> dict[str, Any]:
    return {"limit": check_limit(limit), "iterator": check_iterator(iterator, prefix)}
