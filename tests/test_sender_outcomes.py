"""The sender's outcome rules against real misbehaving receivers on loopback aliases.

Every failure is a value: a status and/or an error class with a message, never an exception.
Receivers run on 127.0.0.2 (the only allow-listed address); traps on other addresses and
ports prove what the sender never touched.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import standardwebhooks
import svix.webhooks
from hypothesis import given
from hypothesis import strategies as st

from hookpost import __version__
from hookpost.core.addresses import AddressPolicy, parse_allowed_networks
from hookpost.core.ids import IdFactory
from hookpost.core.models import (
    Claim,
    DeliveryState,
    Endpoint,
    Message,
    SigningKey,
    TriggerType,
)
from hookpost.core.outcomes import ErrorClass, Notice, Outcome, decide
from hookpost.core.retry import RetryPolicy
from hookpost.core.signing import generate_secret
from hookpost.core.status_codes import describe
from hookpost.delivery.attempt import REDACTED, AttemptRunner, redacted, request_headers
from hookpost.delivery.sender import HTTP_CLIENTS, Sender, SenderLimits, parse_retry_after
from tests.support.dns import Hang, ScriptedLookup, nxdomain, servfail
from tests.support.receiver import Behaviour, Received, Receiver
from tests.support.tls import Certificate, self_signed
from tests.support.trap import Trap

HOST = "127.0.0.2"
POLICY = AddressPolicy(parse_allowed_networks(f"{HOST}/32"))
TIMEOUT = 1.0
CONNECT = 0.5
ROOMY = 10.0  # seconds: a budget no test means to reach (see handshake_limits)
LIMITS = SenderLimits(
    request_timeout=TIMEOUT,
    connect_timeout=CONNECT,
    max_response_bytes=64 * 1024,
    stored_response_bytes=16 * 1024,
    max_connections=256,
    https_only=False,
)
# A correctness bound (the deadline fired, and not much later), not a benchmark.
SLACK_MS = 1500
BODY = b'{"type":"invoice.paid", "data": {"amount": 12, "note": "caf\xc3\xa9 \xe2\x82\xac"}}'
PLAIN = {"content-type": "application/json"}

# A regression that hangs should fail in seconds, not at the suite-wide limit.
pytestmark = pytest.mark.timeout(20)


@pytest.fixture(autouse=True, params=HTTP_CLIENTS)
def http_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both of the sender's HTTP clients: they must behave the same."""
    monkeypatch.setattr(sys.modules[__name__], "LIMITS", replace(LIMITS, http_client=request.param))
    return str(request.param)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def lookup() -> ScriptedLookup:
    return ScriptedLookup({"receiver.test": [HOST]})


@pytest.fixture
async def sender(lookup: ScriptedLookup) -> AsyncIterator[Sender]:
    running = Sender(POLICY, LIMITS, lookup=lookup)
    yield running
    await running.close()


@pytest.fixture
def target() -> Iterator[Receiver]:
    running = Receiver(HOST).start()
    yield running
    running.stop()


@pytest.fixture
def trap() -> Iterator[Trap]:
    """An allow-listed address, so only the sender's own rules keep it untouched."""
    with Trap(HOST) as listening:
        yield listening


async def send(sender: Sender, url: str, body: bytes = BODY) -> Outcome:
    return await sender.send("POST", url, PLAIN, body, now())


def header(outcome: Outcome, name: str) -> str | None:
    """A stored response header, whatever case the client kept its name in."""
    return {k.lower(): v for k, v in outcome.response_headers.items()}.get(name)


def assert_no_response(outcome: Outcome, error: ErrorClass) -> None:
    assert outcome.error_class is error, outcome
    assert outcome.status_code == 0
    assert not outcome.succeeded
    assert outcome.error_message
    assert outcome.error_code  # what a translation of the message keys on


