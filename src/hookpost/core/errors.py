"""The one error tree of hookpost; every edge maps these to its own wire form.

Each error carries a stable machine `code` and a `detail` a person can read.
"""

from __future__ import annotations

from dataclasses import dataclass


class HookpostError(Exception):
    """Base of every error hookpost raises on purpose."""

    code = "generic_error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class BadRequest(HookpostError):
    """The request is well formed but cannot be acted on (400)."""


class AuthenticationFailed(HookpostError):
    code = "authentication_failed"


class Forbidden(HookpostError):
    code = "insufficient access"


class NotFound(HookpostError):
    code = "not_found"


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
class FieldProblem:
    """One invalid input value: where it is, what is wrong, and a machine type."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"


class InvalidInput(HookpostError):
    """One or more input values break a rule (422)."""

    code = "validation_error"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(p.msg for p in problems))
        self.problems = problems

    @classmethod
    def at(cls, loc: tuple[str | int, ...], msg: str, type_: str = "value_error") -> InvalidInput:
        return cls([FieldProblem(loc, msg, type_)])
