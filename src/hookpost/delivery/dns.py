"""Name lookups that cannot stall anything else: c-ares (aiodns) answers on the event loop, with
no thread pool, a budget per lookup, answers cached for their TTL and failures for a moment.

One `NameResolver` serves the sender and the endpoint checks. Concurrent lookups of one name
share one query, so fifty endpoints on a dead domain cost one question, not fifty.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

import aiodns
from aiodns.error import ARES_ENODATA, ARES_ENOTFOUND, ARES_ETIMEOUT, DNSError

from hookpost.delivery.resolver import DnsTimeout

_NAME_MISSING = {ARES_ENOTFOUND, ARES_ENODATA}


@dataclass(frozen=True)
class _Answer:
    """A cached outcome: the addresses, or the failure to raise again (made anew each time)."""

    addresses: tuple[str, ...]
    failure: tuple[type[OSError], int | None, str] | None
    expires: float

    def result(self) -> list[str]:
        if self.failure is not None:
            kind, code, message = self.failure
            raise kind(message) if code is None else kind(code, message)
        return list(self.addresses)


class NameResolver:
    """`await resolver(host, port)` -> the host's addresses (numeric hosts are returned as is).

    `servers` are "ip" or "ip:port" ("[v6]:port"); none means the system's resolv.conf.
    """

    def __init__(
        self,
        servers: Sequence[str] = (),
        *,
        timeout: float = 5.0,
        failure_ttl: float = 5.0,
        max_ttl: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = tuple(servers)
        self.timeout = timeout
        self.failure_ttl = failure_ttl
        self.max_ttl = max_ttl
        self.max_entries = max_entries
        self._clock = clock
        self._channel: aiodns.DNSResolver | None = None
        self._cache: dict[str, _Answer] = {}
        self._pending: dict[str, asyncio.Task[_Answer]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:  # noqa: ARG002 - any port
        if _is_numeric(host):
            return [host]
        name = host.lower()
        answer = self._cache.get(name)
        if answer is None or answer.expires <= self._clock():
            pending = self._pending.get(name)
            if pending is None:
                pending = asyncio.create_task(self._ask(name))
                self._pending[name] = pending
                pending.add_done_callback(lambda _: self._pending.pop(name, None))
            # A caller with a shorter budget gives up on the wait, not on the query: its
            # answer is still cached for the next caller.
            answer = await asyncio.shield(pending)
        return answer.result()

    async def _ask(self, name: str) -> _Answer:
        try:
            async with asyncio.timeout(self.timeout):
                found = await self._dns().getaddrinfo(
                    name, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM
                )
        except TimeoutError:
            return self._remember(name, self._timed_out(name))
        except DNSError as exc:
            return self._remember(name, self._failed(name, exc))
        addresses = tuple(dict.fromkeys(node.addr[0].decode() for node in found.nodes))
        if not addresses:
            failed = (socket.gaierror, socket.EAI_NODATA, f"{name} has no IP address")
            return self._remember(name, _Answer((), failed, self._clock() + self.failure_ttl))
        ttl = min(*(node.ttl for node in found.nodes), self.max_ttl)
        return self._remember(name, _Answer(addresses, None, self._clock() + max(ttl, 0)))

    def _timed_out(self, name: str) -> _Answer:
        message = f"resolving {name} took longer than {self.timeout:g}s"
        return _Answer((), (DnsTimeout, None, message), self._clock() + self.failure_ttl)

    def _failed(self, name: str, exc: DNSError) -> _Answer:
        code = exc.args[0] if exc.args else None
        if code == ARES_ETIMEOUT:
            return self._timed_out(name)
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        gai = socket.EAI_NONAME if code in _NAME_MISSING else socket.EAI_AGAIN
        failed = (socket.gaierror, gai, f"{name}: {reason}")
        return _Answer((), failed, self._clock() + self.failure_ttl)

    def _remember(self, name: str, answer: _Answer) -> _Answer:
        if answer.expires > self._clock():
            if len(self._cache) >= self.max_entries:
                self._evict()
            self._cache[name] = answer
        else:
            self._cache.pop(name, None)  # a TTL of 0: not cached
        return answer

    def _evict(self) -> None:
        now = self._clock()
        for name in [name for name, answer in self._cache.items() if answer.expires <= now]:
            del self._cache[name]
        while len(self._cache) >= self.max_entries:
            del self._cache[next(iter(self._cache))]  # the oldest entry

    def _dns(self) -> aiodns.DNSResolver:
        # Made on first use: aiodns binds the loop that is running then.
        if self._channel is None:
            # c-ares tries each server twice within the budget; the budget itself is ours.
            self._channel = aiodns.DNSResolver(
                nameservers=list(self.servers) or None, timeout=self.timeout / 2, tries=2
            )
        return self._channel

    async def close(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


def _is_numeric(host: str) -> bool:
    try:
        ip_address(host.removeprefix("[").removesuffix("]").split("%", 1)[0])
    except ValueError:
        return False
    return True