# -- 2xx ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_any_2xx_is_a_success(sender: Sender, target: Receiver, status: int) -> None:
    answer = b"" if status == 204 else b"thanks"
    target.answer(Behaviour(status, answer, {"x-receiver": "yes"}))

    outcome = await send(sender, f"{target.url}/hook")

    assert outcome.succeeded
    assert (outcome.status_code, outcome.error_class, outcome.error_message) == (status, None, None)
    assert outcome.response_body == answer.decode()
    assert header(outcome, "x-receiver") == "yes"
    assert outcome.duration_ms < TIMEOUT * 1000
    assert [r.path for r in target.requests] == ["/hook"]


# -- 3xx: recorded, never followed -------------------------------------------------------------


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
async def test_a_redirect_fails_and_is_never_followed(
    sender: Sender, target: Receiver, trap: Trap, status: int
) -> None:
    location = f"{trap.url}/elsewhere?x=1"
    target.answer(Behaviour(status, b"moved", {"location": location}))

    outcome = await send(sender, f"{target.url}/hook")

    assert not outcome.succeeded
    assert outcome.error_class is ErrorClass.REDIRECT
    assert outcome.status_code == status
    assert outcome.error_message is not None
    assert location in outcome.error_message
    assert describe(status).name in outcome.error_message
    assert header(outcome, "location") == location
    assert trap.hits() == []
    assert len(target.requests) == 1


async def test_a_redirect_loop_is_one_request(sender: Sender, target: Receiver) -> None:
    target.script(lambda r: Behaviour(302, b"", {"location": f"{target.url}{r.path}"}))

    outcome = await send(sender, f"{target.url}/loop")

    assert outcome.error_class is ErrorClass.REDIRECT
    assert f"{target.url}/loop" in (outcome.error_message or "")
    assert len(target.requests) == 1


async def test_a_redirect_without_location_says_so(sender: Sender, target: Receiver) -> None:
    target.answer(Behaviour(307, b""))

    outcome = await send(sender, target.url)

    assert outcome.error_class is ErrorClass.REDIRECT
    assert "(no Location)" in (outcome.error_message or "")


# -- 4xx / 5xx ---------------------------------------------------------------------------------

FAILURE_STATUSES = [400, 401, 403, 404, 405, 408, 409, 410, 413, 418, 422, 429, 444, 451, 499]
FAILURE_STATUSES += [500, 501, 502, 503, 504, 507, 511, 599, 456, 555]


@pytest.mark.parametrize("status", FAILURE_STATUSES)
async def test_a_4xx_or_5xx_fails_with_the_status_named(
    sender: Sender, target: Receiver, status: int
) -> None:
    target.answer(Behaviour(status, b'{"error": "nope"}'))

    outcome = await send(sender, target.url)

    assert not outcome.succeeded
    assert outcome.error_class is ErrorClass.HTTP_STATUS
    assert outcome.status_code == status
    message = outcome.error_message or ""
    assert message.startswith(f"{status} {describe(status).name}: ")
    assert describe(status).explanation in message
    assert outcome.response_body == '{"error": "nope"}'


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (444, "Connection Closed Without Response"),
        (499, "Client Closed Request"),
        (599, "Network Connect Timeout Error"),
        (456, "Unknown 4xx status"),
    ],
)
async def test_non_standard_statuses_have_catalog_names(
    sender: Sender, target: Receiver, status: int, name: str
) -> None:
    target.answer(status)

    outcome = await send(sender, target.url)

    assert outcome.error_message == f"{status} {name}: {describe(status).explanation}"


async def test_410_gone_disables_the_endpoint(sender: Sender, target: Receiver) -> None:
    target.answer(Behaviour(410, b"gone"))
    attempt_at = now()

    outcome = await send(sender, target.url)
    decision = decide(
        trigger=TriggerType.SCHEDULED,
        attempts_before=0,
        outcome=outcome,
        policy=RetryPolicy(),
        now=attempt_at,
        unit_random=0.5,
        failing_since=None,
        disable_after=timedelta(days=5),
    )

    assert outcome.error_class is ErrorClass.HTTP_STATUS
    assert outcome.status_code == 410
    assert decision.disable_endpoint
    assert decision.state is DeliveryState.PAUSED
    assert Notice.ENDPOINT_DISABLED in decision.notices


