"""The composition root: opens the store from the URL and builds services, API and worker.

Only this module chooses backends; every other module receives what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from hookpost import __version__
from hookpost.api.app import build_api
from hookpost.api.connections import ConnectionLimits, limited_protocol
from hookpost.api.event_stream import StreamLimits
from hookpost.api.metrics import MetricsRoute, metrics_only_app
from hookpost.config import RetrySettings, Settings
from hookpost.config_reference import setting_name
from hookpost.core.addresses import AddressPolicy
from hookpost.core.errors import ConfigurationError
from hookpost.core.ids import IdFactory
from hookpost.core.retry import RetryPolicy
from hookpost.core.telemetry import NoObserver
from hookpost.delivery.attempt import AttemptRunner
from hookpost.delivery.dns import NameResolver
from hookpost.delivery.doorbell import Doorbell
from hookpost.delivery.resolver import Lookup
from hookpost.delivery.sender import Sender, SenderLimits
from hookpost.delivery.worker import Worker, WorkerLimits
from hookpost.metrics import CONTENT_TYPE, Metrics
from hookpost.portal.app import PortalLook, install_portal
from hookpost.service.access import AccessService
from hookpost.service.applications import ApplicationService, CatalogService
from hookpost.service.background import MessageTools, TaskRunner, TaskService
from hookpost.service.container import Services
from hookpost.service.destinations import DestinationRules
from hookpost.service.endpoints import EndpointService
from hookpost.service.health import HealthService
from hookpost.service.history import HistoryService
from hookpost.service.message_order import FeedReader, PublicationOrder
from hookpost.service.messages import MessageService
from hookpost.service.operational import (
    OperationalApps,
    OperationalEndpoints,
    OperationalEndpointService,
    OperationalWebhooks,
)
from hookpost.service.polling import PollingService
from hookpost.service.portal import PortalAccess
from hookpost.service.probe import EndpointProbe
from hookpost.service.retention import Retention, RetentionPolicy
from hookpost.service.streams import StreamService
from hookpost.store import Stores, migrate
from hookpost.store.background_tasks import BackgroundTaskStore
from hookpost.store.connect import DatabaseSetupError
from hookpost.store.connect import explain as explain_database_error
from hookpost.store.database import Database
from hookpost.store.message_feed import MessageFeed
from hookpost.store.notifications import PostgresWakeups
from hookpost.store.pacing import EndpointPacing
from hookpost.store.poller_consumers import PollerConsumers
from hookpost.store.portal import PortalGrants
from hookpost.store.queue_depth import QueueDepthReader
from hookpost.store.retention import RetentionStore

log = logging.getLogger("hookpost")
Clock = Callable[[], datetime]
E = TypeVar("E", bound=EndpointService)


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything one hookpost process runs, built from one `Settings`."""

    settings: Settings
    database: Database
    store: Stores  # the port implementations; each service was handed its own
    services: Services
    doorbell: Doorbell
    sender: Sender
    runner: AttemptRunner
    wakeups: PostgresWakeups | None
    clock: Clock
    names: NameResolver | None = None  # the process's resolver, unless a lookup was injected
    metrics: Metrics | None = None  # unless HOOKPOST_METRICS is off
    tasks: TaskRunner | None = None  # runs the background tasks (recover, replays, purges, ...)

    @property
    def observer(self) -> Metrics | NoObserver:
        """What the worker and retention report to (core.telemetry's observers)."""
        return self.metrics if self.metrics is not None else NoObserver()

    async def admit_operator(self) -> str | None:
        """Register HOOKPOST_API_TOKEN or, on first start, create a key and return its secret.

        Only the commands that print that secret (serve, api) call this: a key made by any other
        command could never be shown, and its mere existence stops `serve` from making one.
        """
        _, token = await self.services.access.bootstrap(self.settings.api_token)
        return token

    def api(self) -> FastAPI:
        api = build_api(
            self.services,
            max_payload_bytes=self.settings.max_payload_bytes,
            idempotency_ttl=self.settings.idempotency_ttl,
            stream_limits=StreamLimits(
                self.settings.stream_buffer,
                self.settings.stream_stall_timeout,
                self.settings.stream_heartbeat,
            ),
            requests=self.metrics,
        )
        install_portal(api, self.services, portal_look(self.settings), self.clock)
        if self.metrics is not None:
            self.metrics.serves("api")
            # Every API process reads the same queue; workers leave it to them.
            self.metrics.watch_queue(QueueDepthReader(self.database, self.clock).read)
            if self.settings.metrics_port is None:
                self._metrics_route().install(api)
        return api

    def metrics_app(self) -> FastAPI | None:
        """The server of HOOKPOST_METRICS_PORT (nothing but /metrics), when it is set."""
        if self.metrics is None or self.settings.metrics_port is None:
            return None
        return metrics_only_app(self._metrics_route())

    def _metrics_route(self) -> MetricsRoute:
        assert self.metrics is not None
        return MetricsRoute(self.metrics, self.settings.metrics_token, CONTENT_TYPE)

    def http_protocol(self) -> type[asyncio.Protocol]:
        """The HTTP protocol the API server runs: uvicorn's, with the connection limits."""
        return limited_protocol(
            ConnectionLimits(
                max_header_bytes=self.settings.max_header_bytes,
                read_timeout=self.settings.request_read_timeout,
                max_connections=self.settings.max_connections,
            )
        )

    async def operational_webhooks(self) -> OperationalWebhooks:
        """The operator's notifier: to the endpoints of HOOKPOST_OPERATIONAL_WEBHOOK_URL (set
        up here) and of the operational-webhook API."""
        apps = OperationalApps(self.store.access, self.store.applications, self.store.lookups)
        notifier = OperationalWebhooks(apps, self.services.messages, self.services.endpoints)
        url = self.settings.operational_webhook_url
        if url:
            await notifier.configure(url, self.settings.operational_webhook_secret)
        return notifier

    async def run_tasks(self, stop: asyncio.Event) -> None:
        """Run background tasks (this process's and any a dead process left) until `stop`."""
        if self.tasks is not None:
            await self.tasks.run(stop)

    def worker(self, notifier: OperationalWebhooks | None = None) -> Worker:
        notify = notifier.emit if notifier is not None else None
        worker = Worker(
            self.store.queue,
            self.runner,
            self.doorbell,
            worker_limits(self.settings),
            clock=self.clock,
            notify=notify,
            pacing=EndpointPacing(self.database, self.clock),
            observer=self.metrics,
        )
        if self.metrics is not None:
            self.metrics.serves("worker")
        self.store.publishing.handover = worker  # publishes in this process lease new work to it
        return worker

    def retention(self) -> Retention:
        """The retention passes this process runs beside its worker (docs/operations.md)."""
        policy = RetentionPolicy(
            attempts_for=timedelta(seconds=self.settings.attempt_retention),
            batch=self.settings.retention_batch,
            interval=timedelta(seconds=self.settings.retention_interval),
        )
        return Retention(
            RetentionStore(self.database, self.clock), self.clock, policy, observer=self.observer
        )

    async def run_worker(self, worker: Worker) -> None:
        """Run `worker` (and, on PostgreSQL, the listener that wakes it) until it stops, with
        the retention passes beside it: their own task, off the delivery path."""
        stop = asyncio.Event()
        listener = None
        if self.wakeups is not None:
            listener = asyncio.create_task(self.wakeups.listen(self.doorbell.ring, stop))
        retention = self.retention()
        passes = asyncio.create_task(retention.run())
        try:
            await worker.run()
        finally:
            stop.set()
            retention.stop()
            await passes
            if listener is not None:
                await listener

    async def close(self) -> None:
        await self.sender.close()
        if self.names is not None:
            await self.names.close()
        if self.wakeups is not None:
            await self.wakeups.close()
        await self.database.close()


