"""Publishing: a message plus one delivery row per matching endpoint, in one transaction.

Concurrent publishes share a transaction (group commit), those that create their application
inline too (it is created in that transaction when no application has its uid, so the SDK's
inline application costs no read of its own); a publish that targets one endpoint, and any
batch that loses a race, runs on its own.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hookpost.core import ids
from hookpost.core.errors import Conflict, NotFound
from hookpost.core.event_filter import matches_channels, matches_event_type
from hookpost.core.fields import ApplicationFields, NewMessage
from hookpost.core.handover import Handover
from hookpost.core.models import (
    Application,
    Claim,
    DeliveryState,
    Endpoint,
    Message,
    Published,
    TriggerType,
)
from hookpost.store import rows
from hookpost.store.applications import application_values
from hookpost.store.base import Clock, StoreBase
from hookpost.store.database import Database
from hookpost.store.errors import UniqueTaken
from hookpost.store.group_commit import GroupCommit
from hookpost.store.ports import PublishRows, PublishTransactions


@dataclass(frozen=True)
class PublishRequest:
    org_id: str
    app_ref: str
    new: NewMessage
    create_app: ApplicationFields | None = None
    idempotency_key: str | None = None
    only_endpoint: str | None = None


def _event_id_taken(event_id: str) -> Conflict:
    return Conflict(message_id="event_id_taken", event_id=event_id)


def _list(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


class _Ticket:
    """One publish transaction's handover: the slots it reserved and the claims it wrote."""

    def __init__(self, handover: Handover, lease_until: datetime) -> None:
        self.handover = handover
        self.token = uuid.uuid4().hex
        self.lease_until = lease_until
        self.lease_until_us = rows.to_us(lease_until)
        self.reserved: Sequence[str] = ()
        self.claims: list[Claim] = []

    def settle(self, committed: bool) -> None:
        """After the transaction: the worker gets the claims if it committed, else nothing."""
        self.handover.accept(self.claims if committed else [], self.reserved)
        self.reserved = ()
        self.claims = []


