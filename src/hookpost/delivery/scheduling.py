"""Admission: how much a worker claims, how many attempts each endpoint may have running, and
how running attempts are counted against the worker's capacity. Pure policy, clock injected.

Why it is shaped this way (docs/delivery.md, "Scheduling and isolation"):
- An endpoint's share is enforced before work is taken, not after: a claim asks the store
  for at most each endpoint's remaining room and none for an endpoint at its limit, so work
  for a slow endpoint waits in the database instead of in the worker's slots.
- An endpoint that times out or fails gets less room (halved per failure, down to one
  attempt: it is still probed), and earns it back one success at a time.
- A worker slot is for work that makes progress. An attempt still running after
  `slow_after` seconds moves to a lane of its own, bounded separately (an idle socket costs
  asyncio almost nothing), so endpoints that hang cannot occupy the slots healthy ones need.
- Endpoints are on probation until they answer well: a new endpoint, or one whose last
  attempt failed or turned slow, may use only `probation_slots` of the worker's slots (its
  attempts move to the slow lane sooner, after `probation_after`), and while those are
  taken a claim asks only for endpoints that answered well lately. A thousand dead
  endpoints, each with one message, then cannot keep a healthy customer waiting its turn
  behind them.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hookpost.core.models import ClaimShares

Monotonic = Callable[[], float]


@dataclass(frozen=True)
class SchedulingPolicy:
    """Built from the worker's settings (config.WorkerSettings documents each)."""

    slots: int  # attempts making progress at once
    endpoint_slots: int  # attempts at once for one endpoint, at most
    batch: int  # deliveries one claim takes, at most
    slow_after: float  # seconds after which a running attempt counts as slow
    slow_slots: int  # slow attempts at once (idle sockets waiting on receivers)
    # Seconds an idle endpoint's reduced room is remembered: long enough that a dead endpoint
    # stays throttled between its retries, short enough that the table stays small.
    forget_after: float = 600.0
    # Of `slots`, how many attempts to endpoints on probation may make progress at once
    # (None: no probation, every endpoint is trusted), and after how many seconds such an
    # attempt counts as slow (None: `slow_after`).
    probation_slots: int | None = None
    probation_after: float | None = None
    # Endpoints remembered as answering well (each claim on probation names the most recent).
    proven_limit: int = 10_000


@dataclass
class _Endpoint:
    limit: int
    running: int = 0
    last_seen: float = 0.0
    held_until: float = 0.0  # the endpoint asked us to wait (Retry-After)
    waiting: int = 0  # claimed ahead, waiting in the worker for a running attempt to end
    backlog: bool = False  # more of its deliveries may be due in the database


@dataclass
class Ticket:
    """One admitted attempt, from admission until `finished`."""

    endpoint_id: str
    started: float
    slow: bool = False
    done: bool = False
    probation: bool = False  # the endpoint had not answered well lately when it started


