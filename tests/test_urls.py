"""Endpoint URL rules: the hostile URLs of §6.4, IP spellings, names, and accepted URLs."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookpost.core.addresses import AddressPolicy, parse_allowed_networks
from hookpost.core.urls import (
    URL_RULES,
    ParsedUrl,
    UrlProblem,
    blocked_name,
    literal_address,
    parse_endpoint_url,
)

LONG_HOST = ".".join(["a" * 63] * 4)  # 255 characters

# Every row must be refused with exactly this rule.
HOSTILE: list[tuple[str, str]] = [
    # loopback spellings
    ("http://127.0.0.1/", "blocked_address"),
    ("http://127.0.0.1:8080/hook", "blocked_address"),
    ("http://127.1/", "blocked_address"),
    ("http://127.0.1/", "blocked_address"),
    ("http://2130706433/", "blocked_address"),
    ("http://0x7f000001/", "blocked_address"),
    ("http://0X7F000001/", "blocked_address"),
    ("http://0x7f.0x0.0x0.0x1/", "blocked_address"),
    ("http://0x7f.1/", "blocked_address"),
    ("http://0177.0.0.1/", "blocked_address"),
    ("http://017700000001/", "blocked_address"),
    ("http://127.000.000.001/", "blocked_address"),
    ("http://127.0.0.1./", "blocked_address"),
    ("http://0/", "blocked_address"),
    ("http://0.0.0.0/", "blocked_address"),
    ("http://①②⑦.0.0.1/", "blocked_address"),
    ("http://127。0。0。1/", "blocked_address"),
    ("http://127．0．0．1/", "blocked_address"),
    ("http://１２７.0.0.1/", "blocked_address"),
    ("http://%31%32%37.0.0.1/", "host"),
    ("http://127%2E0.0.1/", "host"),
    ("http://localhost/", "blocked_name"),
    ("http://LOCALHOST/", "blocked_name"),
    ("http://localhost./", "blocked_name"),
    ("http://localhost:8080/", "blocked_name"),
    ("http://anything.localhost/", "blocked_name"),
    ("http://a.b.LocalHost./", "blocked_name"),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "blocked_name"),
    ("http://ｌｏｃａｌｈｏｓｔ/", "blocked_name"),
    ("http://localhost\ufe0f/", "blocked_name"),
    ("http://ip6-localhost/", "blocked_name"),
    # IPv6
    ("http://[::1]/", "blocked_address"),
    ("http://[0:0:0:0:0:0:0:1]/", "blocked_address"),
    ("http://[::1]:8080/", "blocked_address"),
    ("http://[::]/", "blocked_address"),
    ("http://[::ffff:127.0.0.1]/", "blocked_address"),
    ("http://[::ffff:7f00:1]/", "blocked_address"),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]/", "blocked_address"),
    ("http://[::127.0.0.1]/", "blocked_address"),
    ("http://[::ffff:0:7f00:1]/", "blocked_address"),
    ("http://[::5efe:7f00:1]/", "blocked_address"),
    ("http://[64:ff9b::7f00:1]/", "blocked_address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "blocked_address"),
    ("http://[2002:7f00:1::]/", "blocked_address"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "blocked_address"),
    ("http://[fe80::1%25lo]/", "host"),
    ("http://[fe80::1%lo]/", "host"),
    ("http://[fe80::1]/", "blocked_address"),
    ("http://[fd00:ec2::254]/", "blocked_address"),
    ("http://[fc00::1]/", "blocked_address"),
    ("http://[fec0::1]/", "blocked_address"),
    ("http://[ff02::1]/", "blocked_address"),
    ("http://[::ffff:0177.0.0.1]/", "host"),
    ("http://[127.0.0.1]/", "host"),
    ("http://[::1/", "host"),
    ("http://[::1]x/", "host"),
    ("http://::1/", "host"),
    ("http://：：1/", "host"),
    # metadata and private
    ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "blocked_address"),
    ("http://2852039166/", "blocked_address"),
    ("http://0xa9fea9fe/", "blocked_address"),
    ("http://0251.0376.0251.0376/", "blocked_address"),
    ("http://[::ffff:169.254.169.254]/", "blocked_address"),
    ("http://169.254.170.2/v2/credentials", "blocked_address"),
    ("http://100.100.100.200/latest/meta-data/", "blocked_address"),
    ("http://192.0.0.192/", "blocked_address"),
    ("http://metadata.google.internal/computeMetadata/v1/", "blocked_name"),
    ("http://metadata/computeMetadata/v1/", "blocked_name"),
    ("http://METADATA.GOOGLE.INTERNAL./", "blocked_name"),
    ("http://instance-data/latest/", "blocked_name"),
    ("http://10.0.0.1/", "blocked_address"),
    ("http://172.16.0.1/", "blocked_address"),
    ("http://192.168.1.1/", "blocked_address"),
    ("http://100.64.0.1/", "blocked_address"),
    ("http://198.18.0.1/", "blocked_address"),
    ("http://224.0.0.1/", "blocked_address"),
    ("http://240.0.0.1/", "blocked_address"),
    ("http://255.255.255.255/", "blocked_address"),
    ("http://service.ns.svc/", "blocked_name"),
    ("http://db.cluster.local/", "blocked_name"),
    ("http://printer.home.arpa/", "blocked_name"),
    ("http://billing.corp.internal/", "blocked_name"),
    # parser confusion
    ("http://127.0.0.1:80@allowed.test/", "credentials"),
    ("http://allowed.test@127.0.0.1/", "credentials"),
    ("http://allowed.test:80@127.0.0.1/", "credentials"),
    ("http://allowed.test;@127.0.0.1/", "credentials"),
    ("http://127.0.0.1\\@allowed.test/", "characters"),
    ("http://allowed.test\\@127.0.0.1/", "characters"),
    ("http://allowed.test#@127.0.0.1/", "fragment"),
    ("http://allowed.test:80#@127.0.0.1/", "fragment"),
    ("https://example.com/hook#section", "fragment"),
    ("http://allowed\t.test/", "characters"),
    ("http://allowed.test\r/", "characters"),
    ("http://allowed.test\n/", "characters"),
    ("http://allowed .test/", "characters"),
    ("http://allowed.test/path with space", "characters"),
    ("http://allowed.test/\x00", "characters"),
    ("http://allowed.test/\x7f", "characters"),
    ("http://allowed.test\u3000/", "characters"),
    ("http://allowed.test\u00a0/", "characters"),
    ("http://loc\u200balhost/", "characters"),
    ("http://loc\u00adalhost/", "characters"),
    ("http://allowed.test\u2028/", "characters"),
    (f"http://{LONG_HOST}/", "host"),
    (f"http://{'a' * 64}.example/", "host"),
    ("http://allowed..test/", "host"),
    ("http://.allowed.test/", "host"),
    ("http://allowed.test＠127.0.0.1/", "host"),
    ("http://allowed.test／@127.0.0.1/", "credentials"),
    ("http://allowed.test／127.0.0.1/", "host"),
    ("http://allowed.test？@127.0.0.1/", "credentials"),
    ("http://exa!mple.com/", "host"),
    ("http://exa<mple.com/", "host"),
    ("http://1.2.3.999/", "host"),
    ("http://1.2.3.4.5/", "host"),
    ("http://0x.0.0.1/", "host"),
    ("http://08.0.0.1/", "host"),
    ("http://example.0x1f/", "host"),
    ("http://127.0.0.1../", "host"),
    # schemes
    ("file:///etc/passwd", "scheme"),
    ("gopher://127.0.0.1:6379/_%2A1%0D%0A%248%0D%0Aflushall%0D%0A", "scheme"),
    ("dict://127.0.0.1:11211/stat", "scheme"),
    ("ftp://example.com/file", "scheme"),
    ("ldap://example.com/", "scheme"),
    ("data:text/plain,hello", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("ws://example.com/socket", "scheme"),
    ("wss://example.com/socket", "scheme"),
    ("http:/\\example.com/", "characters"),
    ("example.com/hook", "scheme"),
    ("//example.com/hook", "scheme"),
    ("", "scheme"),
    ("http:example.com", "host"),
    ("http:/example.com", "host"),
    ("http://", "host"),
    ("http:///path", "host"),
    ("http://:80/", "host"),
    ("http://?x", "host"),
    # ports
    ("http://example.com:0/", "port"),
    ("http://example.com:65536/", "port"),
    ("http://example.com:99999/", "port"),
    ("http://example.com:http/", "port"),
    ("http://example.com:/", "port"),
    ("http://example.com:-1/", "port"),
    ("http://example.com:+80/", "port"),
    ("http://example.com:８０/", "port"),
    ("http://example.com:000080/", "port"),
    ("http://[2606:4700::1111]:0/", "port"),
    # credentials
    ("http://user:pass@allowed.test/", "credentials"),
    ("http://user@example.com/", "credentials"),
    ("https://:@example.com/", "credentials"),
    # length
    ("https://example.com/" + "a" * 2030, "length"),
]


@pytest.mark.parametrize(("url", "rule"), HOSTILE)
def test_hostile_urls_are_refused_with_the_named_rule(url: str, rule: str) -> None:
    result = parse_endpoint_url(url)
    assert isinstance(result, UrlProblem), result
    assert result.rule == rule, result.message
    assert result.message.startswith(f"{rule}: ")


def test_https_only() -> None:
    refused = parse_endpoint_url("http://example.com/", https_only=True)
    assert isinstance(refused, UrlProblem)
    assert refused.rule == "scheme"
    assert isinstance(parse_endpoint_url("HTTPS://example.com/", https_only=True), ParsedUrl)


def test_max_length_is_configurable_and_inclusive() -> None:
    url = "https://example.com/" + "a" * 80  # 100 characters
    assert isinstance(parse_endpoint_url(url, max_length=100), ParsedUrl)
    refused = parse_endpoint_url(url, max_length=99)
    assert isinstance(refused, UrlProblem)
    assert refused.rule == "length"


def test_the_machines_own_host_name_is_refused() -> None:
    refused = parse_endpoint_url("http://VM./hook", own_host_names=["vm"])
    assert isinstance(refused, UrlProblem)
    assert refused.rule == "blocked_name"
    assert isinstance(
        parse_endpoint_url("http://vm.example.com/", own_host_names=["vm"]), ParsedUrl
    )


ACCEPTED: list[tuple[str, ParsedUrl]] = [
    (
        "https://example.com",
        ParsedUrl("https://example.com/", "https", "example.com", 443, "/", False, "example.com"),
    ),
    (
        "HtTpS://Example.COM:443/Hook?A=B",
        ParsedUrl(
            "https://example.com/Hook?A=B",
            "https",
            "example.com",
            443,
            "/Hook?A=B",
            False,
            "example.com",
        ),
    ),
    (
        "http://example.com:8080?x=1",
        ParsedUrl(
            "http://example.com:8080/?x=1",
            "http",
            "example.com",
            8080,
            "/?x=1",
            False,
            "example.com:8080",
        ),
    ),
    (
        "http://example.com:080/",
        ParsedUrl("http://example.com/", "http", "example.com", 80, "/", False, "example.com"),
    ),
    (
        "https://93.184.216.34/webhooks/in",
        ParsedUrl(
            "https://93.184.216.34/webhooks/in",
            "https",
            "93.184.216.34",
            443,
            "/webhooks/in",
            True,
            "93.184.216.34",
        ),
    ),
    (
        "http://1572395042:81/",  # 93.184.216.34 as one decimal number
        ParsedUrl(
            "http://93.184.216.34:81/",
            "http",
            "93.184.216.34",
            81,
            "/",
            True,
            "93.184.216.34:81",
        ),
    ),
    (
        "https://[2606:4700:0:0::1111]:8443/h",
        ParsedUrl(
            "https://[2606:4700::1111]:8443/h",
            "https",
            "2606:4700::1111",
            8443,
            "/h",
            True,
            "[2606:4700::1111]:8443",
        ),
    ),
    (
        "http://[64:ff9b::5db8:d822]/",
        ParsedUrl(
            "http://[64:ff9b::5db8:d822]/",
            "http",
            "64:ff9b::5db8:d822",
            80,
            "/",
            True,
            "[64:ff9b::5db8:d822]",
        ),
    ),
    (
        "https://bücher.example/straße?q=ä",
        ParsedUrl(
            "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4",
            "https",
            "xn--bcher-kva.example",
            443,
            "/stra%C3%9Fe?q=%C3%A4",
            False,
            "xn--bcher-kva.example",
        ),
    ),
    (
        "https://hooks.example.com./a%20b/{id}",
        ParsedUrl(
            "https://hooks.example.com./a%20b/%7Bid%7D",
            "https",
            "hooks.example.com.",
            443,
            "/a%20b/%7Bid%7D",
            False,
            "hooks.example.com.",
        ),
    ),
    (
        "http://my_host-1.example:65535/?redirect=http://127.0.0.1/@x",
        ParsedUrl(
            "http://my_host-1.example:65535/?redirect=http://127.0.0.1/@x",
            "http",
            "my_host-1.example",
            65535,
            "/?redirect=http://127.0.0.1/@x",
            False,
            "my_host-1.example:65535",
        ),
    ),
    (
        # names that resolve to loopback pass here; the delivery-time check refuses them
        "http://localtest.me/",
        ParsedUrl("http://localtest.me/", "http", "localtest.me", 80, "/", False, "localtest.me"),
    ),
    (
        "http://receiver:9000/in",
        ParsedUrl(
            "http://receiver:9000/in", "http", "receiver", 9000, "/in", False, "receiver:9000"
        ),
    ),
]


@pytest.mark.parametrize(("url", "expected"), ACCEPTED)
def test_accepted_urls_are_normalised(url: str, expected: ParsedUrl) -> None:
    assert parse_endpoint_url(url) == expected


def test_homograph_names_are_idna_encoded_not_refused() -> None:
    parsed = parse_endpoint_url("https://exаmple.com/")  # Cyrillic "а"
    assert isinstance(parsed, ParsedUrl)
    assert parsed.host == "xn--exmple-4nf.com"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.2:9000/", "127.0.0.2"),
        ("http://127.1:9000/", "127.0.0.1"),
        ("http://2130706434/", "127.0.0.2"),
        ("http://①②⑦.0.0.2/", "127.0.0.2"),
        ("http://[::ffff:127.0.0.2]/", "::ffff:7f00:2"),
    ],
)
def test_the_allow_list_opens_ip_literals(url: str, host: str) -> None:
    policy = AddressPolicy(parse_allowed_networks("127.0.0.0/8"))
    parsed = parse_endpoint_url(url, policy=policy)
    assert isinstance(parsed, ParsedUrl), parsed
    assert parsed.host == host
    assert parsed.host_is_ip


@pytest.mark.parametrize(
    ("allowed", "url", "rule"),
    [
        ("127.0.0.2/32", "http://127.0.0.1/", "blocked_address"),
        ("127.0.0.2/32", "http://[::1]/", "blocked_address"),
        ("127.0.0.0/8", "http://169.254.169.254/", "blocked_address"),
        ("127.0.0.0/8", "http://localhost/", "blocked_name"),
        ("0.0.0.0/0", "http://[::ffff:169.254.169.254]/", "blocked_address"),
    ],
)
def test_the_allow_list_keeps_the_rest_closed(allowed: str, url: str, rule: str) -> None:
    result = parse_endpoint_url(url, policy=AddressPolicy(parse_allowed_networks(allowed)))
    assert isinstance(result, UrlProblem)
    assert result.rule == rule


def test_metadata_opens_only_when_listed_exactly() -> None:
    exact = AddressPolicy(parse_allowed_networks("169.254.169.254/32"))
    assert isinstance(parse_endpoint_url("http://169.254.169.254/", policy=exact), ParsedUrl)
    assert isinstance(parse_endpoint_url("http://0xa9fea9fe/", policy=exact), ParsedUrl)


# -- IP literal spellings ---------------------------------------------------------------

LITERALS = [
    ("127.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0x7F.1", "127.0.0.1"),
    ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("127.000.000.001", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("00000000000000000000001", "0.0.0.1"),
    ("4294967295", "255.255.255.255"),
    ("1.0xffffff", "1.255.255.255"),
    ("1.2.65535", "1.2.255.255"),
    ("127.0.0.1.", "127.0.0.1"),
    ("::1", "::1"),
    ("[::1]", "::1"),
    ("0:0:0:0:0:0:0:1", "::1"),
    ("::FFFF:127.0.0.1", "::ffff:7f00:1"),
    ("fe80::1%eth0", "fe80::1"),
]
NOT_LITERALS = [
    "localhost",
    "example.com",
    "4294967296",
    "1.0x1000000",
    "1.2.65536",
    "256.0.0.1",
    "1.2.3.256",
    "08",
    "0x",
    "0x.1",
    "127..1",
    ".1",
    "1.2.3.4.5",
    "1.2.3.4..",
    "+1",
    "-1",
    "1e3",
    "0x7g",
    "１２７.0.0.1",  # must be IDNA-encoded first
    "1" * 5000,
    "[::1",
    ":::1",
]


@pytest.mark.parametrize(("host", "address"), LITERALS)
def test_literal_address(host: str, address: str) -> None:
    assert literal_address(host) == address


@pytest.mark.parametrize("host", NOT_LITERALS)
def test_not_a_literal_address(host: str) -> None:
    assert literal_address(host) is None


def _glibc(text: str) -> str | None:
    try:
        return socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        return None


@given(st.text(alphabet="0123456789abcdefxX.", max_size=24))
def test_literal_address_agrees_with_inet_aton(text: str) -> None:
    if not text.endswith("."):  # a trailing dot is our one deliberate extension
        assert literal_address(text) == _glibc(text)


def _spell(part: int, style: int) -> str:
    return [str(part), hex(part), "0" + oct(part)[2:]][style]


@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.lists(st.integers(0, 2), min_size=4))
def test_every_inet_aton_spelling_is_recognised(value: int, parts: int, styles: list[int]) -> None:
    raw = value.to_bytes(4, "big")
    numbers = [*raw[: parts - 1], int.from_bytes(raw[parts - 1 :], "big")]
    text = ".".join(_spell(n, s) for n, s in zip(numbers, styles, strict=False))
    assert literal_address(text) == str(IPv4Address(value))


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "x.localhost",
        "localhost.localdomain",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "anything.internal",
        "printer.local",
        "router.home.arpa",
        "api.default.svc",
        "ｌｏｃａｌｈｏｓｔ",
    ],
)
def test_blocked_names(host: str) -> None:
    assert blocked_name(host) is not None


@pytest.mark.parametrize(
    "host",
    ["example.com", "localhost.example.com", "internal.example.com", "mylocal", "receiver"],
)
def test_names_that_are_not_blocked(host: str) -> None:
    assert blocked_name(host) is None


# -- robustness -------------------------------------------------------------------------


@given(st.text(max_size=80))
def test_any_text_gives_a_result_never_an_exception(text: str) -> None:
    for url in (text, "http://" + text, "https://" + text + "/"):
        result = parse_endpoint_url(url)
        if isinstance(result, UrlProblem):
            assert result.rule in URL_RULES
        else:
            assert result.url.isascii()
            assert result.path_and_query.startswith("/")
            assert parse_endpoint_url(result.url) == result  # normalisation is stable


_HOST_CHARS = "0123456789abcdefxX.。．①②⑦１２７"


@given(st.text(alphabet=_HOST_CHARS, min_size=1, max_size=20))
def test_a_host_kept_as_a_name_is_never_an_ipv4_literal_to_the_resolver(host: str) -> None:
    result = parse_endpoint_url(
        f"http://{host}/", policy=AddressPolicy(parse_allowed_networks("0.0.0.0/0"))
    )
    if isinstance(result, ParsedUrl) and not result.host_is_ip:
        assert _glibc(result.host) is None
        assert _glibc(result.host.removesuffix(".")) is None