class PublishingStore(StoreBase):
    """The `Publisher` port: publishes run through the dialect's statements
    (store/postgres/publish.py, store/sqlite/publish.py), concurrent ones grouped."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ids_: ids.IdFactory,
        publishing: PublishTransactions,
        *,
        idempotency_ttl: timedelta,
    ) -> None:
        super().__init__(db, clock, ids_)
        self._publishing = publishing
        self._group: GroupCommit[PublishRequest, Published] | None = None
        # Set when a worker runs in this process: new deliveries go to it directly.
        self.handover: Handover | None = None
        # How long a message's idempotency key answers for it (HOOKPOST_IDEMPOTENCY_TTL).
        self.idempotency_ttl = idempotency_ttl

    async def publish(
        self,
        org_id: str,
        app_ref: str,
        new: NewMessage,
        *,
        create_app: ApplicationFields | None = None,
        idempotency_key: str | None = None,
        only_endpoint: str | None = None,
    ) -> Published:
        """Store a message and fan it out, atomically: either all rows exist or none do.

        `only_endpoint` sends to that endpoint alone, ignoring its filters (send-example).
        """
        request = PublishRequest(org_id, app_ref, new, create_app, idempotency_key, only_endpoint)
        if only_endpoint is not None:
            return await self._publish_alone(request)
        if self._group is None:
            self._group = GroupCommit(self._publish_batch)
        return await self._group.submit(request)

    async def _publish_batch(
        self, batch: Sequence[PublishRequest]
    ) -> Sequence[Published | BaseException]:
        ticket = None
        if self.handover is not None:
            ticket = _Ticket(self.handover, self._clock() + self.handover.lease)
        committed = False
        try:
            async with self._publishing.transaction() as sql:
                results = await self._publish_together(sql, batch, ticket)
            committed = True
        except UniqueTaken:
            # Another process won a unique key (eventId, idempotency key) after our checks;
            # settled one by one, each request gets its own answer.
            return [await _caught(self._publish_alone(r)) for r in batch]
        finally:
            if ticket is not None:
                ticket.settle(committed)
        return [r.outcome() for r in results]

    async def _publish_alone(self, request: PublishRequest) -> Published:
        try:
            async with self._publishing.transaction() as sql:
                return (await self._publish_together(sql, [request]))[0].unwrap()
        except UniqueTaken:
            # A concurrent publish took a unique key; a second run answers as a duplicate.
            async with self._publishing.transaction() as sql:
                return (await self._publish_together(sql, [request]))[0].unwrap()

    async def _publish_together(
        self, sql: PublishRows, batch: Sequence[PublishRequest], ticket: _Ticket | None = None
    ) -> list[_Result]:
        apps, refused = await self._resolve_apps(sql, batch)
        earlier = await _earlier_by_key(sql, batch, self._clock() - self.idempotency_ttl)
        taken = await _taken_event_ids(sql, batch, apps)
        results: list[_Result] = []
        first_with_key: dict[tuple[str, str], int] = {}
        fresh: list[tuple[int, Application, Message]] = []
        for n, request in enumerate(batch):
            app = apps.get((request.org_id, request.app_ref))
            key = (
                None
                if request.idempotency_key is None
                else (request.org_id, request.idempotency_key)
            )
            if app is None:
                refusal = refused.get((request.org_id, request.app_ref))
                results.append(_Result(error=refusal or NotFound(entity="application")))
            elif key is not None and key in earlier:
                results.append(_Result(Published(earlier[key], app, 0, created=False)))
            elif key is not None and key in first_with_key:
                results.append(_Result(same_as=first_with_key[key]))
            elif request.new.event_id is not None and (app.id, request.new.event_id) in taken:
                results.append(_Result(error=_event_id_taken(request.new.event_id)))
            else:
                message = self._new_message(request, app)
                fresh.append((n, app, message))
                if request.new.event_id is not None:
                    taken.add((app.id, request.new.event_id))
                if key is not None:
                    first_with_key[key] = n
                results.append(_Result())
        if fresh:
            message_rows = [_message_row(m, batch[n]) for n, _, m in fresh]
            published = [(batch[n], app, m) for n, app, m in fresh]
            counts, delivery_rows = await self._fan_out(sql, published, ticket)
            rang = await sql.insert(
                message_rows, delivery_rows, ring=self._rings_others(delivery_rows)
            )
            for (n, app, message), (count, handed) in zip(fresh, counts, strict=True):
                results[n] = _Result(
                    Published(message, app, count, True, handed_over=handed, rang=rang)
                )
        for n, result in enumerate(results):
            if result.same_as is not None:
                first = results[result.same_as].published
                assert first is not None
                results[n] = _Result(Published(first.message, first.application, 0, False))
        return results

    async def _resolve_apps(
        self, sql: PublishRows, batch: Sequence[PublishRequest]
    ) -> tuple[dict[tuple[str, str], Application], dict[tuple[str, str], Conflict]]:
        """The batch's applications by (org, reference), the inline ones it names created
        when missing; and the references whose inline application could not be created."""
        found: dict[tuple[str, str], Application] = {}
        for org_id in {r.org_id for r in batch}:
            refs = {r.app_ref for r in batch if r.org_id == org_id}
            for app in await sql.applications(org_id, refs):
                found[(org_id, app.id)] = app
                if app.uid is not None:
                    found[(org_id, app.uid)] = app
        refused: dict[tuple[str, str], Conflict] = {}
        wanted = {
            (r.org_id, r.app_ref): r.create_app
            for r in batch
            if r.create_app is not None and (r.org_id, r.app_ref) not in found
        }
        # In one order, so two processes creating the same applications wait, never deadlock.
        for key in sorted(wanted):
            fields = wanted[key]
            assert fields is not None
            values = application_values(self._ids, self._clock(), key[0], fields)
            created = await sql.create_application(values)
            if created is None:
                # A concurrent publish (or PUT) created it after our read; the insert
                # waited for it to commit, so this read sees it: publish to that one.
                again = await sql.applications(key[0], {key[1]})
                if not again:
                    refused[key] = Conflict(message_id="application_uid_taken")
                    continue
                created = again[0]
            found[key] = created
        return found, refused

    def _new_message(self, request: PublishRequest, app: Application) -> Message:
        # The id encodes the creation time that `before`/`after` compare with, so the
        # message's timestamp is read back from its id, not from a second look at the clock.
        msg_id = self._ids.new(ids.MESSAGE)
        new = request.new
        return Message(
            id=msg_id,
            org_id=request.org_id,
            app_id=app.id,
            event_type=new.event_type,
            event_id=new.event_id,
            channels=new.channels,
            tags=new.tags,
            payload=new.payload,
            created_at=ids.created_at(msg_id, ids.MESSAGE),
            raw_payload=new.raw_payload,
            deliver_at=new.deliver_at,
        )

    async def _fan_out(
        self,
        sql: PublishRows,
        published: Sequence[tuple[PublishRequest, Application, Message]],
        ticket: _Ticket | None,
    ) -> tuple[list[tuple[int, int]], list[dict[str, Any]]]:
        """One delivery row per matching endpoint, the first ones leased to `ticket`'s
        worker when it has room; returns (deliveries, handed over) per message, and the rows."""
        by_app: dict[str, list[Any]] = {}
        for row in await sql.endpoints_of({app.id for _, app, _ in published}):
            by_app.setdefault(row.app_id, []).append(row)
        targets = [
            [row for row in by_app.get(app.id, []) if _takes(row, message, request.only_endpoint)]
            for request, app, message in published
        ]
        # The worker in this process takes what its scheduler admits, endpoint by endpoint.
        room: collections.Counter[str] = collections.Counter()
        if ticket is not None:
            # A throttled endpoint's deliveries wait for their turns in the queue (pacing),
            # and a message with a deliverAt waits for that time there.
            wanted = [
                row.id
                for (_, _, message), rows_ in zip(published, targets, strict=True)
                if not _later(message)
                for row in rows_
                if not row.throttle_rate
            ]
            ticket.reserved = ticket.handover.reserve(wanted) if wanted else ()
            room.update(ticket.reserved)
        delivery_rows: list[dict[str, Any]] = []
        counts = []
        endpoint_models: dict[str, Endpoint] = {}
        for (_, app, message), rows_ in zip(published, targets, strict=True):
            handed = 0
            now = not _later(message)  # else it waits in the queue, whatever room there is
            for row in rows_:
                delivery = self._delivery_row(message, row.id)
                if ticket is not None and now and room[row.id] > 0:
                    room[row.id] -= 1
                    endpoint = endpoint_models.get(row.id) or rows.endpoint(row)
                    endpoint_models[row.id] = endpoint
                    ticket.claims.append(_leased(delivery, ticket, message, endpoint, app))
                    handed += 1
                delivery_rows.append(delivery)
            counts.append((len(rows_), handed))
        return counts, delivery_rows

    def _rings_others(self, delivery_rows: Sequence[dict[str, Any]]) -> bool:
        """Whether the transaction should wake the workers of other processes: some rows are
        due now and were not handed to a worker here, and no worker here has room for them
        (none runs in this process, as in `hookpost api`, or it is busy)."""
        if self.handover is not None and not self.handover.busy:
            return False
        return any(
            row["claim_token"] is None and row["next_attempt_at"] <= row["created_at"]
            for row in delivery_rows
        )

    def _delivery_row(self, message: Message, endpoint_id: str) -> dict[str, object]:
        stamp = rows.to_us(message.created_at)
        due = stamp if message.deliver_at is None else max(stamp, rows.to_us(message.deliver_at))
        return {
            "id": self._ids.new(ids.DELIVERY),
            "org_id": message.org_id,
            "app_id": message.app_id,
            "msg_id": message.id,
            "endpoint_id": endpoint_id,
            "state": DeliveryState.PENDING.value,
            "trigger": TriggerType.SCHEDULED.value,
            "attempts": 0,
            "next_attempt_at": due,
            "claim_token": None,
            "created_at": stamp,
            "updated_at": stamp,
        }


@dataclass
class _Result:
    published: Published | None = None
    error: Exception | None = None
    same_as: int | None = None  # an earlier request of the batch with the same idempotency key

    def unwrap(self) -> Published:
        if self.error is not None:
            raise self.error
        assert self.published is not None
        return self.published

    def outcome(self) -> Published | BaseException:
        return self.error if self.error is not None else self.unwrap()


def _leased(
    delivery: dict[str, Any],
    ticket: _Ticket,
    message: Message,
    endpoint: Endpoint,
    app: Application,
) -> Claim:
    """Lease the delivery row being written to the ticket's worker; its claim."""
    delivery["claim_token"] = ticket.token
    delivery["next_attempt_at"] = ticket.lease_until_us
    return Claim(
        delivery_id=delivery["id"],
        token=ticket.token,
        lease_until=ticket.lease_until,
        trigger=TriggerType.SCHEDULED,
        attempts=0,
        message=message,
        endpoint=endpoint,
        app_uid=app.uid,
    )


