"""The endpoint form: turning what a customer typed into `EndpointFields`, or into problems
said in words (keyed by a machine type so the page can translate them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hookpost.core import headers as header_rules
from hookpost.core import names
from hookpost.core.errors import FieldProblem
from hookpost.core.fields import EndpointFields
from hookpost.core.models import Endpoint
from hookpost.portal.visit import Form

METHODS = ("POST", "PUT", "PATCH")
MAX_RATE = 65_535


@dataclass
class EndpointDraft:
    """What the form shows: the values typed so far, as text."""

    url: str = ""
    description: str = ""
    method: str = "POST"
    event_types: list[str] = field(default_factory=list)
    headers: str = ""
    rate_limit: str = ""
    disabled: bool = False
    # A signing secret of the customer's own (create only; empty: one is generated). Never
    # shown again in the form, even when the form comes back with problems.
    secret: str = field(default="", repr=False)

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointDraft:
        return cls(
            url=endpoint.url,
            description=endpoint.description,
            method=endpoint.method,
            event_types=list(endpoint.event_types or ()),
            headers="\n".join(f"{k}: {v}" for k, v in endpoint.headers.items()),
            rate_limit="" if endpoint.throttle_rate is None else str(endpoint.throttle_rate),
            disabled=endpoint.disabled,
        )

    @classmethod
    def read(cls, form: Form) -> EndpointDraft:
        return cls(
            url=form.get("url").strip(),
            description=form.get("description").strip(),
            method=form.get("method", "POST"),
            event_types=form.getlist("event_types"),
            headers=form.get("headers"),
            rate_limit=form.get("rate_limit").strip(),
            disabled=form.get("disabled") == "on",
            secret=form.get("secret").strip(),
        )

    def fields(self) -> tuple[EndpointFields | None, list[FieldProblem]]:
        problems: list[FieldProblem] = []
        if not self.url:
            problems.append(FieldProblem(("url",), "Enter the URL of your endpoint.", "required"))
        if self.method not in METHODS:
            problems.append(FieldProblem(("method",), "Choose POST, PUT or PATCH.", "method"))
        problem = names.check_text(self.description, max_length=65_536)
        if problem:
            problems.append(FieldProblem.of(("description",), problem, "description"))
        parsed_headers = self._headers(problems)
        rate = self._rate(problems)
        if problems:
            return None, problems
        return (
            EndpointFields(
                url=self.url,
                method=self.method,
                description=self.description,
                disabled=self.disabled,
                event_types=tuple(dict.fromkeys(self.event_types)) or None,
                throttle_rate=rate,
                headers=parsed_headers,
            ),
            [],
        )

    def _headers(self, problems: list[FieldProblem]) -> dict[str, str]:
        parsed: dict[str, str] = {}
        for line in self.headers.splitlines():
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            if not colon:
                problems.append(
                    FieldProblem(("headers",), "Write each header as Name: value.", "headers")
                )
                return {}
            parsed[name.strip()] = value.strip()
        problem = header_rules.check_headers(parsed)
        if problem:
            problems.append(FieldProblem.of(("headers",), problem, "headers.rule"))
        return parsed

    def _rate(self, problems: list[FieldProblem]) -> int | None:
        if not self.rate_limit:
            return None
        if not self.rate_limit.isdigit() or not 1 <= int(self.rate_limit) <= MAX_RATE:
            problems.append(
                FieldProblem(
                    ("rate_limit",),
                    f"The rate limit is a whole number of messages per second, 1 to {MAX_RATE}.",
                    "rate_limit",
                )
            )
            return None
        return int(self.rate_limit)