# -- Retry-After -------------------------------------------------------------------------------

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
RETRY_AFTER = [
    ("120", 120.0),
    ("0", 0.0),
    (" 30 ", 30.0),
    (format_datetime(NOW + timedelta(seconds=300), usegmt=True), 300.0),
    ("Tue, 04 Mar 2025 05:16:07 GMT", 600.0),
    (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),  # in the past: now
    ("soon", None),
    ("-5", None),
    ("1.5", None),
    ("120 seconds", None),
    ("0x10", None),
    ("²", None),  # a digit to str.isdigit, not to float
    ("１２０", None),  # fullwidth digits are not HTTP delta-seconds
    ("Tue, 99 Foo 2025 99:99:99 GMT", None),
    ("Tue, 04 Mar 2025 05:16:07 -0000", None),  # no usable time zone
    ("", None),
]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("value", "expected"), RETRY_AFTER)
async def test_throttling_answers_carry_retry_after(
    sender: Sender, target: Receiver, status: int, value: str, expected: float | None
) -> None:
    target.answer(Behaviour(status, b"slow down", {"retry-after": value}))

    outcome = await sender.send("POST", target.url, PLAIN, BODY, NOW)

    assert outcome.error_class is ErrorClass.HTTP_STATUS, outcome.error_message
    assert outcome.status_code == status
    assert outcome.retry_after == expected


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or seconds >= 0


@given(st.integers(min_value=0, max_value=10**9))
def test_parse_retry_after_reads_any_delta_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW) == seconds


# -- no answer ---------------------------------------------------------------------------------


async def test_a_receiver_that_never_answers_times_out(sender: Sender, target: Receiver) -> None:
    target.answer(Behaviour(mode="hang"))

    outcome = await send(sender, target.url)

    assert_no_response(outcome, ErrorClass.TIMEOUT)
    assert outcome.timed_out
    assert TIMEOUT * 900 <= outcome.duration_ms < TIMEOUT * 1000 + SLACK_MS
    assert f"{TIMEOUT:g}s" in (outcome.error_message or "")
    assert outcome.error_code == "response_timeout"


async def test_a_listener_that_never_reads_times_out(sender: Sender, trap: Trap) -> None:
    outcome = await send(sender, trap.url)

    assert_no_response(outcome, ErrorClass.TIMEOUT)
    assert outcome.duration_ms < TIMEOUT * 1000 + SLACK_MS
    assert len(trap.hits()) == 1


async def test_a_listener_that_never_reads_a_big_body_times_out(sender: Sender, trap: Trap) -> None:
    # Socket buffers fill long before 8 MB are written: the write side is bounded too.
    outcome = await send(sender, trap.url, b"x" * 8_000_000)

    assert_no_response(outcome, ErrorClass.TIMEOUT)
    assert TIMEOUT * 900 <= outcome.duration_ms < TIMEOUT * 1000 + SLACK_MS


async def test_a_trickled_body_hits_the_total_deadline(sender: Sender, target: Receiver) -> None:
    # Each byte arrives well within any per-read timeout; only a total deadline stops it.
    target.answer(Behaviour(200, b"x" * 20, mode="trickle"))

    outcome = await send(sender, target.url)

    assert_no_response(outcome, ErrorClass.TIMEOUT)
    assert TIMEOUT * 900 <= outcome.duration_ms < TIMEOUT * 1000 + SLACK_MS


def closed_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def test_a_closed_port_is_refused(sender: Sender) -> None:
    port = closed_port(HOST)

    outcome = await send(sender, f"http://{HOST}:{port}/hook")

    assert_no_response(outcome, ErrorClass.REFUSED)
    assert f"{HOST}:{port}" in (outcome.error_message or "")
    assert outcome.error_code == "connection_refused"


