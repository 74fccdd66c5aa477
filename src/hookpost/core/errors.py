"""The one error tree of hookpost; every edge maps these to its own wire form.

Each error carries the stable machine `code` of the wire (Svix's), a specific `message_id`
with its `params` (what an edge words or translates: the English is core/wording.py's table),
and a `detail` for logs: that English, or the raiser's own words for start-up errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hookpost.core import wording


class HookpostError(Exception):
    """Base of every error hookpost raises on purpose."""

    code = "generic_error"

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        message_id: str | None = None,
        **params: str | int,
    ) -> None:
        if code is not None:
            self.code = code
        self.message_id = message_id or self.code
        self.params = params
        self.detail = detail or _plain(self.message_id, params)
        super().__init__(self.detail)


def _plain(message_id: str, params: Mapping[str, str | int]) -> str:
    """The detail (for logs, and the CLI) when the raiser left the words to the table."""
    worded = wording.english(message_id, params)
    if worded is not None:
        return worded
    named = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{message_id} ({named})" if named else message_id


class BadRequest(HookpostError):
    """The request is well formed but cannot be acted on (400)."""


class AuthenticationFailed(HookpostError):
    code = "authentication_failed"


class Forbidden(HookpostError):
    code = "insufficient access"


class NotFound(HookpostError):
    """`entity` (application, endpoint, message, attempt, event_type) does not exist (404)."""

    code = "not_found"

    def __init__(self, detail: str = "", *, entity: str = "entity") -> None:
        super().__init__(detail, message_id=f"{entity}_not_found", entity=entity)


class Conflict(HookpostError):
    code = "conflict"


class PayloadTooLarge(HookpostError):
    code = "payload_too_large"


class NotSupported(HookpostError):
    code = "not_implemented"


class ConfigurationError(HookpostError):
    """A setting cannot be used as given; raised at start-up, before serving anything."""

    code = "configuration_error"


class Unavailable(HookpostError):
    """A dependency (the database) is down; the caller should retry later (503)."""

    code = "service_unavailable"


@dataclass(frozen=True)
class Problem:
    """Why a value breaks a rule, as the pure rules of core say it (names, headers, filters):
    a message id and its parameters; `str()` is its English, for logs and the CLI."""

    message_id: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    @classmethod
    def of(cls, message_id: str, **params: str | int) -> Problem:
        return cls(message_id, params)

    def __str__(self) -> str:
        return _plain(self.message_id, self.params)


class RuleBroken(ValueError):
    """A `Problem` raised where a library wants a ValueError (pydantic validators); the edge
    reads the problem back from it."""

    def __init__(self, broken: Problem) -> None:
        super().__init__(str(broken))
        self.problem = broken


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input value: where it is, what is wrong, and a machine type.

    What is wrong is a `message_id` with its `params` (the edge's table words it), or, under
    the id `invalid_value`, the words of a validator or library as given in `msg`; `msg` is
    always an English rendering for logs.
    """

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"
    message_id: str = "invalid_value"
    params: Mapping[str, str | int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, loc: tuple[str | int, ...], broken: Problem, type_: str = "value_error"
    ) -> FieldProblem:
        """The value at `loc` breaks a rule of core, as `broken` says."""
        return cls(loc, str(broken), type_, broken.message_id, broken.params)


class InvalidInput(HookpostError):
    """One or more input values break a rule (422)."""

    code = "validation_error"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(p.msg for p in problems), message_id="validation_error")
        self.problems = problems

    @classmethod
    def at(
        cls,
        loc: tuple[str | int, ...],
        message_id: str,
        type_: str = "value_error",
        **params: str | int,
    ) -> InvalidInput:
        """A value at `loc` breaks the rule `message_id` (worded by the edge's table)."""
        return cls([FieldProblem(loc, _plain(message_id, params), type_, message_id, params)])

    @classmethod
    def broken(
        cls, loc: tuple[str | int, ...], broken: Problem, type_: str = "value_error"
    ) -> InvalidInput:
        """A value at `loc` breaks a rule of core, as `broken` says."""
        return cls([FieldProblem.of(loc, broken, type_)])

    @classmethod
    def said(
        cls, loc: tuple[str | int, ...], words: str, type_: str = "value_error"
    ) -> InvalidInput:
        """A value at `loc` is refused in a validator's (or library's) own words."""
        return cls([FieldProblem(loc, words, type_)])
