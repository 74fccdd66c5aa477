"""The one frozen `Settings` object, read from `HOOKPOST_*` variables once at start-up.

Each setting is declared once, in the section of the component it configures; this is the only
module that reads the environment, and `docs/configuration.md` is generated from it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any, ClassVar

from hookpost.config_fields import (
    parse_base_url,
    parse_bool,
    parse_colour,
    parse_dns_servers,
    parse_duration,
    parse_fraction,
    parse_http_client,
    parse_log_format,
    parse_log_level,
    parse_origins,
    parse_port,
    parse_size,
    positive,
    setting,
    text,
    variable_of,
)
from hookpost.core.addresses import parse_allowed_networks
from hookpost.core.retry import RetryPolicy, parse_schedule

# Svix's retry policy is core's; the settings only let an operator change it.
_SVIX = RetryPolicy()


class ConfigError(ValueError):
    """A setting has a value hookpost cannot use; the message names the variable."""


@dataclass(frozen=True)
class ServerSettings:
    """The process itself: its database, where the API listens, what it logs."""

    TITLE: ClassVar[str] = "Server"
    database_url: str = setting(
        "HOOKPOST_DATABASE_URL",
        text,
        "sqlite:///hookpost.sqlite3",
        "`sqlite:///path/to/file` (relative to the working directory; `sqlite:////abs/path` "
        "for absolute) or `postgresql://user:password@host:5432/db`, which takes libpq's "
        "`sslmode`, `sslrootcert`, `sslcert`, `sslkey` and `connect_timeout` (see operations.md)",
        flag=True,
    )
    api_token: str | None = setting(
        "HOOKPOST_API_TOKEN",
        text,
        None,
        "the operator's bearer token. When unset and no key exists yet, `serve` or `api` "
        "generates one on first start and prints it once; only its SHA-256 hash is stored",
        secret=True,
    )
    host: str = setting("HOOKPOST_HOST", text, "127.0.0.1", "address the API listens on", flag=True)
    port: int = setting("HOOKPOST_PORT", parse_port, "8071", "port the API listens on", flag=True)
    log_level: str = setting(
        "HOOKPOST_LOG_LEVEL",
        parse_log_level,
        "info",
        "`debug`, `info`, `warning` or `error`. Secrets and payloads are never logged",
    )
    log_format: str = setting(
        "HOOKPOST_LOG_FORMAT",
        parse_log_format,
        "text",
        "`text` (one readable line per event) or `json` (one JSON object per line, with the "
        "event's fields as keys); see docs/operations.md, Logs",
    )


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics: whether and where each process serves `/metrics`, and to whom."""

    TITLE: ClassVar[str] = "Metrics"
    metrics: bool = setting(
        "HOOKPOST_METRICS",
        parse_bool,
        "true",
        "serve Prometheus metrics at `/metrics`: on HOOKPOST_METRICS_PORT when that is set, "
        "otherwise on the API's port (`serve`, `api`; a `worker` has none). "
        "See [operations.md](operations.md#metrics)",
    )
    metrics_token: str | None = setting(
        "HOOKPOST_METRICS_TOKEN",
        text,
        None,
        "the bearer token `/metrics` requires (`Authorization: Bearer ...`, compared in "
        "constant time); without it anyone who reaches the port reads the metrics",
        unset="none required",
        secret=True,
    )
    metrics_port: int | None = setting(
        "HOOKPOST_METRICS_PORT",
        parse_port,
        None,
        "a port of its own on which this process serves only `/metrics`; `/metrics` then "
        "leaves the API's port. Each process on one machine needs a port of its own",
        unset="none (a `worker` serves no metrics)",
    )
    metrics_host: str = setting(
        "HOOKPOST_METRICS_HOST",
        text,
        "127.0.0.1",
        "address HOOKPOST_METRICS_PORT listens on",
    )


