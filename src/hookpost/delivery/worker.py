"""The worker loop: claim -> admit -> run -> record. Claims due deliveries in batches as the
scheduler allows, attempts them concurrently, records results in batches, and on shutdown
finishes or hands back whatever is in flight.

What to claim and what may run is the scheduler's decision (delivery/scheduling.py); this
module does the I/O around it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hookpost.core.errors import Unavailable
from hookpost.core.models import Claim, DeliveryState
from hookpost.core.outcomes import AttemptRecord, ErrorClass, Outcome
from hookpost.core.telemetry import AttemptObserver
from hookpost.delivery.attempt import AttemptRunner
from hookpost.delivery.doorbell import Doorbell
from hookpost.delivery.scheduling import Monotonic, Scheduler, SchedulingPolicy, Ticket
from hookpost.store.pacing import EndpointPacing
from hookpost.store.ports import DeliveryQueue

log = logging.getLogger("hookpost.worker")
RECORD_BATCH = 256
RECORD_ENOUGH = 32  # results worth a transaction without waiting for more
RECORD_GATHER = 0.005  # seconds a small batch of results may wait for company
# The lease must outlast an attempt (bounded by the request timeout) plus its recording.
LEASE_SLACK = 0.5
BACKOFF_MAX = 5.0
Notify = Callable[[Sequence[AttemptRecord]], Awaitable[None]]


@dataclass(frozen=True)
class WorkerLimits:
    """Built from the settings (config.WorkerSettings declares each with its default)."""

    concurrency: int
    endpoint_concurrency: int
    batch: int
    lease: timedelta
    request_timeout: float
    poll_interval: float
    shutdown_grace: float
    slow_after: float
    slow_slots: int
    probation_concurrency: int | None = None
    probation_slow_after: float | None = None

    def policy(self) -> SchedulingPolicy:
        return SchedulingPolicy(
            slots=self.concurrency,
            endpoint_slots=self.endpoint_concurrency,
            batch=self.batch,
            slow_after=self.slow_after,
            slow_slots=self.slow_slots,
            probation_slots=self.probation_concurrency,
            probation_after=self.probation_slow_after,
        )


# Failures that say the endpoint cannot keep up (or is gone), as opposed to a quick answer
# it chose to give: these lower its share of the worker.
_STRUGGLING = frozenset(
    {
        ErrorClass.TIMEOUT,
        ErrorClass.REFUSED,
        ErrorClass.RESET,
        ErrorClass.DISCONNECTED,
        ErrorClass.NETWORK,
        ErrorClass.DNS,
        ErrorClass.TLS,
    }
)


def healthy(outcome: Outcome) -> bool:
    if outcome.error_class in _STRUGGLING:
        return False
    return not (outcome.status_code >= 500 or outcome.status_code == 429)


class Worker:
    def __init__(
        self,
        store: DeliveryQueue,
        runner: AttemptRunner,
        doorbell: Doorbell,
        limits: WorkerLimits,
        *,
        clock: Callable[[], datetime],
        notify: Notify | None = None,
        pacing: EndpointPacing | None = None,
        monotonic: Monotonic = time.monotonic,
        observer: AttemptObserver | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.doorbell = doorbell
        self.limits = limits
        self.clock = clock
        self.notify = notify
        self.pacing = pacing
        self.observer = observer  # metrics: told of each batch the store accepted
        self.scheduler = Scheduler(limits.policy(), monotonic)
        self._stopping = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], Claim] = {}
        self._results: asyncio.Queue[AttemptRecord] = asyncio.Queue()
        self._next_due: datetime | None = None
        self._backlogged = False
        # Claims of endpoints at their limit, in claim order, waiting for a running attempt of
        # theirs to end (they hold no slot; the scheduler bounds how many).
        self._waiting: dict[str, collections.deque[Claim]] = {}
        # Claims of endpoints on probation, kept until probation has room (they hold no slot;
        # no claim takes more of such endpoints while any wait, so at most one claim's worth).
        self._probation: collections.deque[Claim] = collections.deque()
        self._handing_back: set[asyncio.Task[None]] = set()
        self.delivered = 0

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until `stop()`; then drain within the grace period and hand back the rest."""
        recorder = asyncio.create_task(self._record_forever(), name="hookpost-recorder")
        try:
            await self._claim_forever()
        finally:
            await self._hand_back_waiting()
            await self._drain()
            await asyncio.gather(*self._handing_back, return_exceptions=True)
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
            await self._flush_results()
            log.info("worker stopped after %d successful deliveries", self.delivered)

    def stop(self) -> None:
        self._stopping.set()
        self.doorbell.ring()

    # -- handover (hookpost.core.handover.Handover) ------------------------------------------
    @property
    def lease(self) -> timedelta:
        return self.limits.lease

    def reserve(self, endpoint_ids: Sequence[str]) -> Sequence[str]:
        """Slots for new deliveries that a publish in this process leases to this worker."""
        if self._stopping.is_set():
            return ()
        return self.scheduler.reserve(endpoint_ids)

    def accept(self, claims: Sequence[Claim], reserved: Sequence[str]) -> None:
        if self._stopping.is_set():
            self.scheduler.settle(reserved, ())
            if claims:  # too late to start: due again at once for whoever runs next
                self._start_handing_back(list(claims))
            return
        tickets = self.scheduler.settle(reserved, [c.endpoint.id for c in claims])
        for claim, ticket in zip(claims, tickets, strict=True):
            self._start(claim, ticket)

    @property
    def busy(self) -> bool:
        """True while due work may be waiting for this worker: its last claim came back full
        or it had no free slots. Then other processes' workers are worth waking."""
        return self._backlogged and not self._stopping.is_set()

    # -- claiming ------------------------------------------------------------------------------
    async def _claim_forever(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            self._start_probation()
            shares = self.scheduler.claim_request()
            claimed: list[Claim] = []
            if shares.size > 0:
                try:
                    claimed = await self.store.claim_due(shares, self.limits.lease)
                    backoff = 0.1
                except Unavailable as exc:
                    log.warning("cannot claim deliveries (%s); retrying in %.1fs", exc, backoff)
                    await self.doorbell.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
            self.scheduler.note_claim(shares, collections.Counter(c.endpoint.id for c in claimed))
            self._admit(await self._paced(claimed))
            # More may be due when the claim came back full or could not be made for want of
            # free slots; finishing tasks then wake the loop (see `_finished`), as they do
            # when their endpoint has more due (the scheduler's backlog).
            full = len(claimed) == shares.size
            # A claim limited to trusted endpoints leaves the rest for when probation has
            # room again: as much a backlog as a full claim.
            self._backlogged = shares.size == 0 or full or shares.listed
            if claimed and full:
                await asyncio.sleep(0)  # claim again after the new tasks got going
                continue
            await self.doorbell.wait(self._sleep_time())

    async def _paced(self, claimed: list[Claim]) -> list[Claim]:
        """Of the claims for endpoints with a throttle rate, those whose turn has come; the
        others go back to the queue, due at their turns (they hold no slot meanwhile)."""
        throttled: dict[str, list[Claim]] = {}
        for claim in claimed:
            if claim.endpoint.throttle_rate and self.pacing is not None:
                throttled.setdefault(claim.endpoint.id, []).append(claim)
        if not throttled or self.pacing is None:
            return claimed
        go = [c for c in claimed if c.endpoint.id not in throttled]
        waiting: list[tuple[Claim, float]] = []
        try:
            for endpoint_id, claims in throttled.items():
                rate = float(claims[0].endpoint.throttle_rate or 1)
                paced = await self.pacing.take(endpoint_id, rate, len(claims))
                go += claims[: paced.allowed]
                waiting += zip(claims[paced.allowed :], paced.later, strict=True)
            await self.pacing.defer(waiting)
        except Unavailable as exc:
            # Their leases run out and they come due again; nothing goes unpaced.
            log.warning("cannot pace throttled endpoints (%s)", exc)
            return [c for c in claimed if c.endpoint.id not in throttled]
        return go

    def _admit(self, claimed: Sequence[Claim]) -> None:
        deferred = []
        for claim in claimed:
            endpoint_id = claim.endpoint.id
            ticket = None if endpoint_id in self._waiting else self.scheduler.admit(endpoint_id)
            if ticket is not None:
                self._start(claim, ticket)
            elif self.scheduler.keep_for_probation(endpoint_id):
                self._probation.append(claim)
            elif self.scheduler.wait(endpoint_id):
                self._waiting.setdefault(endpoint_id, collections.deque()).append(claim)
            else:  # more than the endpoint may have waiting (a handover took its room)
                deferred.append(claim)
        if deferred:
            self._start_handing_back(deferred)

    def _start_probation(self) -> None:
        """Admit the claims kept for probation's room, in claim order, as far as it goes."""
        if not self._probation or self.scheduler.probation_free <= 0:
            return
        kept = list(self._probation)
        self._probation.clear()
        self.scheduler.release_probation(len(kept))
        self._admit(kept)

    def _start_waiting(self, endpoint_id: str) -> None:
        """Start the endpoint's waiting claims, oldest first, as far as its room allows."""
        queue = self._waiting.get(endpoint_id)
        while queue:
            ticket = self.scheduler.admit(endpoint_id)
            if ticket is None:
                if self.scheduler.running_for(endpoint_id) == 0:
                    # Nothing running to wake them: on probation they wait for its room,
                    # held (Retry-After) they go back to the queue.
                    rest = list(queue)
                    queue.clear()
                    for _ in rest:
                        self.scheduler.unwait(endpoint_id)
                    if all([self.scheduler.keep_for_probation(endpoint_id) for _ in rest]):
                        self._probation.extend(rest)
                    else:
                        self._start_handing_back(rest)
                    break
                return
            self.scheduler.unwait(endpoint_id)
            self._start(queue.popleft(), ticket)
        self._waiting.pop(endpoint_id, None)

    def _start(self, claim: Claim, ticket: Ticket) -> None:
        task = asyncio.create_task(self._deliver(claim, ticket))
        self._inflight[task] = claim
        task.add_done_callback(self._finished)

    def _start_handing_back(self, claims: list[Claim]) -> None:
        task = asyncio.create_task(self._hand_back_all(claims))
        self._handing_back.add(task)
        task.add_done_callback(self._handing_back.discard)

    async def _hand_back_all(self, claims: list[Claim]) -> None:
        try:
            await self.store.release(claims, None)
        except Unavailable:
            log.warning("could not release %d deliveries; their leases will expire", len(claims))

    def _sleep_time(self) -> float:
        timeout = self.limits.poll_interval
        changing = self._backlogged or self._probation
        turns_slow = self.scheduler.next_change() if changing else None
        if turns_slow is not None:
            timeout = min(timeout, turns_slow)  # its slot frees then: claim more
        if self._next_due is not None:
            until_due = (self._next_due - self.clock()).total_seconds()
            if until_due <= timeout:
                self._next_due = None
                timeout = max(until_due, 0.0)
        return timeout

    def _finished(self, task: asyncio.Task[None]) -> None:
        claim = self._inflight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())
        if claim is None:
            return
        endpoint_id = claim.endpoint.id
        if not self._stopping.is_set():
            self._start_waiting(endpoint_id)
            self._start_probation()
        if not self.scheduler.can_claim():
            return
        if self._backlogged or self.scheduler.wants_claim(endpoint_id):
            self.doorbell.ring()  # room to claim more of a known backlog

    # -- delivering ----------------------------------------------------------------------------
    async def _deliver(self, claim: Claim, ticket: Ticket) -> None:
        ok = True
        try:
            if claim.message.payload is None:
                await self._hand_back(claim, DeliveryState.CANCELED)  # expunged: skip silently
                return
            if claim.endpoint.disabled:
                await self._hand_back(claim, DeliveryState.PAUSED)
                return
            remaining = (claim.lease_until - self.clock()).total_seconds()
            if remaining < self.limits.request_timeout + LEASE_SLACK:
                await self._hand_back(claim, None)  # too late to finish within the lease
                return
            record = await self.runner.run(claim)
            ok = healthy(record.outcome)
            pause = record.outcome.retry_after
            if pause is not None and record.outcome.status_code in {429, 503}:
                await self._hold(claim, pause)
        finally:
            self.scheduler.finished(ticket, healthy=ok)
        await self._results.put(record)

    async def _hold(self, claim: Claim, seconds: float) -> None:
        """The endpoint asked for a pause: this worker holds off at once, every worker once
        the pause is stored."""
        self.scheduler.hold(claim.endpoint.id, seconds)
        if self.pacing is None:
            return
        try:
            await self.pacing.hold(claim.endpoint.id, self.clock() + timedelta(seconds=seconds))
        except Unavailable as exc:
            log.warning("could not store %s's Retry-After (%s)", claim.endpoint.id, exc)

    async def _hand_back(self, claim: Claim, state: DeliveryState | None) -> None:
        try:
            await self.store.release([claim], state)
        except Unavailable:
            log.warning("could not release %s; its lease will expire", claim.delivery_id)

    # -- recording -----------------------------------------------------------------------------
    async def _record_forever(self) -> None:
        while True:
            batch = await self._gather_results()
            try:
                await self._record(batch)
            except Exception:
                # Unrecorded attempts are retried once their leases expire (at-least-once).
                log.exception("could not record %d attempts", len(batch))

    async def _gather_results(self) -> list[AttemptRecord]:
        """The next results to record: what is waiting, and for a few milliseconds more while
        attempts are still finishing, so one transaction records many."""
        batch = [await self._results.get()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECORD_GATHER):
                while len(batch) < RECORD_BATCH:
                    if self._results.empty() and (
                        len(batch) >= RECORD_ENOUGH or not self._inflight
                    ):
                        break
                    batch.append(await self._results.get())
        return batch

    async def _flush_results(self) -> None:
        batch: list[AttemptRecord] = []
        while not self._results.empty():
            batch.append(self._results.get_nowait())
        if batch:
            await self._record(batch)

    async def _record(self, batch: list[AttemptRecord]) -> None:
        backoff = 0.1
        while True:
            try:
                kept = await self.store.record_attempts(batch)
                break
            except Unavailable as exc:
                if self._stopping.is_set() and backoff > 1:
                    log.error("dropping %d results at shutdown: %s", len(batch), exc)
                    return  # their leases expire and the deliveries are attempted again
                log.warning("cannot record attempts (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        self.delivered += sum(1 for r in kept if r.outcome.succeeded)
        if self.observer is not None:
            self.observer.attempts_recorded(kept)
        for record in kept:
            due = record.decision.next_attempt_at
            pending = record.decision.state is DeliveryState.PENDING and due is not None
            if pending and (self._next_due is None or due < self._next_due):  # type: ignore[operator]
                self._next_due = due
                self.doorbell.ring()
        if self.notify is not None and any(r.decision.notices for r in kept):
            try:
                await self.notify(kept)
            except Exception:  # a notification must never stop delivery
                log.exception("could not emit operational webhooks")

    # -- shutdown ------------------------------------------------------------------------------
    async def _hand_back_waiting(self) -> None:
        waiting = [claim for queue in self._waiting.values() for claim in queue]
        for claim in waiting:
            self.scheduler.unwait(claim.endpoint.id)
        self._waiting.clear()
        self.scheduler.release_probation(len(self._probation))
        waiting += self._probation
        self._probation.clear()
        if waiting:
            await self._hand_back_all(waiting)

    async def _drain(self) -> None:
        if not self._inflight:
            return
        tasks = list(self._inflight)
        _, pending = await asyncio.wait(tasks, timeout=self.limits.shutdown_grace)
        unfinished = [self._inflight[t] for t in pending if t in self._inflight]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if unfinished:
            log.info("handing back %d unfinished deliveries", len(unfinished))
            with contextlib.suppress(Unavailable):
                await self.store.release(unfinished, None)
