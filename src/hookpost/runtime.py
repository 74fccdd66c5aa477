"""The composition root: opens the store from the URL and builds services, API and worker.

Only this module chooses backends; every other module receives what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from hookpost.api.app import build_api
from hookpost.api.event_stream import StreamLimits
from hookpost.config import Settings
from hookpost.core.addresses import AddressPolicy
from hookpost.core.ids import IdFactory
from hookpost.core.retry import RetryPolicy
from hookpost.delivery.attempt import AttemptRunner
from hookpost.delivery.doorbell import Doorbell
from hookpost.delivery.resolver import Lookup, system_lookup
from hookpost.delivery.sender import Sender, SenderLimits
from hookpost.delivery.worker import Worker, WorkerLimits
from hookpost.service.access import AccessService
from hookpost.service.applications import ApplicationService, CatalogService
from hookpost.service.container import Services
from hookpost.service.destinations import DestinationRules
from hookpost.service.endpoints import EndpointService
from hookpost.service.history import HistoryService
from hookpost.service.message_order import FeedReader, PublicationOrder
from hookpost.service.messages import MessageService
from hookpost.service.operational import OperationalWebhooks
from hookpost.service.polling import PollingService
from hookpost.service.probe import EndpointProbe
from hookpost.service.streams import StreamService
from hookpost.store import Store, migrate
from hookpost.store.database import Database
from hookpost.store.message_feed import MessageFeed
from hookpost.store.notifications import PostgresWakeups
from hookpost.store.poller_consumers import PollerConsumers

log = logging.getLogger("hookpost")
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything one hookpost process runs, built from one `Settings`."""

    settings: Settings
    database: Database
    store: Store
    services: Services
    generated_token: str | None
    doorbell: Doorbell
    sender: Sender
    runner: AttemptRunner
    wakeups: PostgresWakeups | None
    clock: Clock

    def api(self) -> FastAPI:
        return build_api(
            self.services,
            max_payload_bytes=self.settings.max_payload_bytes,
            idempotency_ttl=self.settings.idempotency_ttl,
            stream_limits=StreamLimits(
                self.settings.stream_buffer_bytes,
                self.settings.stream_stall_timeout,
                self.settings.stream_heartbeat,
            ),
        )

    async def operational_webhooks(self) -> OperationalWebhooks | None:
        """The operator's notifier, when HOOKPOST_OPERATIONAL_WEBHOOK_URL is set."""
        url = self.settings.operational_webhook_url
        if not url:
            return None
        notifier = OperationalWebhooks(self.store, self.services.messages, self.services.endpoints)
        await notifier.configure(url, self.settings.operational_webhook_secret)
        return notifier

    def worker(self, notifier: OperationalWebhooks | None = None) -> Worker:
        s = self.settings
        limits = WorkerLimits(
            concurrency=s.worker_concurrency,
            endpoint_concurrency=s.endpoint_concurrency,
            batch=s.claim_batch,
            lease=timedelta(seconds=s.lease_seconds),
            request_timeout=s.request_timeout,
            poll_interval=s.poll_interval,
            shutdown_grace=s.shutdown_grace,
        )
        notify = notifier.emit if notifier is not None else None
        worker = Worker(
            self.store, self.runner, self.doorbell, limits, clock=self.clock, notify=notify
        )
        self.store.handover = worker  # publishes in this process lease new work to it
        return worker

    async def run_worker(self, worker: Worker) -> None:
        """Run `worker` (and, on PostgreSQL, the listener that wakes it) until it stops."""
        stop = asyncio.Event()
        listener = None
        if self.wakeups is not None:
            listener = asyncio.create_task(self.wakeups.listen(self.doorbell.ring, stop))
        try:
            await worker.run()
        finally:
            stop.set()
            if listener is not None:
                await listener

    async def close(self) -> None:
        await self.sender.close()
        if self.wakeups is not None:
            await self.wakeups.close()
        await self.database.close()


async def open_runtime(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    entropy: Callable[[int], bytes] = os.urandom,
    lookup: Lookup = system_lookup,
) -> Runtime:
    """Open the database, bring its schema up to date and build services and delivery."""
    database = Database(settings.database_url)
    await migrate.upgrade(database)
    store = Store(database, clock, IdFactory(clock, entropy))
    policy = AddressPolicy(settings.allowed_networks)
    rules = DestinationRules(
        policy, https_only=settings.https_only, own_host_names=_own_host_names(), lookup=lookup
    )
    doorbell = Doorbell()
    wakeups = None if database.is_sqlite else PostgresWakeups(database)

    def wake() -> None:
        doorbell.ring()
        # A NOTIFY costs a statement; a worker in this process that has room takes the
        # new work at once without it, so other processes are woken only when it is busy.
        if wakeups is not None and (store.handover is None or store.handover.busy):
            wakeups.notify()

    sender = Sender(
        policy,
        SenderLimits(
            request_timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            max_response_bytes=settings.max_response_bytes,
            stored_response_bytes=settings.stored_response_bytes,
            max_connections=settings.worker_concurrency * 2,
            https_only=settings.https_only,
        ),
        lookup=lookup,
        own_listeners=[(settings.host, settings.port)],
        own_host_names=rules.own_host_names,
    )
    runner = AttemptRunner(
        sender,
        RetryPolicy(settings.retry_schedule, settings.retry_jitter, settings.retry_timeout_floor),
        clock,
        disable_after=timedelta(seconds=settings.disable_after),
        ids=IdFactory(clock, entropy),
    )
    messages = MessageService(store, settings.max_payload_bytes, wake)
    order = PublicationOrder(clock, timedelta(seconds=settings.feed_commit_window))
    reader = FeedReader(MessageFeed(database), order)
    services = Services(
        access=AccessService(store, clock, entropy, time.monotonic),
        applications=ApplicationService(store),
        catalog=CatalogService(store),
        endpoints=EndpointService(store, messages, entropy, rules.check_url),
        messages=messages,
        history=HistoryService(store, clock, wake),
        probes=EndpointProbe(store, runner.probe, IdFactory(clock, entropy)),
        polling=PollingService(store, reader, PollerConsumers(database, clock)),
        streams=StreamService(store, reader),
    )
    _, token = await services.access.bootstrap(settings.api_token)
    return Runtime(
        settings, database, store, services, token, doorbell, sender, runner, wakeups, clock
    )


def _own_host_names() -> tuple[str, ...]:
    names = {socket.gethostname().lower()}
    with contextlib.suppress(OSError):  # depends on the machine's resolver
        names.add(socket.getfqdn().lower())
    return tuple(sorted(n for n in names if n))