@dataclass(frozen=True)
class ApiSettings:
    """What the API accepts and remembers."""

    TITLE: ClassVar[str] = "API"
    max_payload_bytes: int = setting(
        "HOOKPOST_MAX_PAYLOAD_BYTES",
        positive(parse_size),
        "1MiB",
        "largest message payload; larger ones get `413 payload_too_large`",
    )
    idempotency_ttl: float = setting(
        "HOOKPOST_IDEMPOTENCY_TTL",
        positive(parse_duration),
        "12h",
        "how long a POST's answer is kept for replays of the same `idempotency-key`",
    )
    background_task_lease: float = setting(
        "HOOKPOST_BACKGROUND_TASK_LEASE",
        positive(parse_duration),
        "60s",
        "how long a process holds a background task (recover, replays, purges, statistics) "
        "between two batches; a task whose process died is resumed by another process, or "
        "after a restart, once this runs out",
    )


@dataclass(frozen=True)
class ListenerSettings:
    """What one HTTP connection to the API may cost before it is refused (slow or huge clients)."""

    TITLE: ClassVar[str] = "API server limits"
    max_header_bytes: int = setting(
        "HOOKPOST_MAX_HEADER_BYTES",
        positive(parse_size),
        "64KiB",
        "most bytes of a request line and headers together; more gets "
        "`431 request_header_fields_too_large` and the connection is closed",
    )
    request_read_timeout: float = setting(
        "HOOKPOST_REQUEST_READ_TIMEOUT",
        positive(parse_duration),
        "30s",
        "time from a request's first byte (or a new connection) until its headers and body "
        "have all arrived; a slower client gets `408 request_timeout` and is disconnected",
    )
    max_connections: int = setting(
        "HOOKPOST_MAX_CONNECTIONS",
        positive(int),
        "512",
        "open API connections per process; one more is answered `503` with `Retry-After` and "
        "closed at once (keep it below the process's file descriptor limit)",
    )
    keep_alive_timeout: float = setting(
        "HOOKPOST_KEEP_ALIVE_TIMEOUT",
        positive(parse_duration),
        "5s",
        "how long an idle keep-alive connection is kept open between requests",
    )


@dataclass(frozen=True)
class RetrySettings:
    """When a failed delivery is tried again, and when its endpoint is given up on."""

    TITLE: ClassVar[str] = "Retries"
    retry_schedule: tuple[float, ...] = setting(
        "HOOKPOST_RETRY_SCHEDULE",
        parse_schedule,
        ",".join(f"{delay:g}" for delay in _SVIX.schedule),
        f"seconds between a failed attempt and the next; {_SVIX.max_attempts} attempts in all "
        "by default (Svix's schedule)",
    )
    retry_jitter: float = setting(
        "HOOKPOST_RETRY_JITTER",
        parse_fraction,
        f"{_SVIX.jitter:g}",
        "random spread of each delay (0.2 is ±20 %)",
    )
    retry_timeout_floor: float = setting(
        "HOOKPOST_RETRY_TIMEOUT_FLOOR",
        parse_duration,
        f"{_SVIX.timeout_floor:g}s",
        "minimum delay after an attempt that timed out",
    )
    disable_after: float = setting(
        "HOOKPOST_DISABLE_AFTER",
        positive(parse_duration),
        "5d",
        "an endpoint whose deliveries have failed, with no success, for this long is disabled "
        "when its next delivery exhausts the schedule",
    )


@dataclass(frozen=True)
class RequestSettings:
    """One attempt's HTTP request: its time budget and how much of the answer is read."""

    TITLE: ClassVar[str] = "Requests"
    request_timeout: float = setting(
        "HOOKPOST_REQUEST_TIMEOUT",
        positive(parse_duration),
        "15s",
        "total time one attempt may take, from DNS to the last byte read",
    )
    connect_timeout: float = setting(
        "HOOKPOST_CONNECT_TIMEOUT",
        positive(parse_duration),
        "5s",
        "time to resolve and connect (also the DNS lookup budget)",
    )
    max_response_bytes: int = setting(
        "HOOKPOST_MAX_RESPONSE_BYTES",
        positive(parse_size),
        "64KiB",
        "most bytes read from a response; the rest is never read",
    )
    stored_response_bytes: int = setting(
        "HOOKPOST_STORED_RESPONSE_BYTES",
        positive(parse_size),
        "20000",
        "most bytes of a response body kept in the attempt history",
    )
    http_client: str = setting(
        "HOOKPOST_HTTP_CLIENT",
        parse_http_client,
        "builtin",
        "the sender's HTTP client: `builtin` (hookpost's own HTTP/1.1 client on httptools, "
        "2-3x the requests per CPU second) or `aiohttp` (the client used before, kept as a "
        "fallback); both apply the same address guard, deadlines and caps",
    )


