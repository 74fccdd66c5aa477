"""SSRF at delivery time: hostile destinations are refused by `Sender.send` itself.

Every URL goes through the whole sending path (URL rules, scripted DNS, the guarded resolver,
each HTTP client). Traps listen on the loopback addresses at the port every hostile URL names; a
single connection to any of them fails the test. Nothing is ever sent beyond 127.0.0.x/::1.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from hookpost.core.addresses import AddressPolicy, BlockRule, parse_allowed_networks
from hookpost.core.outcomes import ErrorClass, Outcome
from hookpost.delivery.sender import HTTP_CLIENTS, Sender, SenderLimits
from tests.support.dns import ScriptedLookup
from tests.support.receiver import Behaviour, Receiver
from tests.support.trap import Trap

R = BlockRule
LIMITS = SenderLimits(
    request_timeout=1.0,
    connect_timeout=0.5,
    max_response_bytes=64 * 1024,
    stored_response_bytes=20_000,
    max_connections=256,
    https_only=False,
)
BODY = b'{"type": "ping"}'

# A regression that hangs should fail in seconds, not at the suite-wide limit.
pytestmark = pytest.mark.timeout(20)


@pytest.fixture(autouse=True, params=HTTP_CLIENTS)
def http_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both of the sender's HTTP clients: they must behave the same."""
    monkeypatch.setattr(sys.modules[__name__], "LIMITS", replace(LIMITS, http_client=request.param))
    return str(request.param)


def policy(allowed: str = "") -> AddressPolicy:
    return AddressPolicy(parse_allowed_networks(allowed))


async def send(sender: Sender, url: str) -> Outcome:
    return await sender.send(
        "POST", url, {"content-type": "application/json"}, BODY, datetime.now(UTC)
    )


def assert_blocked(outcome: Outcome, *texts: str) -> str:
    assert outcome.error_class is ErrorClass.BLOCKED, outcome
    assert outcome.status_code == 0
    message = outcome.error_message or ""
    for text in texts:
        assert text in message, (text, message)
    return message


def assert_rule(message: str, rule: BlockRule) -> None:
    assert f"destination not allowed ({rule})" in message, message
    if rule is not R.IPV4_EMBEDDED:  # that explanation names the tunnel form instead
        assert rule.describe() in message, message


# -- traps at one port on every loopback address -----------------------------------------------


@dataclass
class Traps:
    port: int
    all: tuple[Trap, ...]

    def hits(self) -> list[tuple[str, str]]:
        return [(trap.host, hit.peer) for trap in self.all for hit in trap.hits()]


def traps_at_one_port(hosts: tuple[str, ...]) -> Traps:
    """Traps on every host at a single port (a few tries, in case another test holds it)."""
    for _ in range(20):
        first = Trap(hosts[0])
        opened = [first]
        try:
            opened += [Trap(host, first.port) for host in hosts[1:]]
        except OSError:
            for trap in opened:
                trap.close()
            continue
        return Traps(first.port, tuple(opened))
    raise RuntimeError("no port free on every loopback address")


@pytest.fixture(scope="module")
def traps() -> Iterator[Traps]:
    opened = traps_at_one_port(("127.0.0.1", "127.0.0.2", "127.0.0.3", "::1"))
    yield opened
    for trap in opened.all:
        trap.close()


@pytest.fixture(autouse=True)
def no_connection_reaches_a_trap(traps: Traps) -> Iterator[None]:
    before = traps.hits()
    yield
    assert traps.hits() == before, "a hostile destination was connected to"


# -- the table (default configuration: empty allow-list) ---------------------------------------


@dataclass(frozen=True)
class Hostile:
    host: str  # as written in the URL
    rule: BlockRule
    address: str  # the address the message must name
    dns: tuple[str, ...] | None = None  # scripted answers when `host` is a name
    path: str = "/"


def literal(host: str, rule: BlockRule, address: str, path: str = "/") -> Hostile:
    return Hostile(host, rule, address, path=path)


def name(host: str, rule: BlockRule, *answers: str) -> Hostile:
    verdict = next(v for v in map(policy().check, answers) if v.rule is rule)
    return Hostile(host, rule, verdict.address, answers)


