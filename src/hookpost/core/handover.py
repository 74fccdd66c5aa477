"""Handing new deliveries straight to a worker in the same process.

A publish in `hookpost serve` writes its deliveries already leased to the local worker (when
it has free slots) and gives it the claims once the transaction commits, so a new message
costs no claim transaction and no wait for the worker to wake. The rows are leased exactly
as a claim leases them: if the process dies, the lease runs out and any worker takes over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from hookpost.core.models import Claim


class Handover(Protocol):
    @property
    def lease(self) -> timedelta:
        """How long a handed-over delivery belongs to the worker."""
        ...

    @property
    def busy(self) -> bool:
        """True while due work may be waiting for this worker (then wake other processes')."""
        ...

    def reserve(self, endpoint_ids: Sequence[str]) -> Sequence[str]:
        """Reserve slots for deliveries being written (one endpoint id each, in order): the
        endpoint ids of those the worker takes, as far as its room and theirs allow."""
        ...

    def accept(self, claims: Sequence[Claim], reserved: Sequence[str]) -> None:
        """Take the claims of a committed publish and free what `reserve` granted (some of
        which the claims now occupy; a failed publish accepts no claims)."""
        ...