@dataclass(frozen=True)
class NameSettings:
    """How host names of endpoints are resolved: asynchronously, cached, with deadlines."""

    TITLE: ClassVar[str] = "Name resolution"
    dns_servers: tuple[str, ...] = setting(
        "HOOKPOST_DNS_SERVERS",
        parse_dns_servers,
        "",
        "name servers, comma-separated, as `address` or `address:port` (`[v6]:port`), e.g. "
        "`10.0.0.2,10.0.0.3:5353`",
        unset="the system's (`/etc/resolv.conf`)",
    )
    dns_timeout: float = setting(
        "HOOKPOST_DNS_TIMEOUT",
        positive(parse_duration),
        "5s",
        "longest one lookup may take; a lookup that takes longer fails as `dns` (the attempt "
        "is retried) without delaying any other",
    )
    dns_failure_ttl: float = setting(
        "HOOKPOST_DNS_FAILURE_TTL",
        parse_duration,
        "5s",
        "how long a failed lookup (no such name, timeout) is remembered; answers are "
        "remembered for their own TTL",
    )
    dns_check_timeout: float = setting(
        "HOOKPOST_DNS_CHECK_TIMEOUT",
        positive(parse_duration),
        "2s",
        "how long creating or editing an endpoint waits for its host name to resolve before "
        "it answers `422 url.dns_timeout`",
    )


@dataclass(frozen=True)
class WorkerSettings:
    """How much a worker process takes on, and how it hands work back."""

    TITLE: ClassVar[str] = "Workers"
    worker_concurrency: int = setting(
        "HOOKPOST_WORKER_CONCURRENCY",
        positive(int),
        "64",
        "attempts in flight per worker process",
    )
    endpoint_concurrency: int = setting(
        "HOOKPOST_ENDPOINT_CONCURRENCY",
        positive(int),
        "16",
        "attempts in flight to one endpoint, per worker process, at most: an endpoint that "
        "times out or fails gets less (halved per failure, down to one) until it succeeds",
    )
    slow_after: float = setting(
        "HOOKPOST_SLOW_AFTER",
        positive(parse_duration),
        "2s",
        "an attempt still waiting for its answer after this stops counting against "
        "HOOKPOST_WORKER_CONCURRENCY and moves to the slow lane, so hanging endpoints cannot "
        "hold the slots healthy ones need",
    )
    slow_slots: int = setting(
        "HOOKPOST_SLOW_SLOTS",
        positive(int),
        "1024",
        "attempts in the slow lane per worker process, at most (each is an open, idle socket)",
    )
    probation_concurrency: int = setting(
        "HOOKPOST_PROBATION_CONCURRENCY",
        positive(int),
        "16",
        "of HOOKPOST_WORKER_CONCURRENCY, attempts at once to endpoints on probation: new ones, "
        "and those whose last attempt failed or turned slow. The rest is kept for endpoints "
        "that answer well, so a thousand dead endpoints cannot keep one that works waiting",
    )
    probation_slow_after: float = setting(
        "HOOKPOST_PROBATION_SLOW_AFTER",
        positive(parse_duration),
        "500ms",
        "an attempt to an endpoint on probation moves to the slow lane after this (at most "
        "HOOKPOST_SLOW_AFTER), freeing its probation slot for the next endpoint to try",
    )
    claim_batch: int = setting(
        "HOOKPOST_CLAIM_BATCH",
        positive(int),
        "50",
        "deliveries a worker claims per database round trip",
    )
    lease_seconds: float = setting(
        "HOOKPOST_LEASE_SECONDS",
        positive(parse_duration),
        "60s",
        "how long a claimed delivery belongs to its worker; must exceed the request timeout "
        "by at least a second. A killed worker's deliveries are retried after this",
    )
    poll_interval: float = setting(
        "HOOKPOST_POLL_INTERVAL",
        positive(parse_duration),
        "1s",
        "longest a worker sleeps without a wake-up (wake-ups are immediate on publish)",
    )
    shutdown_grace: float = setting(
        "HOOKPOST_SHUTDOWN_GRACE",
        parse_duration,
        "10s",
        "on SIGTERM, how long in-flight attempts may finish before they are handed back",
    )