def raw(data: bytes, *, hold: bool = False) -> Behaviour:
    return Behaviour(0, data, mode="raw_hold" if hold else "raw")


OK_HEAD = b"HTTP/1.1 200 OK\r\n"
BROKEN = [
    pytest.param(Behaviour(mode="reset"), ErrorClass.RESET, id="reset"),
    pytest.param(Behaviour(mode="close"), ErrorClass.DISCONNECTED, id="close"),
    pytest.param(raw(b""), ErrorClass.DISCONNECTED, id="close-silently"),
    pytest.param(Behaviour(mode="garbage"), ErrorClass.INVALID_RESPONSE, id="garbage"),
    pytest.param(raw(b"hello there\n"), ErrorClass.INVALID_RESPONSE, id="http-0.9"),
    pytest.param(raw(b"HTTP/1.1 99 Low\r\n\r\n"), ErrorClass.INVALID_RESPONSE, id="status-99"),
    pytest.param(raw(b"HTTP/1.1 1000 X\r\n\r\n"), ErrorClass.INVALID_RESPONSE, id="status-1000"),
    pytest.param(raw(b"HTTP/1.1 abc X\r\n\r\n"), ErrorClass.INVALID_RESPONSE, id="status-abc"),
    pytest.param(
        raw(OK_HEAD + b"x-big: " + b"a" * 1_000_000 + b"\r\n\r\n"),
        ErrorClass.INVALID_RESPONSE,
        id="1MB-header",
    ),
    pytest.param(
        raw(OK_HEAD + b"".join(b"x-h%d: v\r\n" % i for i in range(5000)) + b"\r\n"),
        ErrorClass.INVALID_RESPONSE,
        id="5000-headers",
    ),
    pytest.param(
        raw(
            OK_HEAD
            + b"content-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        ),
        ErrorClass.INVALID_RESPONSE,
        id="length-and-chunked",
    ),
    pytest.param(
        raw(OK_HEAD + b"content-length: 3\r\ncontent-length: 4\r\n\r\nabcd"),
        ErrorClass.INVALID_RESPONSE,
        id="duplicate-length",
    ),
    pytest.param(
        raw(OK_HEAD + b"content-length: 100\r\n\r\nabc"),
        ErrorClass.INVALID_RESPONSE,
        id="short-body-then-close",
    ),
    pytest.param(
        raw(OK_HEAD + b"content-length: 100\r\n\r\nabc", hold=True),
        ErrorClass.TIMEOUT,
        id="short-body-then-silence",
    ),
    pytest.param(
        raw(OK_HEAD + b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n", hold=True),
        ErrorClass.TIMEOUT,
        id="unterminated-chunks",
    ),
    pytest.param(
        raw(b"HTTP/1.1 100 Continue\r\n\r\n" * 5, hold=True),
        ErrorClass.TIMEOUT,
        id="interim-only",
    ),
]


@pytest.mark.parametrize(("behaviour", "error"), BROKEN)
async def test_a_broken_answer_becomes_an_error_class(
    sender: Sender, target: Receiver, behaviour: Behaviour, error: ErrorClass
) -> None:
    target.answer(behaviour)

    outcome = await send(sender, target.url)

    assert_no_response(outcome, error)
    assert outcome.duration_ms < TIMEOUT * 1000 + SLACK_MS
    assert len(target.requests) == 1
    # The sender stays usable after any of these.
    target.answer(Behaviour(200, b"fine"))
    assert (await send(sender, target.url)).succeeded


async def test_interim_1xx_answers_are_skipped_for_the_final_one(
    sender: Sender, target: Receiver
) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" * 50 + b"HTTP/1.1 102 Processing\r\n\r\n" * 50
    target.answer(raw(interim + b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"))

    outcome = await send(sender, target.url)

    assert (outcome.status_code, outcome.error_class, outcome.response_body) == (201, None, "ok")


# -- big, endless and compressed answers -------------------------------------------------------


@pytest.mark.parametrize("status", [200, 500])
async def test_an_endless_body_is_cut_at_the_cap(
    sender: Sender, target: Receiver, status: int
) -> None:
    pattern = b"0123456789abcdef"
    target.answer(Behaviour(status, pattern, mode="endless"))

    outcome = await send(sender, target.url)

    # Returning at all proves reading stopped; a status proves it was not the deadline.
    assert outcome.status_code == status
    assert outcome.succeeded is (status == 200)
    assert outcome.error_class is (None if status == 200 else ErrorClass.HTTP_STATUS)
    assert outcome.response_body == (pattern * 1024).decode()  # 16 KiB stored
    assert len(outcome.response_body) == LIMITS.stored_response_bytes


async def test_a_gzip_answer_is_stored_as_sent_not_inflated(
    sender: Sender, target: Receiver
) -> None:
    inflated = b'{"ok": true}' + b" " * 10_000_000  # 10 MB behind about 10 KB
    deflated = gzip.compress(inflated)
    target.answer(Behaviour(200, deflated, {"content-encoding": "gzip"}))

    outcome = await send(sender, target.url)

    assert outcome.succeeded
    assert header(outcome, "content-encoding") == "gzip"
    stored = deflated[: LIMITS.stored_response_bytes].decode("utf-8", errors="replace")
    assert outcome.response_body == stored
    assert '{"ok": true}' not in outcome.response_body
    assert "accept-encoding" not in target.requests[0].headers


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_target(tmp_path: Path) -> Iterator[tuple[Receiver, Certificate]]:
    certificate = self_signed(tmp_path, names=("receiver.test",), addresses=(HOST,))
    running = Receiver(HOST, tls=certificate.server_context()).start()
    yield running, certificate
    running.stop()


def handshake_limits() -> SenderLimits:
    """LIMITS (of the client under test) with room for a whole TLS handshake: the tests that
    expect a certificate to be refused must see the handshake end, not the 0.5 s connect
    budget run out on a loaded machine (it did once, with aiohttp, in the full suite)."""
    return replace(LIMITS, connect_timeout=ROOMY, request_timeout=ROOMY)


@pytest.mark.parametrize("host", [HOST, "receiver.test"])
async def test_a_self_signed_certificate_is_refused(
    lookup: ScriptedLookup, tls_target: tuple[Receiver, Certificate], host: str
) -> None:
    receiver, _ = tls_target
    sender = Sender(POLICY, handshake_limits(), lookup=lookup)
    try:
        outcome = await send(sender, f"https://{host}:{receiver.port}/hook")
    finally:
        await sender.close()

    assert_no_response(outcome, ErrorClass.TLS)
    message = outcome.error_message or ""
    assert message.startswith("TLS failed")
    assert "certificate verify failed" in message
    assert "self-signed certificate" in message or "self signed certificate" in message
    assert receiver.requests == []


async def test_tls_verifies_the_endpoint_name_on_the_pinned_address(
    lookup: ScriptedLookup, tls_target: tuple[Receiver, Certificate]
) -> None:
    """Trusting the certificate is all it takes for the right name; the wrong name still fails:
    the connection goes to the vetted IP, while SNI and the certificate check use the name."""
    receiver, certificate = tls_target
    lookup.set("other.test", [HOST])
    context = certificate.client_context()
    sender = Sender(POLICY, handshake_limits(), lookup=lookup, ssl_context=context)
    try:
        right = await send(sender, f"https://receiver.test:{receiver.port}/hook")
        wrong = await send(sender, f"https://other.test:{receiver.port}/hook")
    finally:
        await sender.close()

    assert right.succeeded, right.error_message
    assert receiver.requests[0].headers["host"] == f"receiver.test:{receiver.port}"
    assert_no_response(wrong, ErrorClass.TLS)
    assert "other.test" in (wrong.error_message or "")
    assert len(receiver.requests) == 1


async def test_an_expired_certificate_is_refused_even_when_trusted(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path, addresses=(HOST,), expired=True)
    receiver = Receiver(HOST, tls=certificate.server_context()).start()
    sender = Sender(POLICY, handshake_limits(), ssl_context=certificate.client_context())
    try:
        outcome = await send(sender, f"https://{HOST}:{receiver.port}/hook")
    finally:
        await sender.close()
        receiver.stop()

    assert_no_response(outcome, ErrorClass.TLS)
    assert "certificate has expired" in (outcome.error_message or "")
    assert receiver.requests == []


async def test_a_stalled_tls_handshake_is_bounded_by_the_connect_timeout(
    sender: Sender, trap: Trap
) -> None:
    outcome = await send(sender, f"https://{HOST}:{trap.port}/hook")

    assert_no_response(outcome, ErrorClass.TIMEOUT)
    assert CONNECT * 900 <= outcome.duration_ms < CONNECT * 1000 + SLACK_MS
    assert f"connecting took longer than {CONNECT:g}s" in (outcome.error_message or "")


async def test_plain_http_to_a_tls_port_is_not_a_success(
    sender: Sender, tls_target: tuple[Receiver, Certificate]
) -> None:
    receiver, _ = tls_target

    outcome = await send(sender, f"http://{HOST}:{receiver.port}/hook")

    assert not outcome.succeeded
    assert outcome.error_class is not None
    assert receiver.requests == []


# -- DNS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [nxdomain("gone.test"), servfail("gone.test"), []],
    ids=["nxdomain", "servfail", "no-addresses"],
)
async def test_a_name_that_does_not_resolve_is_a_dns_error(
    sender: Sender, lookup: ScriptedLookup, answer: list[str] | BaseException
) -> None:
    lookup.set("gone.test", answer)

    outcome = await send(sender, "http://gone.test/hook")

    assert_no_response(outcome, ErrorClass.DNS)
    assert "gone.test" in (outcome.error_message or "")
    assert lookup.count("gone.test") == 1


async def test_a_slow_resolver_is_a_dns_error_within_the_budget(
    sender: Sender, lookup: ScriptedLookup
) -> None:
    lookup.set("slow.test", Hang())

    outcome = await send(sender, "http://slow.test/hook")

    assert_no_response(outcome, ErrorClass.DNS)
    assert f"{CONNECT:g}s" in (outcome.error_message or "")
    assert CONNECT * 900 <= outcome.duration_ms < CONNECT * 1000 + SLACK_MS
    assert lookup.count("slow.test") == 1


# -- the request itself ------------------------------------------------------------------------

SECRET = generate_secret(bytes(range(24)))
CUSTOM = {"X-Tenant": "acme", "Authorization": "Bearer s3cret", "X-Api-Key": "k-123"}


def claim_for(url: str, method: str, payload: bytes, at: datetime) -> Claim:
    endpoint = Endpoint(
        id="ep_1",
        org_id="org_1",
        app_id="app_1",
        uid=None,
        url=url,
        method=method,
        description="",
        disabled=False,
        event_types=None,
        channels=None,
        throttle_rate=None,
        metadata={},
        headers=dict(CUSTOM),
        keys=(SigningKey(SECRET, at - timedelta(days=1)),),
        created_at=at,
        updated_at=at,
    )
    message = Message(
        id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        org_id="org_1",
        app_id="app_1",
        event_type="invoice.paid",
        event_id=None,
        channels=None,
        tags=None,
        payload=payload,
        created_at=at,
    )
    return Claim(
        delivery_id="dlv_1",
        token="tok",
        lease_until=at + timedelta(minutes=1),
        trigger=TriggerType.SCHEDULED,
        attempts=0,
        message=message,
        endpoint=endpoint,
        app_uid=None,
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_the_request_is_exactly_what_was_signed(
    sender: Sender, target: Receiver, method: str
) -> None:
    at = now()
    claim = claim_for(f"{target.url}/in?a=1", method, BODY, at)
    headers = request_headers(claim, at)

    outcome = await sender.send(method, claim.endpoint.url, headers, BODY, at)

    assert outcome.succeeded, outcome.error_message
    (got,) = target.requests
    assert (got.method, got.path, got.body) == (method, "/in?a=1", BODY)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == f"hookpost/{__version__}"
    assert got.headers["content-length"] == str(len(BODY))
    assert got.headers["host"] == f"{HOST}:{target.port}"
    assert "accept-encoding" not in got.headers
    for name, value in CUSTOM.items():
        assert got.headers[name.lower()] == value
    assert_signatures_verify(got)
    # Nothing undocumented rides along: no proxy, tracing or internal headers.
    expected = {"host", "accept", "content-type", "content-length", "user-agent"}
    expected |= {f"{p}-{n}" for p in ("webhook", "svix") for n in ("id", "timestamp", "signature")}
    expected |= {n.lower() for n in CUSTOM}
    assert set(got.headers) == expected


def assert_signatures_verify(got: Received) -> None:
    webhook_headers = {k: v for k, v in got.headers.items() if k.startswith("webhook-")}
    svix_headers = {k: v for k, v in got.headers.items() if k.startswith("svix-")}
    assert len(webhook_headers) == len(svix_headers) == 3
    assert webhook_headers["webhook-id"] == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    parsed = standardwebhooks.Webhook(SECRET).verify(got.body, webhook_headers)
    assert parsed == json.loads(BODY)
    svix.webhooks.Webhook(SECRET).verify(got.body, svix_headers)  # raises when wrong
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(got.body + b" ", webhook_headers)


async def test_stored_request_headers_hide_credentials(target: Receiver) -> None:
    at = now()
    headers = request_headers(claim_for(target.url, "POST", BODY, at), at)

    stored = redacted(headers)

    assert stored["Authorization"] == REDACTED
    assert stored["X-Api-Key"] == REDACTED
    assert stored["X-Tenant"] == "acme"
    assert stored["webhook-id"] == headers["webhook-id"]
    assert "s3cret" not in json.dumps(stored)
    assert headers["Authorization"] == "Bearer s3cret"  # what is sent is untouched


async def test_an_attempt_records_redacted_headers_but_sends_the_real_ones(
    sender: Sender, target: Receiver
) -> None:
    at = now()
    claim = claim_for(f"{target.url}/in", "POST", BODY, at)
    runner = AttemptRunner(
        sender, RetryPolicy(), now, disable_after=timedelta(days=5), ids=IdFactory(now, os.urandom)
    )

    record = await runner.run(claim)

    assert record.decision.state is DeliveryState.SUCCEEDED
    stored = record.outcome.request_headers
    assert stored["Authorization"] == REDACTED
    assert stored["X-Api-Key"] == REDACTED
    assert stored["X-Tenant"] == "acme"
    assert stored["webhook-signature"].startswith("v1,")
    assert "s3cret" not in json.dumps(stored)
    (got,) = target.requests
    assert got.headers["authorization"] == "Bearer s3cret"
    assert got.headers["x-api-key"] == "k-123"
    assert_signatures_verify(got)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"])
async def test_proxy_variables_are_ignored(
    monkeypatch: pytest.MonkeyPatch, target: Receiver, variable: str
) -> None:
    with Trap("127.0.0.1") as proxy:
        monkeypatch.setenv(variable, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        sender = Sender(POLICY, LIMITS, lookup=ScriptedLookup())
        try:
            outcome = await send(sender, f"{target.url}/hook")
        finally:
            await sender.close()

        assert outcome.succeeded, outcome.error_message
        assert proxy.hits() == []
    assert [r.path for r in target.requests] == ["/hook"]
    assert "proxy-authorization" not in target.requests[0].headers