async def open_runtime(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    entropy: Callable[[int], bytes] = os.urandom,
    lookup: Lookup | None = None,
) -> Runtime:
    """Open the database, bring its schema up to date and build services and delivery.

    Creates no API key: see `Runtime.admit_operator`.
    """
    database = await open_database(settings)
    store = Stores(
        database,
        clock,
        IdFactory(clock, entropy),
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl),
    )
    policy = AddressPolicy(settings.allowed_networks)
    # One asynchronous, caching resolver for deliveries and endpoint checks (tests inject one).
    names = None if lookup is not None else name_resolver(settings)
    lookup = lookup if lookup is not None else names
    rules = DestinationRules(
        policy,
        https_only=settings.https_only,
        own_host_names=_own_host_names(),
        lookup=lookup,
        lookup_budget=settings.dns_check_timeout,
    )
    doorbell = Doorbell()
    wakeups = None if database.is_sqlite else PostgresWakeups(database)

    def wake() -> None:
        doorbell.ring()
        # A NOTIFY costs a statement; a worker in this process that has room takes the
        # new work at once without it, so other processes are woken only when it is busy.
        handover = store.publishing.handover
        if wakeups is not None and (handover is None or handover.busy):
            wakeups.notify()

    sender = Sender(
        policy,
        sender_limits(settings),
        lookup=lookup,
        own_listeners=[(settings.host, settings.port)],
        own_host_names=rules.own_host_names,
    )
    runner = AttemptRunner(
        sender,
        retry_policy(settings),
        clock,
        disable_after=timedelta(seconds=settings.disable_after),
        ids=IdFactory(clock, entropy),
    )
    lookups = store.lookups
    messages = MessageService(
        lookups, store.publishing, store.messages, settings.max_payload_bytes, wake
    )
    task_store = BackgroundTaskStore(database, clock, IdFactory(clock, entropy))
    task_runner = TaskRunner(
        task_store, lease=timedelta(seconds=settings.background_task_lease), wake=wake
    )
    order = PublicationOrder(clock, timedelta(seconds=settings.feed_commit_window))
    reader = FeedReader(MessageFeed(database), order)
    tasks = TaskService(lookups, task_store, clock, task_runner.kick)
    operational_apps = OperationalApps(store.access, store.applications, lookups)

    def endpoint_service(kind: type[E]) -> E:
        return kind(
            lookups,
            store.endpoints,
            store.event_types,
            messages,
            entropy=entropy,
            check_url=rules.check_url,
        )

    services = Services(
        access=AccessService(store.access, clock, entropy, time.monotonic),
        applications=ApplicationService(lookups, store.applications),
        catalog=CatalogService(store.event_types),
        endpoints=endpoint_service(EndpointService),
        messages=messages,
        history=HistoryService(lookups, store.history, store.redelivery, clock, wake, tasks=tasks),
        probes=EndpointProbe(lookups, runner.probe, IdFactory(clock, entropy)),
        portal=PortalAccess(
            lookups,
            store.applications,
            PortalGrants(database, clock, IdFactory(clock, entropy)),
            clock,
            entropy=entropy,
            public_url=settings.portal_base_url,
        ),
        polling=PollingService(lookups, reader, PollerConsumers(database, clock)),
        streams=StreamService(lookups, reader),
        health=HealthService(store.access, migrate.SchemaCheck(database)),
        tasks=tasks,
        message_tools=MessageTools(lookups, task_store, store.messages.expunge_message_content),
        operational=OperationalEndpoints(
            operational_apps,
            endpoint_service(OperationalEndpointService),
        ),
    )
    metrics = None
    if settings.metrics:
        metrics = Metrics(
            version=__version__, database=database.dialect, pool_use=database.pool_use
        )
    return Runtime(
        settings,
        database,
        store,
        services,
        doorbell,
        sender,
        runner,
        wakeups,
        clock,
        names,
        metrics,
        task_runner,
    )