META = "/latest/meta-data/iam/security-credentials/"
HOSTILE: list[Hostile] = [
    # loopback, in every spelling a resolver accepts
    literal("127.0.0.1", R.LOOPBACK, "127.0.0.1"),
    literal("127.1", R.LOOPBACK, "127.0.0.1"),
    literal("127.0.1", R.LOOPBACK, "127.0.0.1"),
    literal("2130706433", R.LOOPBACK, "127.0.0.1"),
    literal("0x7f000001", R.LOOPBACK, "127.0.0.1"),
    literal("0X7F000001", R.LOOPBACK, "127.0.0.1"),
    literal("0x7f.0x0.0x0.0x1", R.LOOPBACK, "127.0.0.1"),
    literal("0x7f.1", R.LOOPBACK, "127.0.0.1"),
    literal("0177.0.0.1", R.LOOPBACK, "127.0.0.1"),
    literal("017700000001", R.LOOPBACK, "127.0.0.1"),
    literal("127.000.000.001", R.LOOPBACK, "127.0.0.1"),
    literal("127.0.0.1.", R.LOOPBACK, "127.0.0.1"),
    literal("①②⑦.0.0.1", R.LOOPBACK, "127.0.0.1"),
    literal("127。0。0。1", R.LOOPBACK, "127.0.0.1"),
    literal("127.0.0.2", R.LOOPBACK, "127.0.0.2"),
    literal("127.255.255.254", R.LOOPBACK, "127.255.255.254"),
    literal("0", R.UNSPECIFIED, "0.0.0.0"),
    literal("0.0.0.0", R.UNSPECIFIED, "0.0.0.0"),
    literal("0x0", R.UNSPECIFIED, "0.0.0.0"),
    # IPv6 and the forms that carry IPv4
    literal("[::1]", R.LOOPBACK, "::1"),
    literal("[0:0:0:0:0:0:0:1]", R.LOOPBACK, "::1"),
    literal("[::]", R.UNSPECIFIED, "::"),
    literal("[::ffff:127.0.0.1]", R.LOOPBACK, "127.0.0.1"),
    literal("[::ffff:7f00:1]", R.LOOPBACK, "127.0.0.1"),
    literal("[0:0:0:0:0:ffff:127.0.0.1]", R.LOOPBACK, "127.0.0.1"),
    literal("[::ffff:0.0.0.0]", R.UNSPECIFIED, "0.0.0.0"),
    literal("[::127.0.0.1]", R.IPV4_EMBEDDED, "127.0.0.1"),
    literal("[::ffff:0:7f00:1]", R.IPV4_EMBEDDED, "127.0.0.1"),
    literal("[::5efe:7f00:1]", R.IPV4_EMBEDDED, "127.0.0.1"),
    literal("[64:ff9b::7f00:1]", R.LOOPBACK, "127.0.0.1"),
    literal("[64:ff9b::a9fe:a9fe]", R.CLOUD_METADATA, "169.254.169.254"),
    literal("[64:ff9b:1::1]", R.NAT64_LOCAL, "64:ff9b:1::1"),
    literal("[2002:7f00:1::]", R.IPV4_EMBEDDED, "127.0.0.1"),
    literal("[2002:a9fe:a9fe::]", R.CLOUD_METADATA, "169.254.169.254"),
    literal("[fe80::1]", R.IPV6_LINK_LOCAL, "fe80::1"),
    literal("[fd00:ec2::254]", R.CLOUD_METADATA, "fd00:ec2::254"),
    literal("[fd12:3456::1]", R.IPV6_UNIQUE_LOCAL, "fd12:3456::1"),
    literal("[fec0::1]", R.IPV6_SITE_LOCAL, "fec0::1"),
    literal("[ff02::1]", R.MULTICAST, "ff02::1"),
    literal("[100::1]", R.DISCARD, "100::1"),
    literal("[2001:db8::1]", R.DOCUMENTATION, "2001:db8::1"),
    literal("[5f00::1]", R.SRV6, "5f00::1"),
    # cloud metadata and private networks
    literal("169.254.169.254", R.CLOUD_METADATA, "169.254.169.254", META),
    literal("2852039166", R.CLOUD_METADATA, "169.254.169.254", META),
    literal("0xa9fea9fe", R.CLOUD_METADATA, "169.254.169.254", META),
    literal("0251.0376.0251.0376", R.CLOUD_METADATA, "169.254.169.254", META),
    literal("[::ffff:169.254.169.254]", R.CLOUD_METADATA, "169.254.169.254", META),
    literal("169.254.170.2", R.CLOUD_METADATA, "169.254.170.2", "/v2/credentials"),
    literal("100.100.100.200", R.CLOUD_METADATA, "100.100.100.200", "/latest/meta-data/"),
    literal("192.0.0.192", R.CLOUD_METADATA, "192.0.0.192", "/opc/v2/instance/"),
    literal("169.254.0.1", R.LINK_LOCAL, "169.254.0.1"),
    literal("10.0.0.1", R.PRIVATE, "10.0.0.1"),
    literal("172.16.0.1", R.PRIVATE, "172.16.0.1"),
    literal("192.168.1.1", R.PRIVATE, "192.168.1.1"),
    literal("100.64.0.1", R.CGNAT, "100.64.0.1"),
    literal("192.0.0.8", R.PROTOCOL_ASSIGNMENTS, "192.0.0.8"),
    literal("192.0.2.1", R.DOCUMENTATION, "192.0.2.1"),
    literal("192.88.99.1", R.RELAY_6TO4, "192.88.99.1"),
    literal("198.18.0.1", R.BENCHMARKING, "198.18.0.1"),
    literal("224.0.0.1", R.MULTICAST, "224.0.0.1"),
    literal("240.0.0.1", R.RESERVED, "240.0.0.1"),
    literal("255.255.255.255", R.BROADCAST, "255.255.255.255"),
    # names whose (scripted) DNS answers are internal
    name("localtest.me", R.LOOPBACK, "127.0.0.1"),
    name("sub.localtest.me", R.LOOPBACK, "127.0.0.1"),
    name("lvh.me", R.LOOPBACK, "127.0.0.1"),
    name("127.0.0.1.nip.io", R.LOOPBACK, "127.0.0.1"),
    name("127-0-0-1.sslip.io", R.LOOPBACK, "127.0.0.1"),
    name("aaaa-only.test", R.LOOPBACK, "::1"),
    name("cname-to-localhost.test", R.LOOPBACK, "127.0.0.1", "::1"),
    name("zero.test", R.UNSPECIFIED, "0.0.0.0"),
    name("metadata-alias.test", R.CLOUD_METADATA, "169.254.169.254"),
    name("imds-v6.test", R.CLOUD_METADATA, "fd00:ec2::254"),
    name("nat64-metadata.test", R.CLOUD_METADATA, "64:ff9b::a9fe:a9fe"),
    name("mapped-loopback.test", R.LOOPBACK, "::ffff:127.0.0.1"),
    name("intranet.test", R.PRIVATE, "10.1.2.3"),
    name("mixed-private.test", R.PRIVATE, "10.1.2.3", "127.0.0.1"),
    name("cgnat.test", R.CGNAT, "100.64.1.1"),
    name("ula.test", R.IPV6_UNIQUE_LOCAL, "fd00::1"),
    name("link-local.test", R.IPV6_LINK_LOCAL, "fe80::1"),
    name("sixtofour.test", R.IPV4_EMBEDDED, "2002:7f00:1::1"),
    name("weird-answer.test", R.NOT_AN_ADDRESS, "127.1"),
]


