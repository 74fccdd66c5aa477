"""The address policy: the §3.2 block table, the operator allow-list, resolved-name verdicts."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookpost.core.addresses import (
    AddressPolicy,
    BlockRule,
    Verdict,
    check_all,
    parse_allowed_networks,
)

R = BlockRule
DEFAULT = AddressPolicy()

# Every row must be blocked by the default policy with exactly this rule.
BLOCKED: list[tuple[str, BlockRule]] = [
    # "this network" and loopback
    ("0.0.0.0", R.UNSPECIFIED),
    ("0.1.2.3", R.UNSPECIFIED),
    ("127.0.0.1", R.LOOPBACK),
    ("127.0.0.2", R.LOOPBACK),
    ("127.255.255.254", R.LOOPBACK),
    # private, shared, link-local
    ("10.0.0.1", R.PRIVATE),
    ("10.255.255.255", R.PRIVATE),
    ("172.16.0.1", R.PRIVATE),
    ("172.31.255.254", R.PRIVATE),
    ("192.168.1.1", R.PRIVATE),
    ("100.64.0.1", R.CGNAT),
    ("100.127.255.254", R.CGNAT),
    ("169.254.0.1", R.LINK_LOCAL),
    ("169.254.169.253", R.LINK_LOCAL),
    # cloud metadata
    ("169.254.169.254", R.CLOUD_METADATA),
    ("169.254.170.2", R.CLOUD_METADATA),
    ("169.254.170.23", R.CLOUD_METADATA),
    ("100.100.100.200", R.CLOUD_METADATA),
    ("192.0.0.192", R.CLOUD_METADATA),
    ("fd00:ec2::254", R.CLOUD_METADATA),
    ("::ffff:169.254.169.254", R.CLOUD_METADATA),
    ("64:ff9b::a9fe:a9fe", R.CLOUD_METADATA),
    ("64:ff9b::100.100.100.200", R.CLOUD_METADATA),
    ("2002:a9fe:a9fe::", R.CLOUD_METADATA),
    ("::169.254.169.254", R.CLOUD_METADATA),
    # special-purpose IPv4
    ("192.0.0.1", R.PROTOCOL_ASSIGNMENTS),
    ("192.0.0.170", R.PROTOCOL_ASSIGNMENTS),
    ("192.0.2.1", R.DOCUMENTATION),
    ("198.51.100.7", R.DOCUMENTATION),
    ("203.0.113.9", R.DOCUMENTATION),
    ("192.88.99.1", R.RELAY_6TO4),
    ("198.18.0.1", R.BENCHMARKING),
    ("198.19.255.254", R.BENCHMARKING),
    ("224.0.0.1", R.MULTICAST),
    ("239.255.255.250", R.MULTICAST),
    ("240.0.0.1", R.RESERVED),
    ("254.1.2.3", R.RESERVED),
    ("255.255.255.255", R.BROADCAST),
    # IPv6 loopback and unspecified, every spelling
    ("::1", R.LOOPBACK),
    ("0:0:0:0:0:0:0:1", R.LOOPBACK),
    ("0000:0000:0000:0000:0000:0000:0000:0001", R.LOOPBACK),
    ("::", R.UNSPECIFIED),
    # IPv4-mapped and NAT64 take the embedded IPv4 verdict
    ("::ffff:127.0.0.1", R.LOOPBACK),
    ("::ffff:7f00:1", R.LOOPBACK),
    ("0:0:0:0:0:ffff:127.0.0.1", R.LOOPBACK),
    ("::FFFF:7F00:0001", R.LOOPBACK),
    ("::ffff:10.0.0.1", R.PRIVATE),
    ("::ffff:0.0.0.0", R.UNSPECIFIED),
    ("64:ff9b::7f00:1", R.LOOPBACK),
    ("64:ff9b::127.0.0.1", R.LOOPBACK),
    ("64:ff9b::c0a8:101", R.PRIVATE),
    ("64:ff9b::a9fe:1", R.LINK_LOCAL),
    ("64:ff9b::ffff:ffff", R.BROADCAST),
    # tunnelling forms: blocked whatever they carry
    ("::127.0.0.1", R.IPV4_EMBEDDED),
    ("::7f00:1", R.IPV4_EMBEDDED),
    ("::1.1.1.1", R.IPV4_EMBEDDED),
    ("::ffff:0:7f00:1", R.IPV4_EMBEDDED),
    ("::ffff:0:101:101", R.IPV4_EMBEDDED),
    ("::5efe:7f00:1", R.IPV4_EMBEDDED),
    ("2002:7f00:1::", R.IPV4_EMBEDDED),
    ("2002:7f00:1::1", R.IPV4_EMBEDDED),
    ("2002:101:101::1", R.IPV4_EMBEDDED),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", R.IPV4_EMBEDDED),
    ("2001::1", R.IPV4_EMBEDDED),
    # the rest of ::/8 and NAT64 local use
    ("::1:0:0:1", R.RESERVED),
    ("64:ff9b:1::1", R.NAT64_LOCAL),
    ("64:ff9b:1:ffff::a00:1", R.NAT64_LOCAL),
    ("64:ff9b:2::1", R.RESERVED),
    # special-purpose IPv6
    ("100::1", R.DISCARD),
    ("2001:1::1", R.PROTOCOL_ASSIGNMENTS),
    ("2001:10::1", R.PROTOCOL_ASSIGNMENTS),
    ("2001:1ff::1", R.PROTOCOL_ASSIGNMENTS),
    ("2001:2::1", R.BENCHMARKING),
    ("2001:db8::1", R.DOCUMENTATION),
    ("3fff::1", R.DOCUMENTATION),
    ("3fff:fff::1", R.DOCUMENTATION),
    ("5f00::1", R.SRV6),
    ("fc00::1", R.IPV6_UNIQUE_LOCAL),
    ("fd12:3456::1", R.IPV6_UNIQUE_LOCAL),
    ("fd00:ec2::253", R.IPV6_UNIQUE_LOCAL),
    ("fe80::1", R.IPV6_LINK_LOCAL),
    ("fe80::1%lo", R.IPV6_LINK_LOCAL),
    ("febf::1", R.IPV6_LINK_LOCAL),
    ("fec0::1", R.IPV6_SITE_LOCAL),
    ("ff02::1", R.MULTICAST),
    ("ff05::1:3", R.MULTICAST),
    # outside 2000::/3, so never routed
    ("100:1::1", R.RESERVED),
    ("4000::1", R.RESERVED),
    ("e000::1", R.RESERVED),
    # not an address at all: fails closed
    ("localhost", R.NOT_AN_ADDRESS),
    ("127.1", R.NOT_AN_ADDRESS),
    ("", R.NOT_AN_ADDRESS),
]

ALLOWED = [
    "93.184.216.34",
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.1",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "2606:4700::1111",
    "2a00:1450:4001:80b::200e",
    "2001:200::1",  # just above 2001::/23
    "2001:4860:4860::8888",
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
    "64:ff9b::1.1.1.1",
    "::ffff:93.184.216.34",
]


@pytest.mark.parametrize(("address", "rule"), BLOCKED)
def test_default_policy_blocks_with_the_named_rule(address: str, rule: BlockRule) -> None:
    verdict = DEFAULT.check(address)
    assert verdict.rule is rule
    assert not verdict.allowed
    assert verdict.explanation


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    verdict = DEFAULT.check(address)
    assert verdict.allowed, verdict.explanation
    assert verdict.rule is None


def test_accepts_address_objects_and_reports_canonical_text() -> None:
    assert DEFAULT.check(IPv4Address("127.0.0.1")).rule is R.LOOPBACK
    assert DEFAULT.check(IPv6Address("::1")).rule is R.LOOPBACK
    assert DEFAULT.check("0:0:0:0:0:0:0:1").address == "::1"


def test_explanations_name_the_embedded_address_and_its_rule() -> None:
    sixtofour = DEFAULT.check("2002:7f00:1::").explanation
    assert "6to4" in sixtofour
    assert "127.0.0.1" in sixtofour
    assert "loopback" in sixtofour
    mapped = DEFAULT.check("::ffff:10.0.0.1").explanation
    assert "IPv4-mapped" in mapped
    assert "private" in mapped


def test_every_rule_has_a_description() -> None:
    for rule in BlockRule:
        assert rule.describe()
        assert rule.value == rule.name.lower()


# -- the operator allow-list ------------------------------------------------------------


def _policy(text: str) -> AddressPolicy:
    return AddressPolicy(parse_allowed_networks(text))


LOOPBACK_OPEN = _policy("127.0.0.0/8")
ONLY_127_0_0_2 = _policy("127.0.0.2/32")


@pytest.mark.parametrize(
    ("policy", "address", "rule"),
    [
        (LOOPBACK_OPEN, "127.0.0.1", None),
        (LOOPBACK_OPEN, "127.3.4.5", None),
        (LOOPBACK_OPEN, "::ffff:127.0.0.1", None),
        (LOOPBACK_OPEN, "64:ff9b::7f00:1", None),
        (LOOPBACK_OPEN, "::1", R.LOOPBACK),
        (LOOPBACK_OPEN, "::127.0.0.1", R.IPV4_EMBEDDED),
        (LOOPBACK_OPEN, "2002:7f00:1::", R.IPV4_EMBEDDED),
        (LOOPBACK_OPEN, "169.254.169.254", R.CLOUD_METADATA),
        (LOOPBACK_OPEN, "10.0.0.1", R.PRIVATE),
        (ONLY_127_0_0_2, "127.0.0.2", None),
        (ONLY_127_0_0_2, "::ffff:127.0.0.2", None),
        (ONLY_127_0_0_2, "127.0.0.1", R.LOOPBACK),
        (ONLY_127_0_0_2, "::ffff:127.0.0.1", R.LOOPBACK),
        (ONLY_127_0_0_2, "127.0.0.3", R.LOOPBACK),
        # a broad entry never opens metadata or the rest of link-local space
        (_policy("0.0.0.0/0, ::/0"), "8.8.8.8", None),
        (_policy("0.0.0.0/0, ::/0"), "10.0.0.1", None),
        (_policy("0.0.0.0/0, ::/0"), "::1", None),
        (_policy("0.0.0.0/0, ::/0"), "169.254.169.254", R.CLOUD_METADATA),
        (_policy("0.0.0.0/0, ::/0"), "169.254.1.1", R.LINK_LOCAL),
        (_policy("0.0.0.0/0, ::/0"), "fe80::1", R.IPV6_LINK_LOCAL),
        (_policy("0.0.0.0/0, ::/0"), "fd00:ec2::254", R.CLOUD_METADATA),
        (_policy("0.0.0.0/0, ::/0"), "::ffff:169.254.169.254", R.CLOUD_METADATA),
        (_policy("0.0.0.0/0, ::/0"), "2002:a9fe:a9fe::", R.CLOUD_METADATA),
        (_policy("169.254.0.0/16"), "169.254.169.254", R.CLOUD_METADATA),
        (_policy("169.254.0.0/16"), "169.254.1.1", None),
        (_policy("100.64.0.0/10"), "100.100.100.200", R.CLOUD_METADATA),
        (_policy("100.64.0.0/10"), "100.64.0.1", None),
        (_policy("fd00::/8"), "fd00:ec2::254", R.CLOUD_METADATA),
        (_policy("fd00::/8"), "fd00:ec2::1", None),
        (_policy("fe80::/64"), "fe80::1", None),
        # metadata opens only when named exactly
        (_policy("169.254.169.254/32"), "169.254.169.254", None),
        (_policy("169.254.169.254"), "169.254.169.254", None),
        (_policy("169.254.169.254/32"), "::ffff:169.254.169.254", None),
        (_policy("169.254.169.254/32"), "64:ff9b::a9fe:a9fe", None),
        (_policy("169.254.169.254/32"), "169.254.170.2", R.CLOUD_METADATA),
        (_policy("fd00:ec2::254/128"), "fd00:ec2::254", None),
        # an IPv6 entry does not leak into IPv4 space (CPython's `in` ignores versions)
        (_policy("::/96"), "0.0.0.5", R.UNSPECIFIED),
        (_policy("::/64"), "10.0.0.1", R.PRIVATE),
    ],
)
def test_allow_list(policy: AddressPolicy, address: str, rule: BlockRule | None) -> None:
    verdict = policy.check(address)
    assert verdict.rule is rule, verdict.explanation
    if rule is None and DEFAULT.check(address).rule is not None:
        assert "allow-list" in verdict.explanation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("   ", ()),
        ("127.0.0.0/8", (IPv4Network("127.0.0.0/8"),)),
        ("127.0.0.2", (IPv4Network("127.0.0.2/32"),)),
        (
            " 127.0.0.2/32 , 127.0.0.3/32,",
            (IPv4Network("127.0.0.2/32"), IPv4Network("127.0.0.3/32")),
        ),
        ("10.0.0.0/8 ::1", (IPv4Network("10.0.0.0/8"), IPv6Network("::1/128"))),
        ("fd00::/8\n192.168.0.0/16", (IPv6Network("fd00::/8"), IPv4Network("192.168.0.0/16"))),
    ],
)
def test_parse_allowed_networks(text: str, expected: tuple[object, ...]) -> None:
    assert parse_allowed_networks(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1/8", "did you mean 127.0.0.0/8"),
        ("localhost", "not an IP address or CIDR"),
        ("127.1", "not an IP address or CIDR"),
        ("10.0.0.0/33", "not an IP address or CIDR"),
        ("fe80::1%eth0", "zone ids"),
        ("10.0.0.0/8, nonsense", "'nonsense'"),
        ("::ffff:127.0.0.0/104", "IPv4-mapped or NAT64"),
        ("64:ff9b::/96", "IPv4-mapped or NAT64"),
    ],
)
def test_parse_allowed_networks_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="HOOKPOST_ALLOWED_NETWORKS") as caught:
        parse_allowed_networks(text)
    assert message in str(caught.value)


# -- resolved names ---------------------------------------------------------------------


def test_check_all_allows_a_name_whose_every_address_is_allowed() -> None:
    verdict = check_all(DEFAULT, ["93.184.216.34", "2606:4700::1111", "93.184.216.34"])
    assert verdict.allowed
    assert verdict.address == "93.184.216.34, 2606:4700::1111"


def test_check_all_rejects_the_whole_name_for_one_bad_address() -> None:
    verdict = check_all(ONLY_127_0_0_2, ["127.0.0.2", "127.0.0.1"])
    assert verdict == DEFAULT.check("127.0.0.1")
    assert check_all(DEFAULT, ["1.1.1.1", "::1"]).rule is R.LOOPBACK
    assert check_all(DEFAULT, iter(["1.1.1.1", "10.0.0.1", "::1"])).rule is R.PRIVATE


def test_check_all_of_nothing_is_blocked() -> None:
    verdict = check_all(DEFAULT, [])
    assert verdict.rule is R.NO_ADDRESS
    assert not verdict.allowed


def test_check_all_fails_closed_on_garbage() -> None:
    assert check_all(DEFAULT, ["1.1.1.1", "not-an-ip"]).rule is R.NOT_AN_ADDRESS


# -- properties -------------------------------------------------------------------------

ipv4s = st.integers(0, 2**32 - 1).map(IPv4Address)
POLICIES = [DEFAULT, LOOPBACK_OPEN, ONLY_127_0_0_2, _policy("169.254.169.254/32, 10.0.0.0/8")]


def _same(left: Verdict, right: Verdict) -> bool:
    return (left.allowed, left.rule) == (right.allowed, right.rule)


@given(ipv4s, st.sampled_from(POLICIES))
def test_mapped_and_nat64_forms_take_the_ipv4_verdict(
    ip: IPv4Address, policy: AddressPolicy
) -> None:
    direct = policy.check(ip)
    mapped = IPv6Address(0xFFFF_0000_0000 | int(ip))
    nat64 = IPv6Address(int(IPv6Address("64:ff9b::")) | int(ip))
    assert _same(policy.check(mapped), direct)
    assert _same(policy.check(str(mapped)), direct)
    assert _same(policy.check(nat64), direct)


@given(ipv4s)
def test_ipv4_that_python_calls_non_global_is_blocked(ip: IPv4Address) -> None:
    # The table must be at least as strict as CPython's special-purpose registry.
    if not ip.is_global or ip.is_multicast:
        assert not DEFAULT.check(ip).allowed


@given(st.integers(0, 2**120 - 1))
def test_nothing_in_colon_colon_slash_8_passes_except_translations(low: int) -> None:
    ip = IPv6Address(low)  # every address in ::/8
    verdict = DEFAULT.check(ip)
    if ip in IPv6Network("::ffff:0:0/96") or ip in IPv6Network("64:ff9b::/96"):
        assert _same(verdict, DEFAULT.check(IPv4Address(low & 0xFFFFFFFF)))
    else:
        assert not verdict.allowed


@given(st.integers(0, 2**128 - 1).map(IPv6Address))
def test_ipv6_outside_global_unicast_is_blocked(ip: IPv6Address) -> None:
    translated = ip in IPv6Network("::ffff:0:0/96") or ip in IPv6Network("64:ff9b::/96")
    if ip not in IPv6Network("2000::/3") and not translated:
        assert not DEFAULT.check(ip).allowed