async def open_database(settings: Settings) -> Database:
    """Open the configured database and bring its schema up to date.

    A database that cannot be opened raises `ConfigurationError` naming the setting and what
    to do (the CLI prints it without a traceback); the driver's own error is logged at debug.
    """
    where = setting_name("database_url")
    try:
        database = Database(settings.database_url)
    except (ValueError, DatabaseSetupError, sa_exc.ArgumentError) as error:
        raise ConfigurationError(f"{where}: {error}") from None
    try:
        await migrate.upgrade(database)
    except Exception as error:
        await database.close()
        problem = explain_database_error(error, database.url)
        if problem is None:
            raise
        log.debug("opening the database failed", exc_info=error)
        raise ConfigurationError(f"{where}: {problem}") from None
    return database


LISTEN_BACKLOG = 2048  # uvicorn's default


def bind_listener(settings: Settings) -> socket.socket:
    """The API's listening socket, bound and listening, or a `ConfigurationError` that names
    the setting to change (a port in use, a privileged port, an address not of this machine)."""
    host, port = settings.host, settings.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        sock.close()
        raise ConfigurationError(_bind_problem(error, host, where)) from None
    sock.set_inheritable(True)
    return sock


def _bind_problem(error: OSError, host: str, where: str) -> str:
    port, host_setting = setting_name("port"), setting_name("host")
    if error.errno == errno.EADDRINUSE:
        return (
            f"{port}: {where} is already in use (address already in use): stop what listens "
            "there or choose another port"
        )
    if error.errno == errno.EACCES:
        return (
            f"{port}: this user may not listen on {where} (permission denied): choose a port "
            "above 1023 or grant the capability CAP_NET_BIND_SERVICE"
        )
    if isinstance(error, socket.gaierror):
        return f'{host_setting}: "{host}" is not a known host name: use an address or fix it'
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host_setting}: {host} is not an address of this machine: use one of its "
            "addresses, 127.0.0.1, or 0.0.0.0 for all"
        )
    return f"{host_setting} / {port}: cannot listen on {where}: {error.strerror or error}"