def url_of(row: Hostile, port: int) -> str:
    return f"http://{row.host}:{port}{row.path}"


def test_the_table_is_big_and_covers_every_address_rule() -> None:
    assert len(HOSTILE) >= 60
    covered = {row.rule for row in HOSTILE}
    assert covered >= set(BlockRule) - {R.NO_ADDRESS, R.OWN_LISTENER}


def test_rule_descriptions_are_distinct() -> None:
    # The table checks messages by description, so no description may contain another.
    texts = [rule.describe() for rule in BlockRule]
    for text in texts:
        assert [other for other in texts if text in other] == [text]


@pytest.mark.parametrize("row", HOSTILE, ids=lambda row: f"{row.host}-{row.rule}")
async def test_a_hostile_destination_is_blocked_without_a_connection(
    row: Hostile, traps: Traps
) -> None:
    lookup = ScriptedLookup()
    if row.dns is not None:
        lookup.set(row.host, list(row.dns))
    sender = Sender(policy(), LIMITS, lookup=lookup)
    try:
        outcome = await send(sender, url_of(row, traps.port))
    finally:
        await sender.close()

    message = assert_blocked(outcome, row.address)
    assert_rule(message, row.rule)
    if row.dns is None:
        assert lookup.calls == []  # a literal is never handed to DNS
    else:
        assert lookup.calls == [(row.host, traps.port)]  # exactly one resolution
        assert row.host in message