@dataclass(frozen=True)
class RetentionSettings:
    """What is deleted, and when: payloads, attempt history, idempotency keys."""

    TITLE: ClassVar[str] = "Retention"
    retention_interval: float = setting(
        "HOOKPOST_RETENTION_INTERVAL",
        parse_duration,
        "10m",
        "how often a `worker` or `serve` process runs a retention pass (one process at a time "
        "on PostgreSQL); `0` turns retention off in this process. Payloads expire per message "
        "(`payloadRetentionPeriod`, 90 days by default)",
    )
    retention_batch: int = setting(
        "HOOKPOST_RETENTION_BATCH",
        positive(int),
        "1000",
        "rows deleted per transaction by a retention pass; smaller batches hold locks (and, "
        "on SQLite, the process's event loop) for less time",
    )
    attempt_retention: float = setting(
        "HOOKPOST_ATTEMPT_RETENTION",
        positive(parse_duration),
        "90d",
        "attempts, and deliveries that are finished (succeeded, failed, canceled), older than "
        "this are deleted; pending and paused deliveries are kept whatever their age",
    )


@dataclass(frozen=True)
class OperationalSettings:
    """Where the operator hears about failing, recovered and disabled endpoints."""

    TITLE: ClassVar[str] = "Operational webhooks"
    operational_webhook_url: str | None = setting(
        "HOOKPOST_OPERATIONAL_WEBHOOK_URL",
        text,
        None,
        "where hookpost sends `endpoint.disabled`, `message.attempt.failing`, "
        "`message.attempt.exhausted` and `message.attempt.recovered`",
    )
    operational_webhook_secret: str | None = setting(
        "HOOKPOST_OPERATIONAL_WEBHOOK_SECRET",
        text,
        None,
        "the `whsec_` secret those are signed with",
        unset="generated",
        secret=True,
    )


@dataclass(frozen=True)
class SafetySettings:
    """Which destinations deliveries may reach."""

    TITLE: ClassVar[str] = "Safety"
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = setting(
        "HOOKPOST_ALLOWED_NETWORKS",
        parse_allowed_networks,
        "",
        "CIDRs (or single addresses), comma-separated, that deliveries may reach although they "
        "are private, loopback or otherwise internal, e.g. `127.0.0.0/8` for local development. "
        "Cloud metadata addresses (169.254.169.254 and friends) stay blocked unless listed "
        "exactly (`169.254.169.254/32`)",
        unset="empty",
    )
    https_only: bool = setting(
        "HOOKPOST_HTTPS_ONLY",
        parse_bool,
        "false",
        "refuse endpoint URLs that are not `https://`",
    )


@dataclass(frozen=True)
class FeedSettings:
    """Pulling and streaming messages: polling endpoints, live streams and `hookpost listen`."""

    TITLE: ClassVar[str] = "Polling and streams"
    feed_commit_window: float = setting(
        "HOOKPOST_FEED_COMMIT_WINDOW",
        parse_duration,
        "1s",
        "pollers and streams hand out a message once it is this old, so that no publish can "
        "commit behind a reader's position (see docs/api.md, Polling)",
    )
    stream_heartbeat: float = setting(
        "HOOKPOST_STREAM_HEARTBEAT",
        positive(parse_duration),
        "15s",
        "quiet time after which a live stream sends a `: keep-alive` comment",
    )
    stream_buffer: int = setting(
        "HOOKPOST_STREAM_BUFFER",
        positive(parse_size),
        "1MiB",
        "events buffered per live-stream connection for a slow reader",
    )
    stream_stall_timeout: float = setting(
        "HOOKPOST_STREAM_STALL_TIMEOUT",
        positive(parse_duration),
        "10s",
        "how long a stream reader may leave its buffer full before it is disconnected",
    )