async def migrate_database(settings: Settings) -> str | None:
    """Bring the schema of the configured database up to date; the revision it is now at."""
    database = await open_database(settings)
    try:
        return await migrate.current_revision(database)
    finally:
        await database.close()


def worker_limits(settings: Settings) -> WorkerLimits:
    """The worker's configuration, every field from its settings (none from its defaults)."""
    return WorkerLimits(
        concurrency=settings.worker_concurrency,
        endpoint_concurrency=settings.endpoint_concurrency,
        batch=settings.claim_batch,
        lease=timedelta(seconds=settings.lease_seconds),
        request_timeout=settings.request_timeout,
        poll_interval=settings.poll_interval,
        shutdown_grace=settings.shutdown_grace,
        slow_after=settings.slow_after,
        slow_slots=settings.slow_slots,
        probation_concurrency=settings.probation_concurrency,
        probation_slow_after=settings.probation_slow_after,
    )


def name_resolver(settings: Settings) -> NameResolver:
    return NameResolver(
        settings.dns_servers,
        timeout=settings.dns_timeout,
        failure_ttl=settings.dns_failure_ttl,
    )


def sender_limits(settings: Settings) -> SenderLimits:
    """The sender's configuration, every field from its settings (none from its defaults)."""
    return SenderLimits(
        request_timeout=settings.request_timeout,
        connect_timeout=settings.connect_timeout,
        max_response_bytes=settings.max_response_bytes,
        stored_response_bytes=settings.stored_response_bytes,
        # Every attempt holds a connection, the slow lane's included.
        max_connections=settings.worker_concurrency * 2 + settings.slow_slots,
        https_only=settings.https_only,
        http_client=settings.http_client,
    )


def retry_policy(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(settings.retry_schedule, settings.retry_jitter, settings.retry_timeout_floor)


def portal_look(settings: Settings) -> PortalLook:
    return PortalLook(
        brand_name=settings.portal_brand_name,
        logo_url=settings.portal_logo_url,
        accent_color=settings.portal_accent_color,
        frame_ancestors=settings.portal_frame_ancestors,
        secure_cookies=settings.portal_base_url.startswith("https://"),
    )


def _own_host_names() -> tuple[str, ...]:
    names = {socket.gethostname().lower()}
    with contextlib.suppress(OSError):  # depends on the machine's resolver
        names.add(socket.getfqdn().lower())
    return tuple(sorted(n for n in names if n))
