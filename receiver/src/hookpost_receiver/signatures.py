"""Standard Webhooks signatures: v1 (HMAC-SHA256, stdlib) and v1a (Ed25519, optional).

Owns secret decoding, the signed content and the matching of a signature header's entries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hookpost_receiver.errors import (
    Ed25519Unavailable,
    InvalidTimestamp,
    NoMatchingSignature,
    SecretError,
    TimestampTooNew,
    TimestampTooOld,
)

SYMMETRIC_PREFIX = "whsec_"
PRIVATE_PREFIX = "whsk_"
PUBLIC_PREFIX = "whpk_"
DEFAULT_TOLERANCE = 300

_HMAC_LEN = 32
_ED25519_KEY_LEN = 32
_ED25519_SIG_LEN = 64
# Longer is not a plausible Unix time, and int() of thousands of digits raises.
_MAX_TIMESTAMP_DIGITS = 18


@dataclass(frozen=True, slots=True)
class Key:
    """One decoded secret: an HMAC key (v1) or an Ed25519 key pair or public key (v1a)."""

    version: str
    hmac_key: bytes = b""
    private: Any = None  # cryptography's Ed25519PrivateKey, only for whsk_
    public: Any = None  # cryptography's Ed25519PublicKey, for whsk_ and whpk_


def _b64decode(text: str) -> bytes:
    # Strict standard base64 that tolerates missing padding, as the reference does.
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError as exc:  # binascii.Error, and non-ASCII input
        raise SecretError("secret is not valid standard base64") from exc


def _ed25519() -> Any:
    # Lazily imported: v1 receivers never need cryptography installed.
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415
    except ImportError as exc:
        raise Ed25519Unavailable() from exc
    return ed25519


def decode_key(secret: str) -> Key:
    """The key of a `whsec_` (or unprefixed base64) secret, a `whsk_` secret or a `whpk_` key."""
    if not isinstance(secret, str):
        raise SecretError("a secret must be a string")
    if secret.startswith(PRIVATE_PREFIX):
        raw = _b64decode(secret.removeprefix(PRIVATE_PREFIX))
        if len(raw) not in (_ED25519_KEY_LEN, 2 * _ED25519_KEY_LEN):
            raise SecretError("a whsk_ secret must hold 32 or 64 bytes")
        private = _ed25519().Ed25519PrivateKey.from_private_bytes(raw[:_ED25519_KEY_LEN])
        return Key("v1a", private=private, public=private.public_key())
    if secret.startswith(PUBLIC_PREFIX):
        raw = _b64decode(secret.removeprefix(PUBLIC_PREFIX))
        if len(raw) != _ED25519_KEY_LEN:
            raise SecretError("a whpk_ key must hold 32 bytes")
        try:
            public = _ed25519().Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise SecretError("invalid ed25519 public key") from exc
        return Key("v1a", public=public)
    raw = _b64decode(secret.removeprefix(SYMMETRIC_PREFIX))
    if not raw:
        raise SecretError("secret is empty")
    return Key("v1", hmac_key=raw)


def _content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(keys: Sequence[Key], msg_id: str, timestamp: int, body: bytes) -> str:
    """A signature header: one entry per key, space-separated (whpk_ keys cannot sign)."""
    content = _content(msg_id, str(timestamp), body)
    entries = []
    for key in keys:
        if key.version == "v1":
            mac = hmac.new(key.hmac_key, content, hashlib.sha256).digest()
            entries.append("v1," + base64.b64encode(mac).decode())
        elif key.private is not None:
            entries.append("v1a," + base64.b64encode(key.private.sign(content)).decode())
        else:
            raise SecretError("a whpk_ public key cannot sign")
    return " ".join(entries)


def check_timestamp(header: str, *, now: int, tolerance: int) -> None:
    """Raise unless `header` is ASCII digits within `tolerance` seconds of `now`."""
    if not (0 < len(header) <= _MAX_TIMESTAMP_DIGITS and header.isascii() and header.isdigit()):
        raise InvalidTimestamp("invalid timestamp header")
    timestamp = int(header)
    if timestamp < now - tolerance:
        raise TimestampTooOld("message timestamp too old")
    if timestamp > now + tolerance:
        raise TimestampTooNew("message timestamp too new")


def _decode_entry(encoded: str, length: int) -> bytes | None:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == length else None


def check_signature(
    keys: Sequence[Key], msg_id: str, timestamp_header: str, header: str, body: bytes
) -> None:
    """Pass if any entry of `header` matches any key; the exact timestamp text is signed."""
    try:
        content = _content(msg_id, timestamp_header, body)
    except UnicodeEncodeError as exc:
        raise NoMatchingSignature("invalid message id header") from exc
    macs: list[bytes] | None = None
    publics = [key.public for key in keys if key.public is not None]
    # Malformed entries and unknown versions are skipped: a valid one elsewhere must pass.
    for entry in header.split(" "):
        version, comma, encoded = entry.partition(",")
        if not comma:
            continue
        if version == "v1":
            signature = _decode_entry(encoded, _HMAC_LEN)
            if signature is None:
                continue
            if macs is None:
                macs = [
                    hmac.new(key.hmac_key, content, hashlib.sha256).digest()
                    for key in keys
                    if key.version == "v1"
                ]
            if any(hmac.compare_digest(mac, signature) for mac in macs):
                return
        elif version == "v1a" and publics:
            signature = _decode_entry(encoded, _ED25519_SIG_LEN)
            if signature is not None and any(_valid(p, signature, content) for p in publics):
                return
    raise NoMatchingSignature("no matching signature found")


def _valid(public: Any, signature: bytes, content: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415 (optional)

    try:
        public.verify(signature, content)
    except InvalidSignature:
        return False
    return True
