"""The sender: the only user of the HTTP clients. Every failure becomes an `Outcome` here.

Two transports, one behaviour: `builtin` (`delivery.http1`, hookpost's own HTTP/1.1 client,
the default since issue 13: two to three times the requests per CPU second) and `aiohttp`.
Both go through the guarded resolver, follow no redirects, take no proxies from the
environment, never decompress, keep a total deadline per attempt and a cap on the bytes read
from a response; `classify` maps either one's failures to the same error classes and codes.
"""

from __future__ import annotations

import errno
import logging
import re
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from hookpost.core.addresses import AddressPolicy, BlockRule, Verdict
from hookpost.core.outcomes import ErrorClass, FailureCode, Outcome
from hookpost.core.status_codes import describe
from hookpost.core.urls import ParsedUrl, UrlProblem, parse_endpoint_url
from hookpost.delivery import http1
from hookpost.delivery.dns import NameResolver
from hookpost.delivery.failures import Failure, failure
from hookpost.delivery.resolver import (
    DestinationBlocked,
    DnsTimeout,
    GuardedResolver,
    Lookup,
    is_own_listener,
)

if TYPE_CHECKING:
    from hookpost.delivery.aiohttp_client import AiohttpTransport

log = logging.getLogger("hookpost.delivery")
MAX_STORED_HEADERS = 64
PARSED_CACHE = 10_000
_THROTTLING = {429, 503}
HTTP_CLIENTS = ("builtin", "aiohttp")  # the transports `SenderLimits.http_client` names
_DELTA_SECONDS = re.compile(r"[0-9]+")  # RFC 9110 delay-seconds: ASCII digits only


@dataclass(frozen=True)
class SenderLimits:
    """Built from the settings (config.py declares each with its default)."""

    request_timeout: float
    connect_timeout: float
    max_response_bytes: int
    stored_response_bytes: int
    max_connections: int
    https_only: bool
    http_client: str = "builtin"  # or "aiohttp" (HOOKPOST_HTTP_CLIENT)


