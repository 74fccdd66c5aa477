"""Standard Webhooks signing: published vectors, malformed input, rotation and interop.

Vectors are a copy of the project's shared Standard Webhooks vectors (tests/vectors), kept in
the repo so a clean clone needs nothing beside it; plus cases from the research docs.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
import svix
from hypothesis import given
from hypothesis import strategies as st

from hookpost.core.signing import (
    SecretError,
    decode_secret,
    generate_ed25519_secret,
    generate_secret,
    public_key_of,
    sign,
    signature_header,
    signature_version,
    signed_content,
    validate_endpoint_secret,
)
from hookpost_receiver.errors import SecretError as ReceiverSecretError
from hookpost_receiver.errors import WebhookVerificationError as VerificationError
from hookpost_receiver.signatures import (
    DEFAULT_TOLERANCE,
    check_signature,
    check_timestamp,
    decode_key,
)

VECTORS_PATH = Path(__file__).resolve().parent / "vectors" / "standard-webhooks.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
BY_NAME = {v["name"]: v for v in VECTORS["valid"] + VECTORS["asymmetric"]}
S1 = BY_NAME["S1"]
A1 = BY_NAME["A1"]
S1_BODY = S1["body"].encode()
S1_TS = int(S1["timestamp"])

# delivery-and-security.md §1.7 (L1-L3) and svix-api.md §10.2 (secret bytes 0x00..0x17).
LARGE = [
    (1_048_576, "v1,txpEUxqWZJ5nteTnymUVa+7C4NHpBeXJ6CsBAW0c3/A="),
    (262_144, "v1,Mw4Pe2WgApuT7NSqnSq0PQPV9gbLdggCl9B865x5Xh0="),
    (262_143, "v1,NTItnqyWMoFhk2Bbe5V/BMdcFRWgcSQaTgqLHX7FC7c="),
]
SEQUENTIAL_SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
SEQUENTIAL_SIGNATURE = "v1,/485aUtxlie+TIScVpHggMfqOB4so2KWb7+Gf727B44="
DECOYS = [
    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
    "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
    "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=",
]
SECRET_A = generate_secret(bytes(range(24)))
SECRET_B = generate_secret(bytes(range(100, 132)))


def verify(
    secrets: list[str],
    msg_id: str,
    timestamp_header: str,
    signature: str,
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """hookpost's one verifier is its receiver library's: what hookpost signs, it verifies."""
    if not secrets:
        raise ReceiverSecretError("no secrets given")
    keys = [decode_key(secret) for secret in secrets]
    check_timestamp(timestamp_header, now=now, tolerance=tolerance)
    check_signature(keys, msg_id, timestamp_header, signature, body)


def verify_s1(header: str, *, secrets: list[str] | None = None, **kwargs: Any) -> None:
    kwargs.setdefault("now", S1_TS)
    keys = [S1["secret"]] if secrets is None else secrets
    verify(keys, S1["id"], S1["timestamp"], header, S1_BODY, **kwargs)


def raw_hmac_entry(secret: str, signed: bytes) -> str:
    """An independent v1 signer, for headers hookpost's own signer would never produce."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.digest(key, signed, "sha256")).decode()


@pytest.mark.parametrize(
    "vector", VECTORS["valid"] + VECTORS["asymmetric"], ids=lambda v: v["name"]
)
def test_valid_vectors_sign_byte_exactly(vector: dict[str, str]) -> None:
    ts, body = int(vector["timestamp"]), vector["body"].encode()
    assert sign(vector["secret"], vector["id"], ts, body) == vector["signature"]
    assert signature_header([vector["secret"]], vector["id"], ts, body) == vector["signature"]


@pytest.mark.parametrize(
    "vector", VECTORS["valid"] + VECTORS["asymmetric"], ids=lambda v: v["name"]
)
def test_valid_vectors_verify(vector: dict[str, str]) -> None:
    key = vector.get("public", vector["secret"])
    ts, body = vector["timestamp"], vector["body"].encode()
    verify([key], vector["id"], ts, vector["signature"], body, now=int(ts))


@pytest.mark.parametrize(("size", "expected"), LARGE)
def test_large_payload_vectors(size: int, expected: str) -> None:
    body = b"a" * size
    assert sign(S1["secret"], S1["id"], S1_TS, body) == expected
    verify([S1["secret"]], S1["id"], S1["timestamp"], expected, body, now=S1_TS)


def test_sequential_secret_vector() -> None:
    assert generate_secret(bytes(range(24))) == SEQUENTIAL_SECRET
    assert sign(SEQUENTIAL_SECRET, S1["id"], S1_TS, S1_BODY) == SEQUENTIAL_SIGNATURE


