"""The `aiohttp` transport (HOOKPOST_HTTP_CLIENT=aiohttp): the sender's former client, kept
selectable beside the builtin one (`delivery.http1`).

A module of its own, imported only when chosen: aiohttp and its dependencies cost a process
about a quarter of a second to import and several megabytes it never uses with the default.
The sender keeps one behaviour over both transports (see `delivery.sender`).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Mapping
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from hookpost.core.outcomes import FailureCode
from hookpost.core.urls import ParsedUrl
from hookpost.delivery.resolver import GuardedResolver

# status, every header in order, one header by name (case-insensitive), the capped body
Answer = tuple[int, list[tuple[str, str]], Callable[[str], str | None], bytes]


class Limits(Protocol):
    """What the transport reads of the sender's limits (`sender.SenderLimits`)."""

    @property
    def request_timeout(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def max_response_bytes(self) -> int: ...
    @property
    def max_connections(self) -> int: ...


class _VettedResolver(AbstractResolver):
    """aiohttp's resolver interface over the guarded resolver: the connector connects only
    to addresses already vetted, and never looks a name up a second time."""

    def __init__(self, guarded: GuardedResolver) -> None:
        self._guarded = guarded

    async def resolve(
        self,
        host: str,
        port: int = 0,
        family: socket.AddressFamily = socket.AF_INET,  # noqa: ARG002 - decided per address
    ) -> list[ResolveResult]:
        addresses = await self._guarded.resolve(host, port)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class AiohttpTransport:
    def __init__(self, resolver: GuardedResolver, limits: Limits, ssl: object) -> None:
        self._resolver = _VettedResolver(resolver)
        self._limits = limits
        self._ssl = ssl
        self._session: aiohttp.ClientSession | None = None
        # One timeout object for every attempt (aiohttp only reads it).
        self._timeout = aiohttp.ClientTimeout(
            total=limits.request_timeout, sock_connect=limits.connect_timeout
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections,
                use_dns_cache=False,  # every new connection is resolved and vetted afresh
                resolver=self._resolver,
                ssl=self._ssl,  # type: ignore[arg-type]  # an SSLContext or True
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # proxy variables must not redirect webhooks
                auto_decompress=False,  # a compressed answer is stored as sent, never inflated
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("Accept-Encoding", "User-Agent"),
            )
        return self._session

    async def request(
        self, method: str, parsed: ParsedUrl, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        async with self._client().request(
            method,
            URL(parsed.url, encoded=True),
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=self._timeout,
        ) as response:
            content = await self._read_capped(response)
            return response.status, list(response.headers.items()), response.headers.get, content

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """At most max_response_bytes of the body: an endless answer cannot exhaust memory."""
        cap = self._limits.max_response_bytes
        chunks, size = [], 0
        while size < cap:
            chunk = await response.content.read(cap - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def failure_code(exc: BaseException) -> FailureCode | None:
    """aiohttp's own failures, as the codes the builtin transport's get (their wording is
    `delivery.failures`'); None for anything else (the sender's generic rules apply)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FailureCode.DNS_UNRESOLVED
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return FailureCode.TLS_FAILED
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return FailureCode.CONNECT_TIMEOUT
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return FailureCode.RESPONSE_TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = exc.errno == errno.ECONNREFUSED
        return FailureCode.CONNECTION_REFUSED if refused else FailureCode.CONNECT_FAILED
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return FailureCode.SERVER_DISCONNECTED
    if isinstance(exc, aiohttp.ClientConnectionResetError) or (
        isinstance(exc, OSError) and exc.errno == errno.ECONNRESET
    ):
        return FailureCode.CONNECTION_RESET
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return FailureCode.INVALID_HTTP
    if isinstance(exc, aiohttp.ClientError):
        return FailureCode.NETWORK_ERROR
    return None
