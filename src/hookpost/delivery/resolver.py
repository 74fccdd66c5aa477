"""DNS resolution that refuses internal destinations: resolve once, vet every address, and
hand the HTTP client only vetted addresses, so it never looks the name up a second time.

This closes the DNS-rebinding window: the address connected to is the address checked.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable, Collection
from ipaddress import IPv4Address, IPv6Address, ip_address

from hookpost.core.addresses import AddressPolicy, BlockRule, Verdict, check_all

# (host, port) -> addresses; injectable so tests can script DNS answers. A lookup that runs
# out of time raises an OSError with errno ETIMEDOUT (or TimeoutError).
Lookup = Callable[[str, int], Awaitable[list[str]]]


class DestinationBlocked(OSError):
    """The destination resolved to an address webhooks must never reach."""

    def __init__(self, host: str, verdict: Verdict) -> None:
        super().__init__(f"{host}: {verdict.explanation}")
        self.host = host
        self.verdict = verdict


class DnsTimeout(OSError):
    """The resolver took longer than the lookup budget (errno ETIMEDOUT, as lookups promise)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ETIMEDOUT, message)

    def __str__(self) -> str:
        return str(self.strerror)


def is_own_listener(address: str, port: int, own: Collection[tuple[str, int]]) -> bool:
    """Whether (address, port) would reach hookpost's own API (a delivery loop)."""
    ip = _as_connected(address)
    # Loopback and the unspecified address (connecting to 0.0.0.0 or :: reaches this host)
    # may reach a listener on any local address; an IPv4-mapped address is its IPv4 address
    # on a dual-stack socket, so ::ffff:127.0.0.1 is loopback too.
    local = ip.is_loopback or ip.is_unspecified
    for host, own_port in own:
        if port != own_port:
            continue
        if host in {"0.0.0.0", "::", ""} or local or ip == _listener_address(host):  # noqa: S104
            return True
    return False


def _as_connected(address: str) -> IPv4Address | IPv6Address:
    ip = ip_address(address.split("%", 1)[0])
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _listener_address(host: str) -> IPv4Address | IPv6Address | None:
    try:
        return _as_connected(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None  # a name such as "localhost": only its loopback answers are caught above


class GuardedResolver:
    def __init__(
        self,
        policy: AddressPolicy,
        *,
        lookup: Lookup,
        timeout: float = 5.0,
        own_listeners: Collection[tuple[str, int]] = (),
    ) -> None:
        self.policy = policy
        self.lookup = lookup
        self.timeout = timeout
        self.own_listeners = tuple(own_listeners)

    async def resolve(self, host: str, port: int = 0) -> list[str]:
        """The addresses `host` resolves to, every one of them vetted for `port`."""
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await self.lookup(host, port)
        except TimeoutError:
            raise DnsTimeout(f"resolving {host} took longer than {self.timeout:g}s") from None
        if not addresses:
            # A resolution failure (like NXDOMAIN), not a blocked destination.
            raise socket.gaierror(socket.EAI_NODATA, f"{host} has no IP address")
        verdict = self.vet(addresses, port)
        if not verdict.allowed:
            raise DestinationBlocked(host, verdict)
        return addresses

    def vet(self, addresses: list[str], port: int) -> Verdict:
        """The verdict for every address a name resolved to, at `port`."""
        verdict = check_all(self.policy, addresses)
        if not verdict.allowed:
            return verdict
        for address in addresses:
            if is_own_listener(address, port, self.own_listeners):
                rule = BlockRule.OWN_LISTENER
                return Verdict(address, rule, f"{address}:{port} is {rule.describe()}")
        return verdict