def test_signed_content_is_id_timestamp_body() -> None:
    assert signed_content("msg_1", 5, b'{"a": 1}') == b'msg_1.5.{"a": 1}'


def test_ed25519_secret_layout_and_public_key() -> None:
    raw = base64.b64decode(A1["secret"].removeprefix("whsk_"))
    assert generate_ed25519_secret(raw[:32]) == A1["secret"]
    assert public_key_of(A1["secret"]) == A1["public"]
    assert base64.b64decode(A1["public"].removeprefix("whpk_")) == raw[32:]
    assert signature_version(A1["secret"]) == signature_version(A1["public"]) == "v1a"
    assert signature_version(S1["secret"]) == "v1"


def test_v1a_verifies_with_secret_key_too_and_rejects_tampering() -> None:
    args = (A1["id"], A1["timestamp"])
    verify([A1["secret"]], *args, A1["signature"], A1["body"].encode(), now=S1_TS)
    with pytest.raises(VerificationError):
        verify([A1["public"]], *args, A1["signature"], b'{"test": 2432232315}', now=S1_TS)
    # An HMAC key never accepts a v1a entry, and a public key never accepts a v1 entry.
    with pytest.raises(VerificationError):
        verify([S1["secret"]], *args, A1["signature"], A1["body"].encode(), now=S1_TS)
    with pytest.raises(VerificationError):
        verify([A1["public"]], *args, S1["signature"], S1_BODY, now=S1_TS)


def test_inconsistent_or_public_only_asymmetric_keys() -> None:
    raw = base64.b64decode(A1["secret"].removeprefix("whsk_"))
    corrupted = "whsk_" + base64.b64encode(raw[:32] + bytes(32)).decode()
    with pytest.raises(SecretError):
        sign(corrupted, "msg_1", 1, b"{}")
    with pytest.raises(SecretError, match="cannot sign"):
        sign(A1["public"], "msg_1", 1, b"{}")
    with pytest.raises(SecretError):
        public_key_of(S1["secret"])
    with pytest.raises(SecretError):
        generate_ed25519_secret(b"short")


@pytest.mark.parametrize("case", VECTORS["must_fail"], ids=lambda v: v["name"])
def test_must_fail_vectors(case: dict[str, str]) -> None:
    like = BY_NAME[case["like"]]
    with pytest.raises(VerificationError):
        verify(
            [like["secret"]],
            like["id"],
            like["timestamp"],
            case["signature"],
            like["body"].encode(),
            now=int(like["timestamp"]),
        )


@pytest.mark.parametrize("case", VECTORS["must_pass_multi"], ids=lambda v: v["name"])
def test_must_pass_multi_vectors(case: dict[str, str]) -> None:
    verify_s1(case["signature"])


@pytest.mark.parametrize("position", range(len(DECOYS) + 1))
def test_valid_entry_in_any_position_among_decoys(position: int) -> None:
    entries = [*DECOYS]
    entries.insert(position, S1["signature"])
    verify_s1(" ".join(entries))


def test_decoys_only_fail() -> None:
    with pytest.raises(VerificationError, match="no matching signature"):
        verify_s1(" ".join(DECOYS))


@pytest.mark.parametrize(
    "header",
    [
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= " + S1["signature"],
        S1["signature"] + " v2,anything",
        "v1b,xyz " + S1["signature"],
        "V1,abc " + S1["signature"],
    ],
)
def test_unknown_versions_are_skipped(header: str) -> None:
    verify_s1(header)


def test_valid_signature_under_unknown_version_does_not_count() -> None:
    with pytest.raises(VerificationError):
        verify_s1(S1["signature"].replace("v1,", "v2,"))


MALFORMED = [
    "",
    " ",
    "  ",
    "\t",
    "v1",
    "v1,",
    ",",
    ",,",
    "v1,,",
    "v1,g0hM9SsE",
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==",
    "v1,!!!!",
    "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    "v1,é",
    "v1,\x00",
    "v1a,",
    "v1a,!!!!",
    "v1a,AAAA",
    "v1," + "A" * 100_000,
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n",
    "v1, g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
]


@pytest.mark.parametrize("header", MALFORMED)
def test_malformed_headers_fail_cleanly(header: str) -> None:
    with pytest.raises(VerificationError):
        verify_s1(header, secrets=[S1["secret"], A1["public"]])