@dataclass(frozen=True)
class PortalSettings:
    """The customer portal: where customers reach it, who may frame it, how it looks."""

    TITLE: ClassVar[str] = "Customer portal"
    public_url: str | None = setting(
        "HOOKPOST_PUBLIC_URL",
        parse_base_url,
        None,
        "the base URL customers reach this server at (magic links start with it); an "
        "`https://` URL also makes the portal's cookies Secure",
        unset="`http://{HOOKPOST_HOST}:{HOOKPOST_PORT}`",
    )
    portal_frame_ancestors: tuple[str, ...] = setting(
        "HOOKPOST_PORTAL_FRAME_ANCESTORS",
        parse_origins,
        "",
        "origins allowed to embed the portal in an iframe (CSP `frame-ancestors`), space- or "
        "comma-separated, e.g. `https://dashboard.example.com`; empty sends "
        "`frame-ancestors 'none'` and `X-Frame-Options: DENY`. See [portal.md](portal.md)",
        unset="empty (no framing)",
    )
    portal_brand_name: str = setting(
        "HOOKPOST_PORTAL_BRAND_NAME",
        text,
        "hookpost",
        "the name shown at the top of every portal page",
    )
    portal_logo_url: str | None = setting(
        "HOOKPOST_PORTAL_LOGO_URL",
        parse_base_url,
        None,
        "an `http(s)://` URL of a logo shown beside the name",
        unset="none",
    )
    portal_accent_color: str = setting(
        "HOOKPOST_PORTAL_ACCENT_COLOR",
        parse_colour,
        "#2456d6",
        "the portal's accent colour, as `#rrggbb`",
    )

    @property
    def portal_base_url(self) -> str:
        """Where customers reach this server: the base of magic links."""
        host, port = getattr(self, "host", "127.0.0.1"), getattr(self, "port", 8071)
        return self.public_url or f"http://{host}:{port}"


@dataclass(frozen=True)
class Settings(
    ServerSettings,
    ListenerSettings,
    ApiSettings,
    RetrySettings,
    RequestSettings,
    NameSettings,
    WorkerSettings,
    RetentionSettings,
    OperationalSettings,
    SafetySettings,
    FeedSettings,
    PortalSettings,
    MetricsSettings,
):
    """Every setting hookpost has: all sections in one object, each field declared once."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            variable = variable_of(field)
            raw = env.get(variable.env)
            if raw is None or raw == "":
                continue
            try:
                values[field.name] = variable.parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{variable.env}: {exc}") from None

        settings = cls(**values)
        settings.check()
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with CLI flags applied (None means "flag not given")."""
        updated = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        updated.check()
        return updated

    def check(self) -> None:
        """Cross-setting rules that single parsers cannot see."""
        if self.lease_seconds < self.request_timeout + 1:
            raise ConfigError(
                "HOOKPOST_LEASE_SECONDS must exceed HOOKPOST_REQUEST_TIMEOUT by at least one "
                "second, or a slow attempt would be taken over by another worker while it runs"
            )
        if not 0 <= self.port <= 65535:  # a flag is not read through parse_port
            raise ConfigError(
                f"HOOKPOST_PORT (or --port): a port is a number from 0 to 65535, got {self.port}"
            )
        if not self.database_url.startswith(("sqlite", "postgres")):
            raise ConfigError(
                "HOOKPOST_DATABASE_URL must start with sqlite:/// or postgresql://, "
                f"got {self.database_url.split(':', 1)[0]!r}"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


SECTIONS: tuple[type, ...] = Settings.__bases__
