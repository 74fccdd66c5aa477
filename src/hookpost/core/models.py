"""The domain objects: frozen values that the store returns and the edges render.

Times are aware UTC datetimes; JSON-ish fields are plain dicts and tuples.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar


class MessageStatus(enum.IntEnum):
    """Svix's MessageStatus, as seen on attempts and per-endpoint views."""

    SUCCESS = 0
    PENDING = 1
    FAIL = 2
    SENDING = 3

    @property
    def text(self) -> str:
        return self.name.lower()


class TriggerType(enum.IntEnum):
    SCHEDULED = 0
    MANUAL = 1


class DeliveryState(enum.StrEnum):
    """Where one message stands with one endpoint."""

    PENDING = "pending"  # waiting for its next attempt (or leased by a worker)
    PAUSED = "paused"  # the endpoint is disabled; resumes when it is enabled again
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the schedule is exhausted, or a manual attempt failed
    CANCELED = "canceled"  # the endpoint or application was deleted


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Application:
    id: str
    org_id: str
    name: str
    uid: str | None
    throttle_rate: int | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EventType:
    org_id: str
    name: str
    description: str
    archived: bool
    deprecated: bool
    schemas: dict[str, Any] | None
    feature_flags: tuple[str, ...] | None
    group_name: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SigningKey:
    """One endpoint secret; `expires_at` is set once it has been rotated out."""

    secret: str
    created_at: datetime
    expires_at: datetime | None = None

    def live_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class Endpoint:
    id: str
    org_id: str
    app_id: str
    uid: str | None
    url: str
    method: str
    description: str
    disabled: bool
    event_types: tuple[str, ...] | None
    channels: tuple[str, ...] | None
    throttle_rate: int | None
    metadata: dict[str, str]
    headers: dict[str, str]
    keys: tuple[SigningKey, ...]
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None = None

    @property
    def current_secret(self) -> str:
        return self.keys[0].secret

    def live_keys(self, now: datetime) -> tuple[SigningKey, ...]:
        return tuple(k for k in self.keys if k.live_at(now))


@dataclass(frozen=True)
class Message:
    id: str
    org_id: str
    app_id: str
    event_type: str
    event_id: str | None
    channels: tuple[str, ...] | None
    tags: tuple[str, ...] | None
    payload: bytes | None  # the exact bytes sent and signed; None once expunged
    created_at: datetime
    raw_payload: bool = False  # payload is a caller-provided string, not an object
    deliver_at: datetime | None = None  # the caller's deliverAt: first due then, not at once


@dataclass(frozen=True)
class Delivery:
    """One message bound for one endpoint, with its retry state."""

    id: str
    org_id: str
    app_id: str
    msg_id: str
    endpoint_id: str
    state: DeliveryState
    trigger: TriggerType
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def status(self) -> MessageStatus:
        """The Svix status of this message for this endpoint."""
        if self.state is DeliveryState.SUCCEEDED:
            return MessageStatus.SUCCESS
        if self.state in (DeliveryState.FAILED, DeliveryState.CANCELED):
            return MessageStatus.FAIL
        return MessageStatus.SENDING if self.attempts else MessageStatus.PENDING


@dataclass(frozen=True)
class Attempt:
    """One HTTP request made (or refused) for a delivery, and what came of it."""

    id: str
    org_id: str
    app_id: str
    msg_id: str
    endpoint_id: str
    delivery_id: str
    url: str
    method: str
    status: MessageStatus
    trigger: TriggerType
    response_status_code: int
    response_body: str
    response_headers: dict[str, str]
    request_headers: dict[str, str]
    duration_ms: int
    error_class: str | None
    error_message: str | None
    created_at: datetime
    error_code: str | None = None  # what error_message says, as an id a translation keys on


@dataclass(frozen=True)
class Claim:
    """A delivery a worker has leased: everything needed to make its next attempt.

    The worker may record the result only while `token` still matches (fencing): once the
    lease runs out another worker may take the delivery over.
    """

    delivery_id: str
    token: str
    lease_until: datetime
    trigger: TriggerType
    attempts: int
    message: Message
    endpoint: Endpoint
    app_uid: str | None


