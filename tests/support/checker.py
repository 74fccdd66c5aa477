"""A Jepsen-style checker: every acknowledged message reached every subscribed endpoint.

It also counts duplicates (allowed after a crash, never without one) and verifies signatures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import standardwebhooks

from tests.support.receiver import Received


@dataclass(frozen=True)
class Verdict:
    missing: dict[str, set[str]]  # path -> acknowledged ids never received there
    duplicates: int
    unexpected: int  # requests to paths nobody subscribed, or for unknown ids
    bad_signatures: int

    @property
    def lost(self) -> int:
        return sum(len(ids) for ids in self.missing.values())


def check(
    acked: Iterable[str],
    requests: Iterable[Received],
    secrets: Mapping[str, str],
) -> Verdict:
    """`secrets` maps each subscribed endpoint path to its signing secret."""
    acked_ids = set(acked)
    seen: Counter[tuple[str, str]] = Counter()
    unexpected = bad = 0
    for request in requests:
        msg_id = request.headers.get("webhook-id", "")
        if request.path not in secrets or msg_id not in acked_ids:
            unexpected += 1
            continue
        seen[(request.path, msg_id)] += 1
        verifier = standardwebhooks.Webhook(secrets[request.path])
        try:
            verifier.verify(request.body, request.headers)
        except standardwebhooks.WebhookVerificationError:
            bad += 1
    missing = {path: {m for m in acked_ids if (path, m) not in seen} for path in secrets}
    duplicates = sum(count - 1 for count in seen.values())
    return Verdict(missing, duplicates, unexpected, bad)


def all_arrived(acked: Iterable[str], requests: Iterable[Received], paths: Iterable[str]) -> bool:
    wanted = {(p, m) for p in paths for m in acked}
    got = {(r.path, r.headers.get("webhook-id", "")) for r in requests}
    return wanted <= got