@pytest.mark.parametrize("noise", ["v1", "v1,", "v1,!!!!", "", "v1a,AAAA", "\t", "v1,é"])
def test_malformed_neighbours_do_not_hide_a_valid_entry(noise: str) -> None:
    verify_s1(f"{noise} {S1['signature']}", secrets=[S1["secret"], A1["public"]])
    verify_s1(f"{S1['signature']}  {noise} ")


@pytest.mark.parametrize(
    ("offset", "passes"), [(300, True), (301, False), (-300, True), (-301, False)]
)
def test_timestamp_tolerance_boundary(offset: int, passes: bool) -> None:
    if passes:
        verify_s1(S1["signature"], now=S1_TS + offset)
        return
    expected = "too old" if offset > 0 else "too new"
    with pytest.raises(VerificationError, match=expected):
        verify_s1(S1["signature"], now=S1_TS + offset)


def test_tolerance_is_configurable() -> None:
    verify_s1(S1["signature"], now=S1_TS + 3600, tolerance=3600)
    with pytest.raises(VerificationError):
        verify_s1(S1["signature"], now=S1_TS + 11, tolerance=10)


@pytest.mark.parametrize(
    "timestamp",
    [
        "1614265330.0",
        " 1614265330",
        "1614265330 ",
        "+1614265330",
        "-1",
        "",
        "1e9",
        "0x1",
        "1_614_265_330",
        "١٦١٤٢٦٥٣٣٠",  # Arabic-Indic digits: str.isdigit() alone would accept these
        "1614265330\n",
        "9" * 5000,
    ],
)
def test_non_digit_timestamps_rejected(timestamp: str) -> None:
    # Signed over the very header text, so only the timestamp rule can reject it.
    entry = raw_hmac_entry(S1["secret"], f"{S1['id']}.{timestamp}.".encode() + S1_BODY)
    with pytest.raises(VerificationError, match="timestamp"):
        verify([S1["secret"]], S1["id"], timestamp, entry, S1_BODY, now=S1_TS)


def test_signed_content_uses_exact_timestamp_text() -> None:
    padded = "0" + S1["timestamp"]
    own = raw_hmac_entry(S1["secret"], f"{S1['id']}.{padded}.".encode() + S1_BODY)
    verify([S1["secret"]], S1["id"], padded, own, S1_BODY, now=S1_TS)
    with pytest.raises(VerificationError):
        verify([S1["secret"]], S1["id"], padded, S1["signature"], S1_BODY, now=S1_TS)
    check_timestamp(padded, now=S1_TS, tolerance=0)  # the same instant, written longer


def test_body_is_signed_as_sent_not_reserialised() -> None:
    body = b'{ "event" : "user.created",  "data": {"id": 1} }'
    header = signature_header([SECRET_A], "msg_x", S1_TS, body)
    verify([SECRET_A], "msg_x", str(S1_TS), header, body, now=S1_TS)
    for reserialised in (json.dumps(json.loads(body)), json.dumps(json.loads(body), indent=None)):
        with pytest.raises(VerificationError):
            verify([SECRET_A], "msg_x", str(S1_TS), header, reserialised.encode(), now=S1_TS)


def test_message_id_is_signed() -> None:
    with pytest.raises(VerificationError):
        verify([S1["secret"]], "msg_other", S1["timestamp"], S1["signature"], S1_BODY, now=S1_TS)
    with pytest.raises(VerificationError, match="message id"):
        verify([S1["secret"]], "msg_\udc80", S1["timestamp"], S1["signature"], S1_BODY, now=S1_TS)


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_!!!!", "whsec_abc$def", "whsec_a-_b", "a"])
def test_malformed_secrets_rejected(secret: str) -> None:
    with pytest.raises(SecretError):
        decode_secret(secret)
    with pytest.raises(SecretError):
        sign(secret, "msg_1", 1, b"{}")
    with pytest.raises(ReceiverSecretError):
        verify_s1(S1["signature"], secrets=[S1["secret"], secret])


def test_no_secrets_and_bare_string_rejected() -> None:
    with pytest.raises(ReceiverSecretError):
        verify_s1(S1["signature"], secrets=[])
    with pytest.raises(SecretError):
        signature_header([], "msg_1", 1, b"{}")
    with pytest.raises(TypeError):
        signature_header(S1["secret"], "msg_1", 1, b"{}")


@pytest.mark.parametrize(
    "unpadded", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr"]
)
@pytest.mark.parametrize("prefix", ["", "whsec_"])
def test_unpadded_secrets_accepted_like_the_python_reference(prefix: str, unpadded: str) -> None:
    key = decode_secret(prefix + unpadded)
    assert key == base64.b64decode(unpadded + "=" * (-len(unpadded) % 4))
    reference = standardwebhooks.Webhook(prefix + unpadded)
    assert key == reference._whsecret
    ts = datetime.fromtimestamp(S1_TS, tz=UTC)
    assert sign(prefix + unpadded, "msg_1", S1_TS, b"{}") == reference.sign("msg_1", ts, "{}")