class Scheduler:
    def __init__(self, policy: SchedulingPolicy, clock: Monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._endpoints: dict[str, _Endpoint] = {}
        # Running attempts by start time: trusted endpoints' and those on probation (which
        # turn slow sooner).
        self._active: collections.deque[Ticket] = collections.deque()
        self._on_probation: collections.deque[Ticket] = collections.deque()
        self._active_count = 0
        self._probation_count = 0  # of _active_count
        self._slow_count = 0
        self._reserved = 0  # slots promised to deliveries being written by a publish
        self._reserved_probation: collections.Counter[str] = collections.Counter()  # of it
        self._probation_waiting = 0  # claims the worker keeps until probation has room
        # Endpoints whose last attempt here answered well, by when (most recent last).
        self._proven: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._next_sweep = 0.0

    # -- capacity ------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return self._active_count + self._slow_count

    @property
    def free(self) -> int:
        """Slots for attempts that make progress, after moving slow ones to their lane."""
        self._move_slow()
        return self.policy.slots - self._active_count - self._reserved

    @property
    def probation_free(self) -> int:
        """Slots an endpoint on probation may still take (a large number without probation)."""
        limit = self.policy.probation_slots
        if limit is None:
            return self.policy.slots
        self._move_slow()
        return limit - self._probation_count - self._reserved_probation.total()

    @property
    def probation_full(self) -> bool:
        """True while endpoints on probation may start nothing more, or claims of theirs
        already wait for room: then claims are for trusted endpoints only."""
        return self.probation_free <= 0 or self._probation_waiting > 0

    def next_change(self) -> float | None:
        """Seconds until a running attempt turns slow and frees its slot (None: none will)."""
        if self._slow_count >= self.policy.slow_slots:
            return None
        now = self.clock()
        changes = [
            ticket.started + after - now
            for ticket, after in (
                (self._oldest(self._active), self.policy.slow_after),
                (self._oldest(self._on_probation), self._probation_after),
            )
            if ticket is not None
        ]
        return max(0.0, min(changes)) if changes else None

    def claim_request(self) -> ClaimShares:
        """The next claim: none while fewer than half a batch of slots are free, and for an
        endpoint with attempts running, nothing until half its room is free again, so a busy
        worker claims (and writes) in batches, not a row at a time. While probation is full,
        the claim names the endpoints that answered well lately and takes only theirs."""
        batch = min(self.policy.batch, self.policy.slots)
        size = min(batch, self.free) if self.can_claim() else 0
        if self.probation_full:
            return self._trusted_claim(size)
        default = self._fresh_room()
        rooms = {}  # only where it differs from a fresh endpoint's: the claim stays small
        for endpoint_id in self._endpoints:
            room = self.claimable(endpoint_id)
            if room != default:
                rooms[endpoint_id] = room
        return ClaimShares(size, default, rooms)

    def _trusted_claim(self, size: int) -> ClaimShares:
        """A claim for endpoints that answered well lately, at most `window` of them: those
        known to have more due first, then the most recent."""
        if size <= 0 or not self._proven:
            return ClaimShares(0, 0, {}, listed=True)
        limit = ClaimShares(size, 0).window
        backlogged = (e for e in reversed(self._proven) if self._backlog_of(e))
        recent = (e for e in reversed(self._proven) if not self._backlog_of(e))
        rooms: dict[str, int] = {}
        for endpoint_id in itertools.chain(backlogged, recent):
            room = self.claimable(endpoint_id)
            if room > 0:
                rooms[endpoint_id] = room
                if len(rooms) >= limit:
                    break
        return ClaimShares(size if rooms else 0, 0, rooms, listed=True)

    def _backlog_of(self, endpoint_id: str) -> bool:
        state = self._endpoints.get(endpoint_id)
        return state is not None and state.backlog

    def _fresh_room(self) -> int:
        """What a claim may take of an endpoint this worker holds nothing of, at full room."""
        return 2 * self.policy.endpoint_slots

    def can_claim(self) -> bool:
        """Whether a claim now would ask for anything (claim_request without the rooms)."""
        batch = min(self.policy.batch, self.policy.slots)
        free = self.free
        return free > 0 and not (self.running and free < max(1, batch // 2))

    def claimable(self, endpoint_id: str) -> int:
        """How many of the endpoint's deliveries a claim should take now (see claim_request).

        A healthy endpoint's claims may run one share ahead of its attempts (they wait in
        the worker, holding no slot), so it never idles between claims; a struggling one
        gets no more than it may run."""
        state = self._endpoints.get(endpoint_id)
        if state is None:
            return self._fresh_room()
        if state.held_until > self.clock():
            return 0
        capacity = state.limit + self._ahead(state)
        held = state.running + state.waiting
        room = capacity - held
        if held and room < (capacity + 1) // 2:
            return 0
        return max(0, room)

    def _ahead(self, state: _Endpoint) -> int:
        return state.limit if state.limit >= self.policy.endpoint_slots else 0

    def wait(self, endpoint_id: str) -> bool:
        """Keep a claim the endpoint cannot start yet (True), or refuse it (hand it back)."""
        state = self._state(endpoint_id)
        if state.waiting >= self._ahead(state):
            return False
        state.waiting += 1
        return True

    def unwait(self, endpoint_id: str) -> None:
        """A waiting claim leaves the worker's hands (started or handed back)."""
        self._endpoints[endpoint_id].waiting -= 1

    def note_claim(self, shares: ClaimShares, taken: Mapping[str, int]) -> None:
        """What a claim brought back tells which endpoints may have more due: those that got
        all their room, or all of them when the claim came back full."""
        full = sum(taken.values()) >= shares.size
        for endpoint_id, count in taken.items():
            self._state(endpoint_id).backlog = full or count >= shares.room_of(endpoint_id)
        if full:
            return
        # A claim that came back short found nothing more of the endpoints it could take:
        # their backlog is gone, and an idle one at full room need not be remembered (every
        # endpoint remembered costs each claim a little).
        for endpoint_id, state in list(self._endpoints.items()):
            if endpoint_id in taken or shares.room_of(endpoint_id) <= 0:
                continue
            state.backlog = False
            if self._forgettable(state):
                del self._endpoints[endpoint_id]

    def wants_claim(self, endpoint_id: str) -> bool:
        """True when the endpoint may have due work in the database and room to take it."""
        state = self._endpoints.get(endpoint_id)
        return state is not None and state.backlog and self.claimable(endpoint_id) > 0

    # -- probation -----------------------------------------------------------------------------
    def trusted(self, endpoint_id: str) -> bool:
        """True when the endpoint's last attempt here answered well (always without probation)."""
        return self.policy.probation_slots is None or endpoint_id in self._proven

    def keep_for_probation(self, endpoint_id: str) -> bool:
        """A claim of an endpoint on probation that could start but for probation's limit:
        True to keep it in the worker (holding no slot) until `probation_free`; the worker
        calls `release_probation` when it leaves the queue."""
        if self.trusted(endpoint_id) or self.room_for(endpoint_id) <= 0:
            return False
        self._probation_waiting += 1
        return True

    def release_probation(self, count: int = 1) -> None:
        self._probation_waiting -= count

    @property
    def _probation_after(self) -> float:
        after = self.policy.probation_after
        return self.policy.slow_after if after is None else min(after, self.policy.slow_after)

    # -- admission -----------------------------------------------------------------------------
    def room_for(self, endpoint_id: str) -> int:
        state = self._endpoints.get(endpoint_id)
        if state is None:
            return self.policy.endpoint_slots
        if state.held_until > self.clock():
            return 0
        return state.limit - state.running

    def hold(self, endpoint_id: str, seconds: float) -> None:
        """The endpoint asked for a pause (429/503 with Retry-After): claim nothing of its
        for `seconds`; other endpoints are not affected."""
        state = self._state(endpoint_id)
        state.held_until = max(state.held_until, self.clock() + seconds)

    def admit(self, endpoint_id: str) -> Ticket | None:
        """A ticket to attempt now, or None: the endpoint is at its limit, or on probation
        while probation is full (defer the work)."""
        if self.room_for(endpoint_id) <= 0:
            return None
        if not self.trusted(endpoint_id) and self.probation_free <= 0:
            return None
        return self._start(endpoint_id)

    def reserve(self, endpoint_ids: Sequence[str]) -> list[str]:
        """For deliveries a publish is writing (one endpoint id each, in order): the ones
        this worker takes, as far as slots and each endpoint's room allow. They hold their
        slots and their endpoints' room until `settle`."""
        granted: list[str] = []
        free = self.free
        probation_free = self.probation_free
        for endpoint_id in endpoint_ids:
            state = self._endpoints.get(endpoint_id)
            # An endpoint with work queued before this keeps its order: the new delivery
            # queues behind it (and is claimed in turn).
            queued = state is not None and (state.backlog or state.waiting > 0)
            trusted = self.trusted(endpoint_id)
            room = trusted or probation_free > 0
            if len(granted) < free and room and not queued and self.room_for(endpoint_id) > 0:
                self._state(endpoint_id).running += 1
                granted.append(endpoint_id)
                if not trusted:
                    probation_free -= 1
                    self._reserved_probation[endpoint_id] += 1
            else:
                self._state(endpoint_id).backlog = True
        self._reserved += len(granted)
        return granted

    def settle(self, granted: Sequence[str], started: Sequence[str]) -> list[Ticket]:
        """A publish committed (or not): what `reserve` granted is given back, and the
        deliveries it handed over (`started`, endpoint ids) are admitted; their tickets."""
        self._reserved -= len(granted)
        for endpoint_id in granted:
            self._endpoints[endpoint_id].running -= 1
            if self._reserved_probation[endpoint_id] > 0:
                self._reserved_probation[endpoint_id] -= 1
        self._reserved_probation = +self._reserved_probation  # drop the zeros
        return [self._start(endpoint_id) for endpoint_id in started]

    def finished(self, ticket: Ticket, *, healthy: bool) -> None:
        """An attempt ended: its slot is free; `healthy` is False for a timeout, a failed
        connection or a 5xx/429, which lower the endpoint's room and put it on probation."""
        if ticket.done:
            return
        ticket.done = True
        if ticket.slow:
            self._slow_count -= 1
        else:
            self._active_count -= 1
            if ticket.probation:
                self._probation_count -= 1
        state = self._endpoints[ticket.endpoint_id]
        state.running -= 1
        now = state.last_seen = self.clock()
        if healthy:
            state.limit = min(self.policy.endpoint_slots, state.limit + 1)
            self._prove(ticket.endpoint_id, now)
        else:
            state.limit = max(1, state.limit // 2)
            self._proven.pop(ticket.endpoint_id, None)
        if self._forgettable(state):
            del self._endpoints[ticket.endpoint_id]  # nothing to remember
        self._forget_idle()

    def _prove(self, endpoint_id: str, now: float) -> None:
        if self.policy.probation_slots is None:
            return
        self._proven[endpoint_id] = now
        self._proven.move_to_end(endpoint_id)
        while len(self._proven) > self.policy.proven_limit:
            self._proven.popitem(last=False)

    def _forgettable(self, state: _Endpoint) -> bool:
        """Nothing running, waiting or queued, not held, at full room: nothing to remember."""
        idle = state.running == 0 and state.waiting == 0 and not state.backlog
        return (
            idle and state.held_until <= self.clock() and state.limit >= self.policy.endpoint_slots
        )

    def running_for(self, endpoint_id: str) -> int:
        state = self._endpoints.get(endpoint_id)
        return 0 if state is None else state.running

    def limit_of(self, endpoint_id: str) -> int:
        state = self._endpoints.get(endpoint_id)
        return self.policy.endpoint_slots if state is None else state.limit

    # -- bookkeeping ---------------------------------------------------------------------------
    def _state(self, endpoint_id: str) -> _Endpoint:
        state = self._endpoints.get(endpoint_id)
        if state is None:
            state = self._endpoints[endpoint_id] = _Endpoint(self.policy.endpoint_slots)
        return state

    def _start(self, endpoint_id: str) -> Ticket:
        now = self.clock()
        state = self._state(endpoint_id)
        state.running += 1
        state.last_seen = now
        probation = not self.trusted(endpoint_id)
        ticket = Ticket(endpoint_id, now, probation=probation)
        if probation:
            self._on_probation.append(ticket)
            self._probation_count += 1
        else:
            self._active.append(ticket)
        self._active_count += 1
        return ticket

    @staticmethod
    def _oldest(lane: collections.deque[Ticket]) -> Ticket | None:
        while lane and (lane[0].done or lane[0].slow):
            lane.popleft()
        return lane[0] if lane else None

    def _move_slow(self) -> None:
        """Attempts running longer than their lane allows leave the worker's slots (as far as
        the slow lane has room); their endpoints are on probation from then on."""
        now = self.clock()
        lanes = (
            (self._active, self.policy.slow_after),
            (self._on_probation, self._probation_after),
        )
        for lane, after in lanes:
            while self._slow_count < self.policy.slow_slots:
                oldest = self._oldest(lane)
                if oldest is None or now - oldest.started < after:
                    break
                lane.popleft()
                oldest.slow = True
                self._active_count -= 1
                self._slow_count += 1
                if oldest.probation:
                    self._probation_count -= 1
                self._proven.pop(oldest.endpoint_id, None)

    def _forget_idle(self) -> None:
        """Drop endpoints with nothing running whose room was reduced long ago, at most once
        per tenth of `forget_after` (an endpoint back at full room is dropped on finishing)."""
        now = self.clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.policy.forget_after / 10
        cutoff = now - self.policy.forget_after
        while self._proven and next(iter(self._proven.values())) < cutoff:
            self._proven.popitem(last=False)  # answered well, but too long ago to vouch for
        idle = [
            e
            for e, s in self._endpoints.items()
            if s.running == 0 and s.waiting == 0 and s.last_seen < cutoff and s.held_until < now
        ]
        for endpoint_id in idle:
            del self._endpoints[endpoint_id]
