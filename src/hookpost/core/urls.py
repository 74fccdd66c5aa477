"""Endpoint URL rules: what a customer may register as a webhook destination.

Pure: our own strict parser (not urllib), the stdlib IDNA codec, IP spellings read as inet_aton.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import quote

from hookpost.core.addresses import AddressPolicy, Verdict
from hookpost.core.errors import Problem

# The machine names UrlProblem.rule can take.
URL_RULES = frozenset(
    {
        "length",
        "characters",
        "scheme",
        "host",
        "port",
        "credentials",
        "fragment",
        "blocked_address",
        "blocked_name",
    }
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_DEFAULT_POLICY = AddressPolicy()
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
# WHATWG's "ends in a number": such a host must be a valid IPv4 literal, or it is refused,
# because resolvers disagree on what it means (glibc sends it to DNS, browsers to an IP).
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_MAX_HOST = 253
# Printable ASCII minus what may not appear raw in a request target; "%" stays, so the
# customer's own escapes are sent as written.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>\\^`{|}')
_DIGITS = {
    8: frozenset("01234567"),
    10: frozenset("0123456789"),
    16: frozenset("0123456789abcdefABCDEF"),
}

_LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
)  # the last two are Debian's /etc/hosts names for ::1
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "instance-data"})
# Suffixes that can never be delegated in public DNS (ICANN's .internal, mDNS .local,
# RFC 8375's home.arpa) or that reach cluster services through search domains (.svc).
_INTERNAL_SUFFIXES = ("internal", "local", "localdomain", "home.arpa", "svc")


@dataclass(frozen=True)
class UrlProblem:
    """Why a URL was refused: a machine `rule` (the 422's `type` is `url.<rule>`) and the
    `problem` naming it for the customer, as a message id and its parameters."""

    rule: str
    problem: Problem
    verdict: Verdict | None = None  # for "blocked_address": which address rule refused it

    @property
    def message(self) -> str:
        """The English (core/wording.py), which starts with the rule's machine name."""
        return str(self.problem)


@dataclass(frozen=True)
class ParsedUrl:
    """A URL that passed every rule, in the exact form the sender must use.

    `host` is what to resolve (or connect to, when `host_is_ip`); never re-parse `url` with
    another parser for that, or its reading of the host may differ from this one.
    """

    url: str
    scheme: str
    host: str
    port: int
    path_and_query: str
    host_is_ip: bool
    host_header: str


def parse_endpoint_url(
    url: str,
    *,
    https_only: bool = False,
    max_length: int = 2048,
    policy: AddressPolicy = _DEFAULT_POLICY,
    own_host_names: Collection[str] = (),
) -> ParsedUrl | UrlProblem:
    """Check a customer's endpoint URL; IP-literal hosts are also checked against `policy`.

    Names pass here (DNS may change later); the sender must check what they resolve to.
    `own_host_names` is the machine's own host name(s), which the core cannot look up.
    """
    shape = _split_url(url, https_only=https_only, max_length=max_length)
    if isinstance(shape, UrlProblem):
        return shape
    scheme, authority, tail = shape
    split = _split_authority(authority)
    if isinstance(split, UrlProblem):
        return split
    raw_host, port = split
    normalised = _normalise_host(raw_host)
    if isinstance(normalised, UrlProblem):
        return normalised
    host, host_is_ip = normalised
    refusal = _refusal(host, host_is_ip, policy, own_host_names)
    if refusal is not None:
        return refusal
    default_port = _DEFAULT_PORTS[scheme]
    port = default_port if port is None else port
    netloc = f"[{host}]" if ":" in host else host
    host_header = netloc if port == default_port else f"{netloc}:{port}"
    path_and_query = quote(tail if tail.startswith("/") else "/" + tail, safe=_TARGET_SAFE)
    return ParsedUrl(
        url=f"{scheme}://{host_header}{path_and_query}",
        scheme=scheme,
        host=host,
        port=port,
        path_and_query=path_and_query,
        host_is_ip=host_is_ip,
        host_header=host_header,
    )


def _split_url(url: str, *, https_only: bool, max_length: int) -> tuple[str, str, str] | UrlProblem:
    """(scheme, authority, path-and-query) once the whole-URL rules have passed."""
    if len(url) > max_length:
        return UrlProblem("length", Problem.of("url_too_long", length=len(url), limit=max_length))
    bad = _bad_character(url)
    if bad is not None:
        return UrlProblem("characters", bad)
    match = _SCHEME.match(url)
    if match is None:
        return UrlProblem("scheme", Problem.of("url_scheme_missing"))
    scheme = match[1].lower()
    if scheme not in _DEFAULT_PORTS:
        return UrlProblem("scheme", Problem.of("url_scheme_unsupported", scheme=scheme))
    if https_only and scheme != "https":
        return UrlProblem("scheme", Problem.of("url_https_only"))
    rest = url[match.end() :]
    if not rest.startswith("//"):
        return UrlProblem("host", Problem.of("url_host_missing"))
    if "#" in rest:
        # Never sent to the server, and "#@" is a classic way to confuse URL parsers.
        return UrlProblem("fragment", Problem.of("url_fragment"))
    rest = rest[2:]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    return scheme, rest[:end], rest[end:]


def _refusal(
    host: str, host_is_ip: bool, policy: AddressPolicy, own_host_names: Collection[str]
) -> UrlProblem | None:
    if host_is_ip:
        verdict = policy.check(host)
        if verdict.allowed:
            return None
        blocked = Problem.of(
            "url_blocked_address", rule=str(verdict.rule), explanation=verdict.explanation
        )
        return UrlProblem("blocked_address", blocked, verdict)
    reason = blocked_name(host, own_host_names=own_host_names)
    if reason is None:
        return None
    return UrlProblem("blocked_name", reason)


def _bad_character(url: str) -> Problem | None:
    for char in url:
        if char == "\\":
            # urllib reads "http://a\@b/" as host b, browsers as host a: refuse both.
            return Problem.of("url_backslash")
        # Controls, format characters (zero-width, soft hyphen: IDNA would silently drop
        # them), separators (every kind of space), surrogates, private use, unassigned.
        if unicodedata.category(char)[0] in "CZ":
            return Problem.of("url_control_character", codepoint=f"U+{ord(char):04X}")
    return None


def _split_authority(authority: str) -> tuple[str, int | None] | UrlProblem:
    if "@" in authority:
        # Refused rather than turned into basic auth; also ends "a:80@b" / "b@a" confusion.
        return UrlProblem("credentials", Problem.of("url_credentials"))
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            return UrlProblem("host", Problem.of("url_ipv6_unclosed"))
        host, after = authority[: close + 1], authority[close + 1 :]
        if after and not after.startswith(":"):
            return UrlProblem("host", Problem.of("url_ipv6_trailing_text"))
        port_text = after[1:] if after else None
    else:
        if authority.count(":") > 1:
            return UrlProblem("host", Problem.of("url_ipv6_unbracketed"))
        host, colon, port_text_raw = authority.partition(":")
        port_text = port_text_raw if colon else None
    if port_text is None:
        return host, None
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        return UrlProblem("port", Problem.of("url_port_invalid", port=port_text))
    return host, int(port_text)


def _normalise_host(host: str) -> tuple[str, bool] | UrlProblem:
    """The host as the sender will use it (a canonical IP literal or a lower-case ASCII
    name), and whether it is an IP literal."""
    if host in ("", "[]"):
        return UrlProblem("host", Problem.of("url_host_empty"))
    if host.startswith("["):
        return _ipv6_host(host[1:-1])
    if "%" in host:
        return UrlProblem("host", Problem.of("url_host_percent"))
    if len(host) > _MAX_HOST + 1:
        return UrlProblem("host", Problem.of("url_host_too_long", limit=_MAX_HOST))
    try:
        # IDNA (with nameprep) is what Python's resolver applies; it turns "①②⑦" into "127"
        # and "。" into ".", so encoding first makes such spellings visible below.
        name = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return UrlProblem("host", Problem.of("url_host_idna", host=host))
    name = name.lower()
    literal = None if ":" in name else literal_address(name)
    if literal is not None:
        return literal, True
    problem = _name_problem(name)
    return (name, False) if problem is None else problem


def _ipv6_host(inner: str) -> tuple[str, bool] | UrlProblem:
    if "%" in inner:
        return UrlProblem("host", Problem.of("url_ipv6_zone"))
    try:
        if not inner.isascii():
            raise ValueError(inner)
        return str(IPv6Address(inner)), True
    except ValueError:
        return UrlProblem("host", Problem.of("url_ipv6_invalid", address=inner))


def _name_problem(name: str) -> UrlProblem | None:
    bare = name.removesuffix(".")
    if len(bare) > _MAX_HOST:
        return UrlProblem("host", Problem.of("url_host_too_long", limit=_MAX_HOST))
    labels = bare.split(".")
    # Also catches what IDNA mapped from fullwidth forms: ":", "@", "/", "%".
    if not all(_LABEL.fullmatch(label) for label in labels):
        return UrlProblem("host", Problem.of("url_host_invalid", host=name))
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return UrlProblem("host", Problem.of("url_host_numeric", host=name))
    return None


def literal_address(host: str) -> str | None:
    """The canonical address if `host` is an IP literal in any spelling a resolver accepts.

    IPv4 follows glibc's inet_aton: 1 to 4 parts, each decimal, octal (leading 0) or hex
    (0x), the last part filling the remaining bytes ("127.1", "0x7f000001", "0"). Unlike
    glibc (which then asks DNS) a single trailing dot is accepted too, as browsers do.
    IPv6 may be bracketed; a zone id is dropped. Non-ASCII input must be IDNA-encoded first.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not text.isascii():
        return None
    if ":" in text:
        try:
            return str(IPv6Address(text.partition("%")[0]))
        except ValueError:
            return None
    value = _inet_aton(text.removesuffix("."))
    return None if value is None else str(IPv4Address(value))


def _inet_aton(text: str) -> int | None:
    parts = text.split(".")
    if len(parts) > 4:
        return None
    numbers = [_inet_number(part) for part in parts]
    if any(n is None for n in numbers):
        return None
    *head, last = [n for n in numbers if n is not None]
    if any(n > 0xFF for n in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return value


def _inet_number(part: str) -> int | None:
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif part.startswith("0"):
        digits, base = part, 8
    else:
        digits, base = part, 10
    if not digits or not _DIGITS[base].issuperset(digits):
        return None
    if len(digits.lstrip("0")) > 11:
        return None  # too big for any part, and int() refuses very long decimal strings
    return int(digits, base)


def blocked_name(host: str, *, own_host_names: Collection[str] = ()) -> Problem | None:
    """Why a host name is refused outright (defence in depth before resolution), or None.

    Single-label names other than "metadata" are not refused: self-hosted setups reach
    receivers such as "receiver" through an allow-listed network, and the address check
    still applies to whatever such a name resolves to.
    """
    try:
        name = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return None  # not a name the resolver would accept either
    name = name.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return Problem.of("url_name_loopback", host=name)
    if name in _METADATA_NAMES:
        return Problem.of("url_name_metadata", host=name)
    for suffix in _INTERNAL_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return Problem.of("url_name_internal", host=name, suffix=suffix)
    if name in {own.lower().rstrip(".") for own in own_host_names}:
        return Problem.of("url_name_own_host", host=name)
    return None