BLOCKED_NAMES = [
    ("localhost", "always points back at the delivery server itself"),
    ("LOCALHOST", "always points back at the delivery server itself"),
    ("localhost.", "always points back at the delivery server itself"),
    ("anything.localhost", "always points back at the delivery server itself"),
    ("ip6-localhost", "always points back at the delivery server itself"),
    ("metadata.google.internal", "is a cloud metadata service name"),
    ("METADATA.google.internal.", "is a cloud metadata service name"),
    ("metadata", "is a cloud metadata service name"),
    ("instance-data", "is a cloud metadata service name"),
    ("db.internal", "belong to private networks"),
    ("printer.local", "belong to private networks"),
    ("redis.default.svc", "belong to private networks"),
]


@pytest.mark.parametrize(("host", "reason"), BLOCKED_NAMES)
async def test_internal_names_are_refused_before_any_lookup(
    host: str, reason: str, traps: Traps
) -> None:
    lookup = ScriptedLookup({host: ["127.0.0.1"], host.lower(): ["127.0.0.1"]})
    sender = Sender(policy(), LIMITS, lookup=lookup)
    try:
        outcome = await send(sender, f"http://{host}:{traps.port}/")
    finally:
        await sender.close()

    assert_blocked(outcome, "destination not allowed", host.lower().rstrip("."), reason)
    assert lookup.calls == []


async def test_the_machines_own_host_name_is_refused(traps: Traps) -> None:
    own = socket.gethostname().lower()
    lookup = ScriptedLookup({own: ["127.0.0.1"]})
    named = Sender(policy(), LIMITS, lookup=lookup, own_host_names=[own])
    unnamed = Sender(policy(), LIMITS, lookup=lookup)
    try:
        by_name = await send(named, f"http://{own}:{traps.port}/")
        by_address = await send(unnamed, f"http://{own}:{traps.port}/")
    finally:
        await named.close()
        await unnamed.close()

    assert_blocked(by_name, own, "the delivery server's own host name")
    assert_rule(assert_blocked(by_address, own, "127.0.0.1"), R.LOOPBACK)
    assert lookup.count(own) == 1  # only the sender that did not know the name asked DNS


