"""Reusable annotated types that apply the core naming rules inside pydantic validation.

A rule's failure becomes a 422 whose `loc` points at the offending field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from hookpost.core import event_filter, headers, ids, names
from hookpost.core.errors import Problem, RuleBroken


def _rule(check: Callable[[str], Problem | None]) -> AfterValidator:
    def validate(value: str) -> str:
        problem = check(value)
        if problem:
            raise RuleBroken(problem)
        return value

    return AfterValidator(validate)


def _each(check: Callable[[str], Problem | None]) -> AfterValidator:
    def validate(values: list[str]) -> list[str]:
        for value in values:
            problem = check(value)
            if problem:
                raise RuleBroken(problem)
        duplicate = names.check_unique(values)
        if duplicate:
            raise RuleBroken(duplicate)
        return values

    return AfterValidator(validate)


def _metadata(value: dict[str, str] | None) -> dict[str, str]:
    value = value or {}
    problem = names.check_metadata(value)
    if problem:
        raise RuleBroken(problem)
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    problem = headers.check_headers(value)
    if problem:
        raise RuleBroken(problem)
    return value


def _filter_entry(value: str) -> Problem | None:
    return event_filter.check_filter_entry(value) or (
        None if event_filter.is_wildcard(value) else names.check_event_type_name(value)
    )


AppUid = Annotated[str, _rule(lambda v: names.check_uid(v, ids.APPLICATION))]
EndpointUid = Annotated[str, _rule(lambda v: names.check_uid(v, ids.ENDPOINT))]
EventId = Annotated[str, _rule(lambda v: names.check_uid(v, ids.MESSAGE))]
EventTypeName = Annotated[str, _rule(names.check_event_type_name)]
Name = Annotated[str, _rule(lambda v: names.check_text(v, allow_empty=False, max_length=1024))]
Description = Annotated[str, _rule(lambda v: names.check_text(v, max_length=65_536))]
Metadata = Annotated[dict[str, str] | None, AfterValidator(_metadata)]
Headers = Annotated[dict[str, str], AfterValidator(_headers)]
Channels = Annotated[list[str], Field(min_length=1, max_length=10), _each(names.check_channel)]
Tags = Annotated[list[str], Field(max_length=5), _each(names.check_tag)]
EventTypeFilter = Annotated[list[str], Field(min_length=1), _each(_filter_entry)]
ThrottleRate = Annotated[int, Field(ge=1, le=65_535)]


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class PatchModel(WireModel):
    """A PATCH body: absent means unchanged and `null` clears (see `reject_null`)."""

    def changes(self, renames: dict[str, str] | None = None) -> dict[str, Any]:
        """The fields the caller sent, keyed by domain attribute name."""
        renames = renames or {}
        return {renames.get(k, k): getattr(self, k) for k in self.model_fields_set}


def reject_null(*fields: str) -> Any:
    """A validator refusing an explicit `null` for fields that cannot be cleared."""

    # One parameter: pydantic passes just the value (a first parameter not named `cls` would be
    # handed the value and a second one the ValidationInfo).
    def check(value: Any) -> Any:
        if value is None:
            raise RuleBroken(Problem.of("not_null"))
        return value

    return field_validator(*fields, mode="before")(check)
