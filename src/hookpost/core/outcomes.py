"""What one attempt produced (a value, never an exception) and what happens to the delivery next.

`decide` is the whole retry/disable/notify rule set, pure, so it is tested without a network.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hookpost.core.models import Claim, DeliveryState, TriggerType
from hookpost.core.retry import RetryPolicy

FAILING_AFTER = 4  # Svix sends message.attempt.failing after the 4th failed attempt


class ErrorClass(enum.StrEnum):
    """Why an attempt got no 2xx, in words a customer understands."""

    HTTP_STATUS = "http_status"
    REDIRECT = "redirect"
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    TLS = "tls"
    RESET = "reset"
    DISCONNECTED = "disconnected"
    INVALID_RESPONSE = "invalid_response"
    BLOCKED = "blocked"
    NETWORK = "network"

    @property
    def explanation(self) -> str:
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    ErrorClass.HTTP_STATUS: "The endpoint answered with a status other than 2xx.",
    ErrorClass.REDIRECT: "The endpoint answered with a redirect; redirects are never followed, "
    "so point the endpoint at the final URL.",
    ErrorClass.DNS: "The endpoint's host name could not be resolved.",
    ErrorClass.REFUSED: "Nothing accepted the connection at the endpoint's address and port.",
    ErrorClass.TIMEOUT: "The endpoint did not answer in time.",
    ErrorClass.TLS: "The TLS handshake failed: the certificate is invalid, expired, or for "
    "another host name.",
    ErrorClass.RESET: "The endpoint reset the connection.",
    ErrorClass.DISCONNECTED: "The endpoint closed the connection without answering.",
    ErrorClass.INVALID_RESPONSE: "The endpoint's answer was not valid HTTP.",
    ErrorClass.BLOCKED: "The destination is an internal or reserved address; webhooks are "
    "never sent there.",
    ErrorClass.NETWORK: "A network error stopped the request.",
}


class FailureCode(enum.StrEnum):
    """The specific failure of an attempt (`error_code`, stored beside the English
    `error_message`): finer than its `ErrorClass`, and what the portal translates. Each member
    is its stored code and the English `explanation` of it."""

    explanation: str

    def __new__(cls, code: str, explanation: str) -> FailureCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.explanation = explanation
        return member

    @classmethod
    def of(cls, code: str | None) -> FailureCode | None:
        """The member stored as `code`; None for none, or for one this version does not know."""
        return next((member for member in cls if member.value == code), None)

    HTTP_STATUS = "http_status", "The endpoint answered with a status other than 2xx."
    REDIRECT = "redirect", "The endpoint answered with a redirect, which is never followed."
    URL_REFUSED = "url_refused", "The endpoint's URL breaks a URL rule, so nothing was sent."
    DESTINATION_BLOCKED = (
        "destination_blocked",
        "The URL leads to an internal or reserved address, so nothing was sent.",
    )
    DNS_TIMEOUT = (
        "dns_timeout",
        "The name servers of the endpoint's host did not answer in time.",
    )
    DNS_UNRESOLVED = (
        "dns_unresolved",
        "The endpoint's host name does not exist or has no address.",
    )
    TLS_FAILED = (
        "tls_failed",
        "The TLS handshake failed: the certificate is invalid, expired, or for another host name.",
    )
    CONNECT_TIMEOUT = "connect_timeout", "Connecting to the endpoint took too long."
    RESPONSE_TIMEOUT = (
        "response_timeout",
        "The endpoint accepted the connection but did not answer in time.",
    )
    CONNECTION_REFUSED = (
        "connection_refused",
        "The endpoint's server refused the connection: nothing listens on that address and port.",
    )
    CONNECT_FAILED = "connect_failed", "The connection to the endpoint could not be made."
    SERVER_DISCONNECTED = (
        "server_disconnected",
        "The endpoint closed the connection without answering.",
    )
    CONNECTION_RESET = "connection_reset", "The endpoint reset the connection."
    INVALID_HTTP = "invalid_http", "The endpoint's answer was not valid HTTP."
    NETWORK_ERROR = "network_error", "A network error stopped the request."
    UNEXPECTED_ERROR = "unexpected_error", "An unexpected error stopped the request."


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt: an HTTP status (0 for none) or an error class, never both."""

    status_code: int
    duration_ms: int
    error_class: ErrorClass | None = None
    error_message: str | None = None
    error_code: str | None = None  # the specific failure error_message describes, as an id
    response_body: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    request_headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None  # seconds the receiver asked us to wait (429/503)

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def timed_out(self) -> bool:
        return self.error_class is ErrorClass.TIMEOUT


class Notice(enum.StrEnum):
    """Operational webhooks an attempt can cause."""

    FAILING = "message.attempt.failing"
    EXHAUSTED = "message.attempt.exhausted"
    RECOVERED = "message.attempt.recovered"
    ENDPOINT_DISABLED = "endpoint.disabled"


@dataclass(frozen=True)
class Decision:
    """The delivery's next state after an attempt, and what else must follow from it."""

    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    disable_endpoint: bool = False
    notices: tuple[Notice, ...] = ()


def decide(
    *,
    trigger: TriggerType,
    attempts_before: int,
    outcome: Outcome,
    policy: RetryPolicy,
    now: datetime,
    unit_random: float,
    failing_since: datetime | None,
    disable_after: timedelta,
) -> Decision:
    """Apply the retry schedule, auto-disable and notification rules to one outcome.

    `failing_since` is when the endpoint started failing without a success in between (None
    if its last attempt succeeded); an endpoint is disabled when a delivery exhausts its
    schedule and it has failed for longer than `disable_after` (Svix's rule), or on 410 Gone.
    """
    attempts = attempts_before + 1
    if outcome.succeeded:
        recovered = (Notice.RECOVERED,) if attempts_before >= FAILING_AFTER else ()
        return Decision(DeliveryState.SUCCEEDED, attempts, None, notices=recovered)
    manual = trigger is TriggerType.MANUAL
    if outcome.status_code == 410:
        # Gone: the receiver says this URL is dead; keep the delivery for a later re-enable.
        # A manual attempt is never retried, so a re-enable must not resume it either.
        state = DeliveryState.FAILED if manual else DeliveryState.PAUSED
        next_at = None if manual else now
        return Decision(state, attempts, next_at, True, (Notice.ENDPOINT_DISABLED,))
    if manual:
        return Decision(DeliveryState.FAILED, attempts, None)
    delay = policy.next_delay(
        attempts,
        unit_random=unit_random,
        retry_after=outcome.retry_after,
        timed_out=outcome.timed_out,
    )
    failing = (Notice.FAILING,) if attempts == FAILING_AFTER else ()
    if delay is not None:
        return Decision(
            DeliveryState.PENDING, attempts, now + timedelta(seconds=delay), notices=failing
        )
    notices = (*failing, Notice.EXHAUSTED)
    since = failing_since or now
    if now - since > disable_after:
        return Decision(
            DeliveryState.FAILED, attempts, None, True, (*notices, Notice.ENDPOINT_DISABLED)
        )
    return Decision(DeliveryState.FAILED, attempts, None, notices=notices)


@dataclass(frozen=True)
class AttemptRecord:
    """One finished attempt, ready to be written: the claim it used, what happened, what next."""

    attempt_id: str
    claim: Claim
    outcome: Outcome
    decision: Decision
    started_at: datetime