URL_CONFUSION = [
    ("http://%31%32%37.0.0.1:{port}/", "percent-encoding"),
    ("http://127.0.0.1:{port}@allowed.test/", "credentials"),
    ("http://allowed.test@127.0.0.1:{port}/", "credentials"),
    ("http://127.0.0.1:{port}\\@allowed.test/", "backslash"),
    ("http://allowed.test#@127.0.0.1:{port}/", "fragment"),
    ("http://127.0.0.1\t:{port}/", "control character"),
    ("http://[fe80::1%25lo]:{port}/", "zone id"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://127.0.0.1:{port}/_INFO", "scheme"),
    ("dict://127.0.0.1:{port}/info", "scheme"),
    ("ftp://127.0.0.1:{port}/", "scheme"),
    ("http:/127.0.0.1:{port}/", "host"),
    ("127.0.0.1:{port}/", "scheme"),
    ("http://127.0.0.1:0/", "port"),
    ("http://127.0.0.1:65536/", "port"),
]


@pytest.mark.parametrize(("template", "reason"), URL_CONFUSION)
async def test_parser_confusion_and_other_schemes_are_refused(
    template: str, reason: str, traps: Traps
) -> None:
    lookup = ScriptedLookup({"allowed.test": ["127.0.0.2"]})
    sender = Sender(policy("127.0.0.2/32"), LIMITS, lookup=lookup)
    try:
        outcome = await send(sender, template.format(port=traps.port))
    finally:
        await sender.close()

    assert_blocked(outcome, reason)
    assert lookup.calls == []


# -- with an allow-list ------------------------------------------------------------------------

ONLY_2 = "127.0.0.2/32"


@pytest.fixture
def receiver_2() -> Iterator[Receiver]:
    """A real receiver on an allow-listed address."""
    running = Receiver("127.0.0.2").start()
    yield running
    running.stop()


@dataclass
class Pair:
    """A receiver on 127.0.0.2 and traps on 127.0.0.1 and ::1 at the very same port."""

    receiver: Receiver
    traps: tuple[Trap, Trap]

    def trap_hits(self) -> int:
        return sum(len(trap.hits()) for trap in self.traps)


@pytest.fixture
def pair() -> Iterator[Pair]:
    for _ in range(20):
        receiver = Receiver("127.0.0.2").start()
        try:
            traps = (Trap("127.0.0.1", receiver.port), Trap("::1", receiver.port))
        except OSError:
            receiver.stop()
            continue
        yield Pair(receiver, traps)
        receiver.stop()
        for trap in traps:
            trap.close()
        return
    raise RuntimeError("no port free on 127.0.0.1, 127.0.0.2 and ::1 at once")


@pytest.mark.parametrize(
    "answers",
    [("127.0.0.2", "127.0.0.1"), ("127.0.0.1", "127.0.0.2"), ("127.0.0.2", "::1")],
)
async def test_one_blocked_answer_rejects_the_whole_name(pair: Pair, answers: list[str]) -> None:
    lookup = ScriptedLookup({"mixed.test": list(answers)})
    sender = Sender(policy(ONLY_2), LIMITS, lookup=lookup)
    try:
        outcome = await send(sender, f"http://mixed.test:{pair.receiver.port}/")
    finally:
        await sender.close()

    blocked = answers[1] if answers[0] == "127.0.0.2" else answers[0]
    assert_rule(assert_blocked(outcome, "mixed.test", blocked), R.LOOPBACK)
    assert pair.receiver.connections == 0  # not even the allowed address was tried
    assert pair.trap_hits() == 0


async def test_dns_rebinding_connects_only_to_the_vetted_address(pair: Pair) -> None:
    port = pair.receiver.port
    lookup = ScriptedLookup().set("rebind.test", ["127.0.0.2"], ["127.0.0.1"])
    sender = Sender(policy(ONLY_2), LIMITS, lookup=lookup)
    # The answer closes the connection, so the next attempt must connect (and resolve) anew.
    pair.receiver.answer(Behaviour(200, b"ok", {"connection": "close"}))
    try:
        first = await send(sender, f"http://rebind.test:{port}/hook")
        lookups_after_first = list(lookup.calls)
        second = await send(sender, f"http://rebind.test:{port}/hook")
    finally:
        await sender.close()

    assert first.succeeded, first.error_message
    assert lookups_after_first == [("rebind.test", port)]  # one resolution for the attempt
    (got,) = pair.receiver.requests
    assert got.headers["host"] == f"rebind.test:{port}"  # the name, on the vetted address
    assert pair.receiver.connections == 1
    assert lookup.calls == [("rebind.test", port)] * 2  # one more for the second attempt
    assert_rule(assert_blocked(second, "rebind.test", "127.0.0.1"), R.LOOPBACK)
    assert pair.trap_hits() == 0


REDIRECTS = [
    "http://127.0.0.1:{port}/admin",
    "http://[::1]:{port}/admin",
    "http://localhost:{port}/admin",
    "http://[::ffff:127.0.0.1]:{port}/admin",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "file:///etc/passwd",
    "http://127.0.0.2:{port}/hook",  # itself: a loop
]


@pytest.mark.parametrize("location", REDIRECTS)
async def test_redirects_to_internal_places_are_not_followed(pair: Pair, location: str) -> None:
    target = location.format(port=pair.receiver.port)
    pair.receiver.answer(Behaviour(302, b"", {"location": target}))
    sender = Sender(policy(ONLY_2), LIMITS, lookup=ScriptedLookup())
    try:
        outcome = await send(sender, f"{pair.receiver.url}/hook")
    finally:
        await sender.close()

    assert outcome.error_class is ErrorClass.REDIRECT
    assert outcome.status_code == 302
    assert target in (outcome.error_message or "")
    assert len(pair.receiver.requests) == 1
    assert pair.trap_hits() == 0


# -- hookpost's own API ------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[Receiver]:
    """Stands in for hookpost's own API listener on 127.0.0.1."""
    running = Receiver("127.0.0.1").start()
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("allowed", "listener", "host", "dns"),
    [
        ("127.0.0.0/8", "127.0.0.1", "127.0.0.1", None),
        ("127.0.0.0/8", "127.0.0.1", "[::ffff:127.0.0.1]", None),
        ("127.0.0.0/8", "127.0.0.1", "[::ffff:7f00:1]", None),
        ("127.0.0.0/8", "127.0.0.1", "2130706433", None),
        ("127.0.0.0/8", "127.0.0.1", "127.0.0.2", None),  # any loopback address, same port
        ("127.0.0.0/8", "localhost", "127.0.0.1", None),
        ("127.0.0.0/8", "0.0.0.0", "127.0.0.1", None),
        ("127.0.0.0/8", "127.0.0.1", "api.test", ("127.0.0.1",)),
        ("127.0.0.0/8", "127.0.0.1", "api.test", ("::ffff:127.0.0.1",)),
        ("0.0.0.0/0", "127.0.0.1", "0.0.0.0", None),  # 0.0.0.0 reaches this host
        ("0.0.0.0/0", "127.0.0.1", "api.test", ("0.0.0.0",)),
    ],
)
async def test_hookposts_own_api_is_refused_even_when_allow_listed(
    api: Receiver, allowed: str, listener: str, host: str, dns: tuple[str, ...] | None
) -> None:
    lookup = ScriptedLookup({"api.test": list(dns or ())})
    sender = Sender(policy(allowed), LIMITS, lookup=lookup, own_listeners=[(listener, api.port)])
    try:
        outcome = await send(sender, f"http://{host}:{api.port}/api/v1/app/")
    finally:
        await sender.close()

    message = assert_blocked(outcome, f":{api.port}")
    assert_rule(message, R.OWN_LISTENER)
    assert api.connections == 0