class Sender:
    """Sends one signed request and reports what happened, whatever happened."""

    def __init__(
        self,
        policy: AddressPolicy,
        limits: SenderLimits,
        *,
        lookup: Lookup | None = None,
        own_listeners: Collection[tuple[str, int]] = (),
        own_host_names: Collection[str] = (),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.own_listeners = tuple(own_listeners)
        self.own_host_names = tuple(own_host_names)
        # Given no lookup, the sender owns an asynchronous resolver (delivery.dns) on the
        # system's name servers.
        self._own_names: NameResolver | None = None
        if lookup is None:
            lookup = self._own_names = NameResolver(timeout=limits.connect_timeout)
        self._resolver = GuardedResolver(
            policy,
            lookup=lookup,
            timeout=limits.connect_timeout,
            own_listeners=own_listeners,
        )
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._aiohttp: AiohttpTransport | None = None
        self._http1: http1.Http1Client | None = None
        if limits.http_client == "aiohttp":
            # Imported only when chosen (see the module): the default never loads aiohttp.
            from hookpost.delivery.aiohttp_client import AiohttpTransport  # noqa: PLC0415

            self._aiohttp = AiohttpTransport(self._resolver, limits, self._ssl)
        else:
            self._builtin()  # its TLS context is made now, outside any attempt's deadline
        self._parsed: dict[str, ParsedUrl | UrlProblem] = {}
        self._own: dict[tuple[str, int], bool] = {}

    def _builtin(self) -> http1.Http1Client:
        if self._http1 is None:
            self._http1 = http1.Http1Client(
                self._resolver,
                connect_timeout=self.limits.connect_timeout,
                max_response_bytes=self.limits.max_response_bytes,
                max_connections=self.limits.max_connections,
                ssl_context=self._ssl if isinstance(self._ssl, ssl.SSLContext) else None,
            )
        return self._http1

    async def close(self) -> None:
        if self._aiohttp is not None:
            await self._aiohttp.close()
        if self._http1 is not None:
            await self._http1.close()
        if self._own_names is not None:
            await self._own_names.close()

    def _parse(self, url: str) -> ParsedUrl | UrlProblem:
        """The URL rules and the literal-address policy (pure, so cached per URL string)."""
        found = self._parsed.get(url)
        if found is None:
            if len(self._parsed) >= PARSED_CACHE:
                self._parsed.clear()
            found = self._parsed[url] = parse_endpoint_url(
                url,
                https_only=self.limits.https_only,
                policy=self.policy,
                own_host_names=self.own_host_names,
            )
        return found

    def _is_own_listener(self, parsed: ParsedUrl) -> bool:
        """Whether an IP-literal URL reaches hookpost's own API (pure too, so cached)."""
        key = (parsed.host, parsed.port)
        found = self._own.get(key)
        if found is None:
            if len(self._own) >= PARSED_CACHE:
                self._own.clear()
            found = self._own[key] = is_own_listener(parsed.host, parsed.port, self.own_listeners)
        return found

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Outcome:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        parsed = self._parse(url)
        if isinstance(parsed, UrlProblem):
            # Whatever the URL rule, nothing is sent: the destination is refused, which is no
            # network error (and a URL stored before a rule tightened can fail any rule).
            if parsed.verdict is not None:
                message = blocked_message(parsed.verdict)
                return Outcome(
                    0, elapsed(), ErrorClass.BLOCKED, message, FailureCode.DESTINATION_BLOCKED
                )
            return Outcome(
                0, elapsed(), ErrorClass.BLOCKED, parsed.message, FailureCode.URL_REFUSED
            )
        if parsed.host_is_ip and self._is_own_listener(parsed):
            rule = BlockRule.OWN_LISTENER
            verdict = Verdict(
                parsed.host, rule, f"{parsed.host}:{parsed.port} is {rule.describe()}"
            )
            message = blocked_message(verdict)
            return Outcome(
                0, elapsed(), ErrorClass.BLOCKED, message, FailureCode.DESTINATION_BLOCKED
            )
        try:
            if self._aiohttp is not None:
                status, all_headers, header, content = await self._aiohttp.request(
                    method, parsed, headers, body
                )
            else:
                answer = await self._builtin().request(
                    method,
                    parsed,
                    headers,
                    body,
                    deadline=self.limits.request_timeout - (time.monotonic() - started),
                )
                status, all_headers, header = answer.status, answer.headers, answer.header
                content = answer.body
        except Exception as exc:  # every failure must become an outcome
            kind, code, message = classify(exc, self.limits)
            return Outcome(0, elapsed(), kind, message, code)
        return self._answered(status, all_headers, header, content, duration_ms=elapsed(), now=now)

    def _answered(
        self,
        status: int,
        headers: list[tuple[str, str]],
        header: Callable[[str], str | None],
        content: bytes,
        *,
        duration_ms: int,
        now: datetime,
    ) -> Outcome:
        """`header(name)` reads one header case-insensitively (each client has its own)."""
        stored = content[: self.limits.stored_response_bytes].decode("utf-8", errors="replace")
        response_headers = {str(k): v for k, v in headers[:MAX_STORED_HEADERS]}
        kind: ErrorClass | None = None
        message: str | None = None
        if 300 <= status < 400:
            kind = ErrorClass.REDIRECT
            location = header("Location") or ""
            message = f"{status} {describe(status).name}: redirect to {location or '(no Location)'}"
        elif not 200 <= status < 300:
            kind = ErrorClass.HTTP_STATUS
            message = f"{status} {describe(status).name}: {describe(status).explanation}"
        retry_after = None
        if status in _THROTTLING:
            retry_after = parse_retry_after(header("Retry-After"), now)
        return Outcome(
            status,
            duration_ms,
            kind,
            message,
            FailureCode.of(kind),  # redirect, http_status, or none on success
            response_body=stored,
            response_headers=response_headers,
            retry_after=retry_after,
        )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        # Not str.isdigit: it accepts "²" (float() then raises) and fullwidth digits.
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def blocked_message(verdict: Verdict, host: str | None = None) -> str:
    """Names the rule (machine name), the address and, for a resolved name, the name."""
    where = f"{host} resolved to {verdict.address}; " if host else ""
    return f"destination not allowed ({verdict.rule}): {where}{verdict.explanation}"


def classify(exc: BaseException, limits: SenderLimits) -> Failure:
    """Map any client-side failure to an error class, the specific failure's code and a
    sentence a customer understands."""
    if isinstance(exc, http1.TransportError):
        if isinstance(exc, http1.NameNotResolved):
            return failure(FailureCode.DNS_UNRESOLVED, exc, limits, reason=str(exc))
        return failure(_builtin_code(exc), exc, limits)
    if isinstance(exc, DnsTimeout):
        return ErrorClass.DNS, FailureCode.DNS_TIMEOUT, str(exc)
    cause = exc.__cause__ if exc.__cause__ is not None else getattr(exc, "os_error", None)
    if isinstance(cause, DestinationBlocked) or isinstance(exc, DestinationBlocked):
        blocked = cause if isinstance(cause, DestinationBlocked) else exc
        assert isinstance(blocked, DestinationBlocked)
        return (
            ErrorClass.BLOCKED,
            FailureCode.DESTINATION_BLOCKED,
            blocked_message(blocked.verdict, blocked.host),
        )
    if isinstance(cause, DnsTimeout):
        return ErrorClass.DNS, FailureCode.DNS_TIMEOUT, str(cause)
    if limits.http_client == "aiohttp":
        from hookpost.delivery import aiohttp_client  # noqa: PLC0415 - loaded when chosen

        code = aiohttp_client.failure_code(exc)
        if code is not None:
            return failure(code, exc, limits)
    if isinstance(exc, TimeoutError):
        return failure(FailureCode.RESPONSE_TIMEOUT, exc, limits)
    if isinstance(exc, OSError):
        reset = exc.errno == errno.ECONNRESET
        return failure(
            FailureCode.CONNECTION_RESET if reset else FailureCode.NETWORK_ERROR, exc, limits
        )
    log.exception("unexpected error while sending a webhook", exc_info=exc)
    return (
        ErrorClass.NETWORK,
        FailureCode.UNEXPECTED_ERROR,
        f"unexpected error: {type(exc).__name__}",
    )


def _builtin_code(exc: http1.TransportError) -> FailureCode:
    """The builtin transport's failures, with the codes aiohttp's got."""
    if isinstance(exc, http1.TlsFailed):
        return FailureCode.TLS_FAILED
    if isinstance(exc, http1.ConnectTimeout):
        return FailureCode.CONNECT_TIMEOUT
    if isinstance(exc, http1.ResponseTimeout):
        return FailureCode.RESPONSE_TIMEOUT
    if isinstance(exc, http1.ConnectFailed):
        if exc.errno == errno.ECONNREFUSED:
            return FailureCode.CONNECTION_REFUSED
        return FailureCode.CONNECT_FAILED
    if isinstance(exc, http1.Disconnected):
        return FailureCode.SERVER_DISCONNECTED
    if isinstance(exc, http1.Reset):
        return FailureCode.CONNECTION_RESET
    if isinstance(exc, http1.InvalidResponse):
        return FailureCode.INVALID_HTTP
    return FailureCode.NETWORK_ERROR
