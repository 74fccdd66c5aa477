"""The one frozen `Settings` object, read from `HOOKPOST_*` variables once at start-up.

This is the only module that reads the environment; everything else receives `Settings`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any, TypeVar

from hookpost.core.addresses import parse_allowed_networks
from hookpost.core.retry import DEFAULT_SCHEDULE, parse_schedule

DEFAULT_DATABASE_URL = "sqlite:///hookpost.sqlite3"
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has a value hookpost cannot use; the message names the variable."""


def parse_duration(text: str) -> float:
    """Seconds from `30`, `1.5`, `250ms`, `15s`, `5m`, `12h` or `5d`."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"expected a duration such as 30, 15s, 5m, 12h or 5d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(b|kb|kib|mb|mib)?\s*", text.lower())
    if not match:
        raise ValueError(f"expected a size such as 1048576, 512KiB or 1MiB, got {text!r}")
    unit = {"kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}.get(match.group(2) or "", 1)
    return int(match.group(1)) * unit


@dataclass(frozen=True)
class Settings:
    """Every setting hookpost has; `docs/configuration.md` lists them with their defaults."""

    database_url: str = DEFAULT_DATABASE_URL
    api_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8071
    max_payload_bytes: int = 1024 * 1024
    # delivery
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    retry_jitter: float = 0.2
    retry_timeout_floor: float = 60.0
    request_timeout: float = 15.0
    connect_timeout: float = 5.0
    max_response_bytes: int = 64 * 1024
    stored_response_bytes: int = 20_000
    worker_concurrency: int = 64
    endpoint_concurrency: int = 16
    claim_batch: int = 50
    lease_seconds: float = 60.0
    poll_interval: float = 1.0
    shutdown_grace: float = 10.0
    disable_after: float = 5 * 86400.0
    operational_webhook_url: str | None = None
    operational_webhook_secret: str | None = None
    # safety
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    https_only: bool = False
    # api
    idempotency_ttl: float = 12 * 3600.0
    # developer tools: pollers and streams hand out messages once older than this window
    feed_commit_window: float = 1.0
    stream_buffer_bytes: int = 1024 * 1024
    stream_stall_timeout: float = 10.0
    stream_heartbeat: float = 15.0
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}

        def take(name: str, attr: str, parse: Callable[[str], T]) -> None:
            raw = env.get(name)
            if raw is None or raw == "":
                return
            try:
                values[attr] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None

        take("HOOKPOST_DATABASE_URL", "database_url", str.strip)
        take("HOOKPOST_API_TOKEN", "api_token", str.strip)
        take("HOOKPOST_HOST", "host", str.strip)
        take("HOOKPOST_PORT", "port", _port)
        take("HOOKPOST_MAX_PAYLOAD_BYTES", "max_payload_bytes", _positive(parse_size))
        take("HOOKPOST_RETRY_SCHEDULE", "retry_schedule", parse_schedule)
        take("HOOKPOST_RETRY_JITTER", "retry_jitter", _fraction)
        take("HOOKPOST_RETRY_TIMEOUT_FLOOR", "retry_timeout_floor", parse_duration)
        take("HOOKPOST_REQUEST_TIMEOUT", "request_timeout", _positive(parse_duration))
        take("HOOKPOST_CONNECT_TIMEOUT", "connect_timeout", _positive(parse_duration))
        take("HOOKPOST_MAX_RESPONSE_BYTES", "max_response_bytes", _positive(parse_size))
        take("HOOKPOST_WORKER_CONCURRENCY", "worker_concurrency", _positive(int))
        take("HOOKPOST_ENDPOINT_CONCURRENCY", "endpoint_concurrency", _positive(int))
        take("HOOKPOST_CLAIM_BATCH", "claim_batch", _positive(int))
        take("HOOKPOST_LEASE_SECONDS", "lease_seconds", _positive(parse_duration))
        take("HOOKPOST_POLL_INTERVAL", "poll_interval", _positive(parse_duration))
        take("HOOKPOST_SHUTDOWN_GRACE", "shutdown_grace", parse_duration)
        take("HOOKPOST_DISABLE_AFTER", "disable_after", _positive(parse_duration))
        take("HOOKPOST_OPERATIONAL_WEBHOOK_URL", "operational_webhook_url", str.strip)
        take("HOOKPOST_OPERATIONAL_WEBHOOK_SECRET", "operational_webhook_secret", str.strip)
        take("HOOKPOST_ALLOWED_NETWORKS", "allowed_networks", parse_allowed_networks)
        take("HOOKPOST_HTTPS_ONLY", "https_only", parse_bool)
        take("HOOKPOST_IDEMPOTENCY_TTL", "idempotency_ttl", _positive(parse_duration))
        take("HOOKPOST_LOG_LEVEL", "log_level", _log_level)
        take("HOOKPOST_FEED_COMMIT_WINDOW", "feed_commit_window", parse_duration)
        take("HOOKPOST_STREAM_BUFFER", "stream_buffer_bytes", _positive(parse_size))
        take("HOOKPOST_STREAM_STALL_TIMEOUT", "stream_stall_timeout", _positive(parse_duration))
        take("HOOKPOST_STREAM_HEARTBEAT", "stream_heartbeat", _positive(parse_duration))
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
        if not self.database_url.startswith(("sqlite", "postgres")):
            raise ConfigError(
                "HOOKPOST_DATABASE_URL must start with sqlite:/// or postgresql://, "
                f"got {self.database_url.split(':', 1)[0]!r}"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError("a port is 0-65535")
    return port


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise ValueError("must be at least 0 and below 1")
    return value


def _log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be debug, info, warning or error")
    return level


def _positive(parse: Callable[[str], T]) -> Callable[[str], T]:
    def parse_positive(text: str) -> T:
        value = parse(text)
        if not value > 0:  # type: ignore[operator]
            raise ValueError("must be greater than zero")
        return value

    return parse_positive