async def test_another_port_on_an_own_address_is_deliverable(
    api: Receiver, receiver_2: Receiver
) -> None:
    sender = Sender(
        policy("127.0.0.0/8"),
        LIMITS,
        lookup=ScriptedLookup(),
        own_listeners=[("0.0.0.0", api.port)],
    )
    try:
        outcome = await send(sender, f"{receiver_2.url}/hook")
    finally:
        await sender.close()

    assert outcome.succeeded, outcome.error_message
    assert api.connections == 0


# -- loopback opened by the operator; metadata stays shut --------------------------------------


async def test_loopback_opens_with_the_allow_list_but_metadata_never(receiver: Receiver) -> None:
    lookup = ScriptedLookup({"receiver.test": ["127.0.0.1"], "imds.test": ["169.254.169.254"]})
    closed = Sender(policy(ONLY_2), LIMITS, lookup=lookup)
    opened = Sender(policy("127.0.0.0/8"), LIMITS, lookup=lookup)
    try:
        refused = await send(closed, f"{receiver.url}/hook")
        by_address = await send(opened, f"{receiver.url}/hook")
        by_name = await send(opened, f"http://receiver.test:{receiver.port}/hook")
        metadata = await send(opened, "http://169.254.169.254/latest/meta-data/")
        metadata_by_name = await send(opened, "http://imds.test/latest/meta-data/")
        ipv6_loopback = await send(opened, f"http://[::1]:{receiver.port}/hook")
    finally:
        await closed.close()
        await opened.close()

    assert_rule(assert_blocked(refused, "127.0.0.1"), R.LOOPBACK)
    assert by_address.succeeded, by_address.error_message
    assert by_name.succeeded, by_name.error_message
    assert len(receiver.requests) == 2
    assert_rule(assert_blocked(metadata, "169.254.169.254"), R.CLOUD_METADATA)
    assert_rule(assert_blocked(metadata_by_name, "imds.test", "169.254.169.254"), R.CLOUD_METADATA)
    assert_rule(assert_blocked(ipv6_loopback, "::1"), R.LOOPBACK)


@pytest.mark.parametrize("allowed", ["0.0.0.0/0", "169.254.0.0/16", "169.254.169.0/24", "::/0"])
@pytest.mark.parametrize(
    "host", ["169.254.169.254", "[::ffff:169.254.169.254]", "[fd00:ec2::254]", "100.100.100.200"]
)
async def test_broad_allow_lists_never_open_metadata(allowed: str, host: str) -> None:
    sender = Sender(policy(allowed), LIMITS, lookup=ScriptedLookup())
    try:
        outcome = await send(sender, f"http://{host}/latest/meta-data/")
    finally:
        await sender.close()

    assert_rule(assert_blocked(outcome), R.CLOUD_METADATA)