def _later(message: Message) -> bool:
    """Whether the message waits for its deliverAt (a time already passed: at once)."""
    return message.deliver_at is not None and message.deliver_at > message.created_at


def _takes(row: Any, message: Message, only_endpoint: str | None) -> bool:
    if only_endpoint is not None:
        return bool(row.id == only_endpoint)
    return matches_event_type(
        rows.from_json(row.event_types), message.event_type
    ) and matches_channels(rows.from_json(row.channels), message.channels)


def _message_row(message: Message, request: PublishRequest) -> dict[str, object]:
    created = message.created_at
    return {
        "id": message.id,
        "org_id": message.org_id,
        "app_id": message.app_id,
        "event_type": message.event_type,
        "event_id": message.event_id,
        "channels": rows.to_json(_list(message.channels)),
        "tags": rows.to_json(_list(message.tags)),
        "payload": message.payload,
        "raw_payload": message.raw_payload,
        "idempotency_key": request.idempotency_key,
        "created_at": rows.to_us(created),
        "expires_at": rows.to_us(created + timedelta(seconds=request.new.retention_seconds)),
        "deliver_at": None if message.deliver_at is None else rows.to_us(message.deliver_at),
    }


async def _earlier_by_key(
    sql: PublishRows, batch: Sequence[PublishRequest], since: datetime
) -> dict[tuple[str, str], Message]:
    """The messages published under the batch's idempotency keys at or after `since`; a key
    whose message is older has outlived its TTL and is taken off that message."""
    keys: dict[str, set[str]] = {}
    for r in batch:
        if r.idempotency_key is not None:
            keys.setdefault(r.org_id, set()).add(r.idempotency_key)
    found: dict[tuple[str, str], Message] = {}
    for org_id, wanted in keys.items():
        stale = set()
        for message, key in await sql.messages_by_key(org_id, wanted):
            if message.created_at >= since:
                found[(org_id, key)] = message
            else:
                stale.add(key)
        if stale:
            await sql.forget_keys(org_id, stale, rows.to_us(since))
    return found


async def _taken_event_ids(
    sql: PublishRows,
    batch: Sequence[PublishRequest],
    apps: dict[tuple[str, str], Application],
) -> set[tuple[str, str]]:
    wanted = {
        (apps[(r.org_id, r.app_ref)].id, r.new.event_id)
        for r in batch
        if r.new.event_id is not None and (r.org_id, r.app_ref) in apps
    }
    if not wanted:
        return set()
    return await sql.event_ids_taken({app for app, _ in wanted}, {event for _, event in wanted})


async def _caught(work: Any) -> Published | BaseException:
    try:
        result: Published = await work
    except Exception as exc:  # returned to the request it belongs to
        return exc
    return result
