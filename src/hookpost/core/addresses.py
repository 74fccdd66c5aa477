"""The address policy: which IP addresses a webhook may be delivered to.

Pure: explicit CIDR tables over the standard library's `ipaddress`; no resolver, no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class BlockRule(enum.StrEnum):
    """Why an address (or a resolved name) is not a permitted destination."""

    NO_ADDRESS = "no_address"
    NOT_AN_ADDRESS = "not_an_address"
    CLOUD_METADATA = "cloud_metadata"
    UNSPECIFIED = "unspecified"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    CGNAT = "cgnat"
    LINK_LOCAL = "link_local"
    PROTOCOL_ASSIGNMENTS = "protocol_assignments"
    DOCUMENTATION = "documentation"
    RELAY_6TO4 = "relay_6to4"
    BENCHMARKING = "benchmarking"
    MULTICAST = "multicast"
    BROADCAST = "broadcast"
    RESERVED = "reserved"
    DISCARD = "discard"
    IPV4_EMBEDDED = "ipv4_embedded"
    NAT64_LOCAL = "nat64_local"
    SRV6 = "srv6"
    IPV6_UNIQUE_LOCAL = "ipv6_unique_local"
    IPV6_LINK_LOCAL = "ipv6_link_local"
    IPV6_SITE_LOCAL = "ipv6_site_local"
    OWN_LISTENER = "own_listener"

    def describe(self) -> str:
        """One line a customer understands, phrased to follow "<address> is ..."."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[BlockRule, str] = {
    BlockRule.NO_ADDRESS: "a name that resolved to no IP address",
    BlockRule.NOT_AN_ADDRESS: "not an IP address",
    BlockRule.CLOUD_METADATA: "a cloud metadata service address, which hands out credentials",
    BlockRule.UNSPECIFIED: "the unspecified ('this network') address, which reaches the server",
    BlockRule.LOOPBACK: "a loopback address, which points back at the delivery server itself",
    BlockRule.PRIVATE: "a private network address, not reachable from the internet",
    BlockRule.CGNAT: "a carrier-grade NAT (shared) address, internal to a provider's network",
    BlockRule.LINK_LOCAL: "a link-local address, only meaningful on one network segment",
    BlockRule.PROTOCOL_ASSIGNMENTS: "reserved for IETF protocol assignments, not an ordinary host",
    BlockRule.DOCUMENTATION: "reserved for documentation examples and never routed",
    BlockRule.RELAY_6TO4: "the 6to4 relay anycast range, not an ordinary host",
    BlockRule.BENCHMARKING: "reserved for network benchmarking and never routed",
    BlockRule.MULTICAST: "a multicast address, which cannot receive an HTTP request",
    BlockRule.BROADCAST: "the broadcast address",
    BlockRule.RESERVED: "in a reserved block that is not routed on the internet",
    BlockRule.DISCARD: "an IPv6 discard-only address",
    BlockRule.IPV4_EMBEDDED: (
        "an IPv6 address that tunnels an IPv4 address (IPv4-compatible, SIIT, ISATAP, 6to4 or "
        "Teredo); these forms are never allowed"
    ),
    BlockRule.NAT64_LOCAL: "a local-use NAT64 address, which leads into a private IPv4 network",
    BlockRule.SRV6: "an IPv6 segment-routing (SRv6) address, not an ordinary host",
    BlockRule.IPV6_UNIQUE_LOCAL: "an IPv6 unique local address (the IPv6 private network range)",
    BlockRule.IPV6_LINK_LOCAL: "an IPv6 link-local address, only meaningful on one network segment",
    BlockRule.IPV6_SITE_LOCAL: "a deprecated IPv6 site-local address, internal to a site",
    BlockRule.OWN_LISTENER: "hookpost's own API, and sending webhooks to it would loop",
}