def test_validate_endpoint_secret_lengths_and_normal_form() -> None:
    for size in (24, 75):
        raw = bytes(range(size))
        expected = "whsec_" + base64.b64encode(raw).decode()
        assert validate_endpoint_secret(base64.b64encode(raw).decode().rstrip("=")) == expected
        assert validate_endpoint_secret(expected) == expected
    for size in (23, 76):
        with pytest.raises(SecretError, match="24 to 75"):
            validate_endpoint_secret("whsec_" + base64.b64encode(bytes(size)).decode())
    with pytest.raises(SecretError):
        validate_endpoint_secret(A1["secret"])


def test_generate_secret() -> None:
    secret = generate_secret(b"\xff" * 24)
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 32
    assert decode_secret(secret) == b"\xff" * 24
    with pytest.raises(SecretError):
        generate_secret(b"\x00" * 8)


def test_rotation_overlap_verifies_with_old_only_and_new_only() -> None:
    header = signature_header([SECRET_B, SECRET_A], "msg_r", S1_TS, S1_BODY)
    assert header.count(" ") == 1
    assert header.split(" ")[0] == sign(SECRET_B, "msg_r", S1_TS, S1_BODY)
    for holder in ([SECRET_A], [SECRET_B]):
        verify(holder, "msg_r", str(S1_TS), header, S1_BODY, now=S1_TS)
    with pytest.raises(VerificationError):
        verify([S1["secret"]], "msg_r", str(S1_TS), header, S1_BODY, now=S1_TS)


def test_rotation_between_symmetric_and_asymmetric_keys() -> None:
    header = signature_header([A1["secret"], SECRET_A], "msg_r", S1_TS, S1_BODY)
    assert header.startswith("v1a,")
    for holder in ([A1["public"]], [SECRET_A]):
        verify(holder, "msg_r", str(S1_TS), header, S1_BODY, now=S1_TS)


def test_our_headers_verify_with_standardwebhooks_and_svix() -> None:
    now = int(time.time())  # both libraries check against the real clock
    body = b'{"type": "invoice.paid", "amount": 1}'
    header = signature_header([SECRET_B, SECRET_A], "msg_interop", now, body)
    for secret in (SECRET_A, SECRET_B):
        std_headers = {
            "webhook-id": "msg_interop",
            "webhook-timestamp": str(now),
            "webhook-signature": header,
        }
        assert standardwebhooks.Webhook(secret).verify(body, std_headers) == json.loads(body)
        svix_headers = {k.replace("webhook-", "svix-"): v for k, v in std_headers.items()}
        svix.Webhook(secret).verify(body, svix_headers)  # raises on failure; returns None
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(S1["secret"]).verify(body, std_headers)


def test_we_verify_signatures_made_by_standardwebhooks() -> None:
    when = datetime.fromtimestamp(S1_TS, tz=UTC)
    entry = standardwebhooks.Webhook(SECRET_A).sign("msg_std", when, S1["body"])
    verify([SECRET_A], "msg_std", S1["timestamp"], entry, S1_BODY, now=S1_TS)


def test_decode_is_cached() -> None:
    assert decode_secret(SECRET_A) is decode_secret(SECRET_A)


MSG_IDS = st.text(min_size=1, max_size=40)
TIMESTAMPS = st.integers(min_value=0, max_value=10**12)
KEYS = st.sampled_from([SECRET_A, SECRET_B, S1["secret"], A1["secret"]])


@given(body=st.binary(max_size=4096), msg_id=MSG_IDS, timestamp=TIMESTAMPS, secret=KEYS)
def test_property_sign_verify_round_trip(
    body: bytes, msg_id: str, timestamp: int, secret: str
) -> None:
    header = signature_header([secret], msg_id, timestamp, body)
    key = public_key_of(secret) if secret.startswith("whsk_") else secret
    verify([key], msg_id, str(timestamp), header, body, now=timestamp)


@given(body=st.binary(min_size=1, max_size=4096), data=st.data(), secret=KEYS)
def test_property_any_single_byte_change_fails(
    body: bytes, data: st.DataObject, secret: str
) -> None:
    header = signature_header([secret], "msg_prop", S1_TS, body)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    changed = bytearray(body)
    changed[index] ^= flip
    with pytest.raises(VerificationError):
        verify([secret], "msg_prop", str(S1_TS), header, bytes(changed), now=S1_TS)
