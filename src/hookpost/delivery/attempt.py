"""One attempt end to end: build the signed request for a claim, send it, decide what follows.

Each attempt is signed afresh (new timestamp, one signature per live secret) and keeps the
message id as `webhook-id`, so receivers can drop duplicates.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from hookpost import __version__
from hookpost.core import signing
from hookpost.core.headers import SENSITIVE
from hookpost.core.ids import ATTEMPT, IdFactory
from hookpost.core.models import Claim, Endpoint
from hookpost.core.outcomes import AttemptRecord, Outcome, decide
from hookpost.core.retry import RetryPolicy
from hookpost.delivery.sender import Sender

USER_AGENT = f"hookpost/{__version__}"
REDACTED = "[redacted]"


def request_headers(claim: Claim, now: datetime) -> dict[str, str]:
    """The headers of one attempt: content type, identity, both signature sets, custom ones."""
    return signed_headers(claim.endpoint, claim.message.id, claim.message.payload or b"", now)


def signed_headers(endpoint: Endpoint, msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    secrets = [k.secret for k in endpoint.live_keys(now)]
    signature = signing.signature_header(secrets, msg_id, timestamp, body)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": signature,
    }
    # Custom headers are validated on input, so they cannot replace any of the above.
    headers.update(endpoint.headers)
    return headers


def redacted(headers: dict[str, str]) -> dict[str, str]:
    """Headers as stored in the history: credentials the customer configured are hidden."""
    return {k: (REDACTED if k.lower() in SENSITIVE else v) for k, v in headers.items()}


class AttemptRunner:
    def __init__(
        self,
        sender: Sender,
        policy: RetryPolicy,
        clock: Callable[[], datetime],
        *,
        disable_after: timedelta,
        ids: IdFactory,
        rng: random.Random | None = None,
    ) -> None:
        self.ids = ids
        self.sender = sender
        self.policy = policy
        self.clock = clock
        self.disable_after = disable_after
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security

    async def run(self, claim: Claim) -> AttemptRecord:
        started = self.clock()
        attempt_id = self.ids.new_at(ATTEMPT, started)  # its time part is the attempt's start
        headers = request_headers(claim, started)
        outcome = await self.sender.send(
            claim.endpoint.method,
            claim.endpoint.url,
            headers,
            claim.message.payload or b"",
            started,
        )
        outcome = _with_redacted_headers(outcome, headers)
        return self.record(attempt_id, claim, outcome, started)

    async def probe(self, endpoint: Endpoint, msg_id: str, body: bytes) -> Outcome:
        """One unrecorded attempt (a test delivery) through the same guarded sender."""
        now = self.clock()
        headers = signed_headers(endpoint, msg_id, body, now)
        outcome = await self.sender.send(endpoint.method, endpoint.url, headers, body, now)
        return _with_redacted_headers(outcome, headers)

    def record(
        self, attempt_id: str, claim: Claim, outcome: Outcome, started: datetime
    ) -> AttemptRecord:
        decision = decide(
            trigger=claim.trigger,
            attempts_before=claim.attempts,
            outcome=outcome,
            policy=self.policy,
            now=self.clock(),
            unit_random=self.rng.random(),
            failing_since=claim.endpoint.failing_since,
            disable_after=self.disable_after,
        )
        return AttemptRecord(attempt_id, claim, outcome, decision, started)


def _with_redacted_headers(outcome: Outcome, sent: dict[str, str]) -> Outcome:
    return replace(outcome, request_headers=redacted(sent))