# Checked before the range tables, so the allow-list can treat them specially (§3.2: an
# allow-list that opens 169.254.0.0/16 or fd00::/8 must still not reach credentials).
# 169.254.170.23 and fd00:ec2::23 are the AWS EKS Pod Identity agent.
_METADATA_V4 = frozenset(
    IPv4Address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "192.0.0.192",
    )
)
_METADATA_V6 = frozenset(IPv6Address(a) for a in ("fd00:ec2::254", "fd00:ec2::23"))

# First match wins, so more specific blocks come before the blocks that contain them.
_IPV4_TABLE: tuple[tuple[IPv4Network, BlockRule], ...] = tuple(
    (IPv4Network(cidr), rule)
    for cidr, rule in (
        ("0.0.0.0/8", BlockRule.UNSPECIFIED),
        ("10.0.0.0/8", BlockRule.PRIVATE),
        ("100.64.0.0/10", BlockRule.CGNAT),
        ("127.0.0.0/8", BlockRule.LOOPBACK),
        ("169.254.0.0/16", BlockRule.LINK_LOCAL),
        ("172.16.0.0/12", BlockRule.PRIVATE),
        ("192.0.0.0/24", BlockRule.PROTOCOL_ASSIGNMENTS),
        ("192.0.2.0/24", BlockRule.DOCUMENTATION),
        ("192.88.99.0/24", BlockRule.RELAY_6TO4),
        ("192.168.0.0/16", BlockRule.PRIVATE),
        ("198.18.0.0/15", BlockRule.BENCHMARKING),
        ("198.51.100.0/24", BlockRule.DOCUMENTATION),
        ("203.0.113.0/24", BlockRule.DOCUMENTATION),
        ("224.0.0.0/4", BlockRule.MULTICAST),
        ("255.255.255.255/32", BlockRule.BROADCAST),
        ("240.0.0.0/4", BlockRule.RESERVED),
    )
)

_IPV6_TABLE: tuple[tuple[IPv6Network, BlockRule], ...] = tuple(
    (IPv6Network(cidr), rule)
    for cidr, rule in (
        ("::/128", BlockRule.UNSPECIFIED),
        ("::1/128", BlockRule.LOOPBACK),
        ("64:ff9b:1::/48", BlockRule.NAT64_LOCAL),
        # All of ::/8 (Hook0): besides the embedding forms it holds nothing routable.
        ("::/8", BlockRule.RESERVED),
        ("100::/64", BlockRule.DISCARD),
        ("2001:2::/48", BlockRule.BENCHMARKING),
        ("2001::/23", BlockRule.PROTOCOL_ASSIGNMENTS),
        ("2001:db8::/32", BlockRule.DOCUMENTATION),
        ("3fff::/20", BlockRule.DOCUMENTATION),
        ("5f00::/16", BlockRule.SRV6),
        ("fc00::/7", BlockRule.IPV6_UNIQUE_LOCAL),
        ("fe80::/10", BlockRule.IPV6_LINK_LOCAL),
        ("fec0::/10", BlockRule.IPV6_SITE_LOCAL),
        ("ff00::/8", BlockRule.MULTICAST),
    )
)

# Every internet-routed IPv6 allocation lies in 2000::/3; anything else left over is
# unallocated, and blocking it costs nothing while closing gaps in the table above.
_GLOBAL_UNICAST = IPv6Network("2000::/3")

# These forms *are* the IPv4 address for routing (a dual-stack socket or a NAT64 gateway
# connects to it), so they take the IPv4 verdict, allow-list included.
_MAPPED = IPv6Network("::ffff:0:0/96")
_NAT64 = IPv6Network("64:ff9b::/96")

# These forms only tunnel an IPv4 address; they are legacy, so they are blocked whatever
# they carry, but the explanation names what the carried address would have broken.
_TUNNEL_FORMS: tuple[tuple[IPv6Network, str], ...] = (
    (IPv6Network("::/96"), "IPv4-compatible"),
    (IPv6Network("::ffff:0:0:0/96"), "SIIT"),
    (IPv6Network("::5efe:0:0/96"), "ISATAP"),
)
_SIXTOFOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")

