"""Test deliveries: send a signed test event to an endpoint now and say what happened.

The request goes through the same guarded sender as real deliveries, but nothing is stored
and the result never counts toward the endpoint's failure clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hookpost import codec
from hookpost.core import ids
from hookpost.core.ids import IdFactory
from hookpost.core.models import Endpoint
from hookpost.core.outcomes import Outcome
from hookpost.service.lookup import require_endpoint
from hookpost.store.ports import Lookups

TEST_EVENT = "hookpost.test"
# (endpoint, message id, body) -> what happened; the runtime wires the delivery sender here.
Probe = Callable[[Endpoint, str, bytes], Awaitable[Outcome]]


@dataclass(frozen=True)
class ProbeResult:
    webhook_id: str
    event_type: str
    outcome: Outcome


class EndpointProbe:
    def __init__(self, store: Lookups, probe: Probe, ids_: IdFactory) -> None:
        self._store = store
        self._probe = probe
        self._ids = ids_

    async def test(
        self,
        org_id: str,
        app_ref: str,
        ref: str,
        *,
        event_type: str = TEST_EVENT,
        payload: dict[str, Any] | None = None,
    ) -> ProbeResult:
        endpoint = await require_endpoint(self._store, org_id, app_ref, ref)
        webhook_id = self._ids.new(ids.MESSAGE)
        body = codec.dumps(
            payload
            if payload is not None
            else {
                "type": event_type,
                "data": {"message": "This is a test webhook from hookpost."},
            }
        )
        outcome = await self._probe(endpoint, webhook_id, body)
        return ProbeResult(webhook_id, event_type, outcome)