# How many endpoints with pending work one claim visits, at most, per delivery it may take:
# room for endpoints passed over because nothing of theirs is due yet, their share is used up
# or their throttle turn has not come.
CLAIM_WINDOW = 4
# A claim may take due work oldest-first (instead of walking the endpoints, see ClaimShares)
# only while nothing due has waited longer than this: past it the queue is behind, and
# every endpoint is served in turn however old another's work is.
OLDEST_FIRST_WITHIN = timedelta(seconds=1)


@dataclass(frozen=True)
class ClaimShares:
    """What one claim may take: `size` due deliveries, at most `room` for any one endpoint
    except those `rooms` names (0: none of that endpoint's).

    A claim visits the endpoints with pending work in turn (from where the last claim of
    this process stopped), at most `window` of them, until it has found `size` with due work
    and room, and takes each one's earliest due deliveries round-robin: every endpoint's first,
    then every endpoint's second, and so on. Due work is served fairly across endpoints,
    never oldest-first globally behind one tenant's backlog.

    The walk costs a few index seeks per endpoint, so a claim first reads the `size` oldest
    due deliveries (one range). They are the claim, and the walk is skipped, when they are
    all that is due (the walk would take them all, each endpoint within its share), or when
    they belong to `size` different endpoints with room and no pacing and none has waited
    longer than OLDEST_FIRST_WITHIN (the walk would take one of each of `size` endpoints;
    these are the ones waiting longest, and no one waits long). Otherwise (an endpoint's
    backlog fills them, an endpoint is at its limit, or the queue is behind) the claim walks,
    and the next claims walk straight away for a while (store/queue.py OldestFirst).

    A `listed` claim visits no other endpoints than those `rooms` names (with room): the
    worker's trusted endpoints, while endpoints on probation may start nothing more; one
    index seek each, and the walk's position is kept for the next claim."""

    size: int
    room: int
    rooms: Mapping[str, int] = field(default_factory=dict)
    listed: bool = False

    @property
    def excluded(self) -> list[str]:
        return sorted(endpoint for endpoint, room in self.rooms.items() if room <= 0)

    @property
    def window(self) -> int:
        return self.size * CLAIM_WINDOW

    def room_of(self, endpoint_id: str) -> int:
        return self.rooms.get(endpoint_id, self.room)

    def per_endpoint(self, endpoints: int) -> int:
        """How many due deliveries to read per chosen endpoint (within its room): twice an
        even split of `size`, so endpoints with fewer due rarely leave the claim short."""
        return max(1, -(-2 * self.size // max(1, endpoints)))


@dataclass(frozen=True)
class Published:
    """The outcome of a publish: the stored message and how many deliveries it started."""

    message: Message
    application: Application
    deliveries: int
    created: bool  # False when an idempotency key matched an earlier publish
    handed_over: int = 0  # deliveries given straight to the worker in this process
    # True when the publish transaction itself woke the workers of every process (a NOTIFY
    # sent on commit, PostgreSQL): the caller need not wake anyone else.
    rang: bool = False


class TaskStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class TaskKind(enum.StrEnum):
    """Svix's BackgroundTaskType values hookpost runs."""

    ENDPOINT_RECOVER = "endpoint.recover"
    ENDPOINT_REPLAY = "endpoint.replay"
    ENDPOINT_BULK_REPLAY = "endpoint.bulk-replay"
    APPLICATION_PURGE_CONTENT = "application.purge_content"
    APPLICATION_STATS = "application.stats"
    EVENT_TYPE_AGGREGATE = "event-type.aggregate"


@dataclass(frozen=True)
class Task:
    """A background task: what it does (`kind`, `params`), how far it got and what it found.

    `data` is what the API shows (counts, statistics); `cursor` is where the next batch starts.
    """

    id: str
    org_id: str
    kind: TaskKind
    status: TaskStatus
    updated_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    app_id: str | None = None
    endpoint_id: str | None = None
    cursor: str | None = None
    error: str | None = None
    runs: int = 0
    lease_token: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def messages(self) -> int:
        """How many messages a redelivery task has queued so far."""
        return int(self.data.get("messagesSent", 0))


@dataclass(frozen=True)
class ApiKey:
    id: str
    org_id: str
    hint: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IdempotentAnswer:
    """The stored answer of a finished request, or None fields while it still runs."""

    running: bool
    status_code: int | None = None
    body: bytes | None = None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list in the order asked for; `has_more` says another page follows."""

    items: list[T]
    has_more: bool