_LINK_LOCAL_V4 = IPv4Network("169.254.0.0/16")
_LINK_LOCAL_V6 = IPv6Network("fe80::/10")


@dataclass(frozen=True)
class Verdict:
    """The decision for one address (or one resolved name): allowed when `rule` is None."""

    address: str
    rule: BlockRule | None
    explanation: str

    @property
    def allowed(self) -> bool:
        return self.rule is None


def _parse(address: str | IPAddress) -> IPAddress | None:
    if isinstance(address, IPv4Address | IPv6Address):
        return address
    try:
        return ip_address(address)
    except ValueError:
        return None


def _without_scope(ip: IPAddress) -> IPAddress:
    # A zone id never changes which block an address is in, but it does break equality.
    return IPv6Address(int(ip)) if isinstance(ip, IPv6Address) else ip


def _translated(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    if ip in _MAPPED:
        return "IPv4-mapped", IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return "NAT64", IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _tunnelled(ip: IPv6Address) -> tuple[str, tuple[IPv4Address, ...]] | None:
    if int(ip) <= 1:
        return None  # :: and ::1 sit inside ::/96 but are themselves, not a tunnel
    for network, form in _TUNNEL_FORMS:
        if ip in network:
            return form, (IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip in _SIXTOFOUR and ip.sixtofour is not None:
        return "6to4", (ip.sixtofour,)
    if ip in _TEREDO and ip.teredo is not None:
        return "Teredo", ip.teredo  # (server, client)
    return None


def _classify_v4(ip: IPv4Address) -> BlockRule | None:
    if ip in _METADATA_V4:
        return BlockRule.CLOUD_METADATA
    for network, rule in _IPV4_TABLE:
        if ip in network:
            return rule
    return None


def _classify_v6(ip: IPv6Address) -> tuple[BlockRule | None, str]:
    """The default rule for a non-translated IPv6 address, with a customer explanation."""
    if ip in _METADATA_V6:
        return BlockRule.CLOUD_METADATA, f"{ip} is {BlockRule.CLOUD_METADATA.describe()}"
    tunnel = _tunnelled(ip)
    if tunnel is not None:
        form, carried = tunnel
        for inner in carried:
            if inner in _METADATA_V4:
                rule = BlockRule.CLOUD_METADATA
                return rule, f"{ip} is the {form} form of {inner}, {rule.describe()}"
        text = f"{ip} is the {form} form of {' and '.join(map(str, carried))}"
        broken = [(inner, r) for inner in carried if (r := _classify_v4(inner)) is not None]
        if broken:
            inner, inner_rule = broken[0]
            text += f", and {inner} is {inner_rule.describe()}"
        return BlockRule.IPV4_EMBEDDED, f"{text}; IPv6 forms that tunnel IPv4 are never allowed"
    for network, rule in _IPV6_TABLE:
        if ip in network:
            return rule, f"{ip} is {rule.describe()}"
    if ip not in _GLOBAL_UNICAST:
        return BlockRule.RESERVED, f"{ip} is {BlockRule.RESERVED.describe()}"
    return None, f"{ip} is a public address"


def _describe_v4(ip: IPv4Address, rule: BlockRule | None) -> str:
    return f"{ip} is a public address" if rule is None else f"{ip} is {rule.describe()}"


@dataclass(frozen=True)
class AddressPolicy:
    """The default block table (§3.2) plus an operator allow-list.

    An allow-list entry opens every blocked address it contains, with two exceptions that
    keep a broad entry (say 0.0.0.0/0) from reaching credentials:
    - a cloud metadata address opens only for an entry naming exactly it (a /32 or /128);
    - the rest of link-local space (169.254.0.0/16, fe80::/10) opens only for an entry
      lying wholly inside that space, e.g. 169.254.20.10/32 for a node-local DNS cache.
    IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms get exactly the verdict
    of the IPv4 address they carry, so `127.0.0.0/8` also opens ::ffff:127.0.0.1.
    """

    allowed_networks: tuple[IPNetwork, ...] = ()

    def check(self, address: str | IPAddress) -> Verdict:
        ip = _parse(address)
        if ip is None:
            invalid = BlockRule.NOT_AN_ADDRESS
            return Verdict(str(address), invalid, f"{address!r} is {invalid.describe()}")
        bare = _without_scope(ip)
        if isinstance(bare, IPv6Address):
            translated = _translated(bare)
            if translated is not None:
                form, inner = translated
                verdict = self.check(inner)
                text = f"{ip} is the {form} form of {inner}: {verdict.explanation}"
                return Verdict(str(ip), verdict.rule, text)
            rule, text = _classify_v6(bare)
        else:
            rule = _classify_v4(bare)
            text = _describe_v4(bare, rule)
        if rule is None:
            return Verdict(str(ip), None, text)
        entry = self._opening_entry(bare, rule)
        if entry is not None:
            text = f"{ip} is allowed by the operator allow-list entry {entry} (otherwise {rule})"
            return Verdict(str(ip), None, text)
        return Verdict(str(ip), rule, text)

    def _opening_entry(self, ip: IPAddress, rule: BlockRule) -> IPNetwork | None:
        for network in self.allowed_networks:
            if network.version != ip.version or ip not in network:
                continue  # `in` alone does not compare versions in CPython 3.11
            if rule is BlockRule.CLOUD_METADATA and network.num_addresses != 1:
                continue
            if rule in (BlockRule.LINK_LOCAL, BlockRule.IPV6_LINK_LOCAL) and not _inside_link_local(
                network
            ):
                continue
            return network
        return None


def _inside_link_local(network: IPNetwork) -> bool:
    if isinstance(network, IPv4Network):
        return network.subnet_of(_LINK_LOCAL_V4)
    return network.subnet_of(_LINK_LOCAL_V6)


def check_all(policy: AddressPolicy, addresses: Iterable[str]) -> Verdict:
    """The verdict for a resolved name: one forbidden address forbids the whole name.

    Filtering out the bad answers instead would let a name that mixes public and internal
    records through, and would make the outcome depend on which record the client tried.
    """
    seen: list[str] = []
    for address in addresses:
        verdict = policy.check(address)
        if not verdict.allowed:
            return verdict
        if verdict.address not in seen:
            seen.append(verdict.address)
    if not seen:
        return Verdict("", BlockRule.NO_ADDRESS, "the name resolved to no IP address")
    return Verdict(", ".join(seen), None, "every address the name resolved to is allowed")


_SEPARATORS = re.compile(r"[,\s]+")


def parse_allowed_networks(text: str) -> tuple[IPNetwork, ...]:
    """Read HOOKPOST_ALLOWED_NETWORKS: CIDRs or bare addresses, separated by commas/space."""
    return tuple(_parse_entry(entry) for entry in _SEPARATORS.split(text) if entry)


def _parse_entry(entry: str) -> IPNetwork:
    where = f"HOOKPOST_ALLOWED_NETWORKS entry {entry!r}"
    if "%" in entry:
        raise ValueError(f"{where}: zone ids (%...) are not allowed")
    try:
        network = ip_network(entry)
    except ValueError as exc:
        try:
            loose = ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"{where} is not an IP address or CIDR network (e.g. 127.0.0.2 or 10.0.0.0/8)"
            ) from exc
        raise ValueError(f"{where} has host bits set; did you mean {loose}?") from exc
    if isinstance(network, IPv6Network) and (
        network.subnet_of(_MAPPED) or network.subnet_of(_NAT64)
    ):
        # Those forms take the verdict of the IPv4 address they carry; an IPv6 entry here
        # would silently do nothing, so say so.
        raise ValueError(f"{where} is an IPv4-mapped or NAT64 range; list the IPv4 network")
    return network
