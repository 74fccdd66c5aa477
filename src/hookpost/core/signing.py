"""Standard Webhooks signing: v1 (HMAC-SHA256) and v1a (Ed25519) entries.

Owns secret formats (whsec_, whsk_, whpk_), signed content and the signature header; pure.
Verification is the receiver library's (receiver/, `hookpost_receiver`), the one verifier our
users run; tests/test_signing.py checks this signer against it and the published vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from hookpost.core.errors import Problem, RuleBroken

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

# Key-kind prefixes, not secrets.
SYMMETRIC_PREFIX = "whsec_"
ASYMMETRIC_SECRET_PREFIX = "whsk_"  # noqa: S105
ASYMMETRIC_PUBLIC_PREFIX = "whpk_"
ENDPOINT_KEY_MIN_BYTES = 24
ENDPOINT_KEY_MAX_BYTES = 75

_ED25519_KEY_LEN = 32
# Secrets in use at once are few (endpoints x rotation overlap); the cap bounds memory.
_KEY_CACHE_SIZE = 4096


class SecretError(RuleBroken):
    """A signing secret or key is malformed (empty, not base64, wrong length or kind).

    A ValueError whose `problem` is a message id with parameters (core/wording.py words it),
    so an edge can answer a caller's bad secret in the caller's language."""


@dataclass(frozen=True, slots=True)
class _Key:
    version: str
    mac: hmac.HMAC | None = None
    private: Ed25519PrivateKey | None = None
    public: Ed25519PublicKey | None = None


def _b64decode(text: str) -> bytes:
    """Strict standard base64 that tolerates missing padding (as the Python reference does)."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except ValueError as exc:  # binascii.Error, and non-ASCII input
        raise SecretError(Problem.of("secret_not_base64")) from exc


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def decode_secret(secret: str) -> bytes:
    """Raw HMAC key bytes of a `whsec_`-prefixed or unprefixed base64 secret."""
    if secret.startswith((ASYMMETRIC_SECRET_PREFIX, ASYMMETRIC_PUBLIC_PREFIX)):
        raise SecretError(Problem.of("secret_not_symmetric"))
    encoded = secret.removeprefix(SYMMETRIC_PREFIX)
    if not encoded:
        raise SecretError(Problem.of("secret_empty"))
    raw = _b64decode(encoded)
    if not raw:
        raise SecretError(Problem.of("secret_empty"))
    return raw


def validate_endpoint_secret(secret: str) -> str:
    """The normalised `whsec_` form of a caller-chosen endpoint secret of 24 to 75 bytes."""
    raw = decode_secret(secret)
    if not ENDPOINT_KEY_MIN_BYTES <= len(raw) <= ENDPOINT_KEY_MAX_BYTES:
        raise SecretError(
            Problem.of(
                "secret_length",
                min=ENDPOINT_KEY_MIN_BYTES,
                max=ENDPOINT_KEY_MAX_BYTES,
                length=len(raw),
            )
        )
    return SYMMETRIC_PREFIX + _b64encode(raw)


def generate_secret(entropy: bytes) -> str:
    """A `whsec_` secret from caller-supplied random bytes (24 is what Svix generates)."""
    if not ENDPOINT_KEY_MIN_BYTES <= len(entropy) <= ENDPOINT_KEY_MAX_BYTES:
        raise SecretError(
            Problem.of(
                "secret_entropy_length", min=ENDPOINT_KEY_MIN_BYTES, max=ENDPOINT_KEY_MAX_BYTES
            )
        )
    return SYMMETRIC_PREFIX + _b64encode(entropy)


def generate_ed25519_secret(seed: bytes) -> str:
    """A `whsk_` secret: base64 of the 32-byte seed then the 32-byte public key (Svix layout)."""
    if len(seed) != _ED25519_KEY_LEN:
        raise SecretError(Problem.of("ed25519_seed_length"))
    private = _ed25519_private(seed)
    return ASYMMETRIC_SECRET_PREFIX + _b64encode(seed + private.public_key().public_bytes_raw())


def public_key_of(secret: str) -> str:
    """The `whpk_` public key that verifies v1a signatures made with a `whsk_` secret."""
    if not secret.startswith(ASYMMETRIC_SECRET_PREFIX):
        raise SecretError(Problem.of("secret_has_no_public_key"))
    key = _key(secret)
    assert key.public is not None
    return ASYMMETRIC_PUBLIC_PREFIX + _b64encode(key.public.public_bytes_raw())


def signature_version(secret: str) -> str:
    """The entry version a secret signs or verifies (`v1` or `v1a`); validates the secret."""
    return _key(secret).version


def _ed25519_private(seed: bytes) -> Ed25519PrivateKey:
    # Imported here, not at module top: core is stdlib-only and v1a is the one exception,
    # so deployments that use only v1 never load `cryptography`.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PrivateKey,
    )

    return Ed25519PrivateKey.from_private_bytes(seed)


def _ed25519_public(raw: bytes) -> Ed25519PublicKey:
    # Lazy for the same reason as _ed25519_private.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PublicKey,
    )

    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SecretError(Problem.of("ed25519_public_key_invalid")) from exc


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def _key(secret: str) -> _Key:
    if secret.startswith(ASYMMETRIC_SECRET_PREFIX):
        raw = _b64decode(secret.removeprefix(ASYMMETRIC_SECRET_PREFIX))
        if len(raw) not in (_ED25519_KEY_LEN, 2 * _ED25519_KEY_LEN):
            raise SecretError(Problem.of("ed25519_secret_length"))
        private = _ed25519_private(raw[:_ED25519_KEY_LEN])
        public = private.public_key()
        if len(raw) > _ED25519_KEY_LEN and public.public_bytes_raw() != raw[_ED25519_KEY_LEN:]:
            raise SecretError(Problem.of("ed25519_halves_differ"))
        return _Key("v1a", private=private, public=public)
    if secret.startswith(ASYMMETRIC_PUBLIC_PREFIX):
        raw = _b64decode(secret.removeprefix(ASYMMETRIC_PUBLIC_PREFIX))
        if len(raw) != _ED25519_KEY_LEN:
            raise SecretError(Problem.of("ed25519_public_key_length"))
        return _Key("v1a", public=_ed25519_public(raw))
    # The keyed HMAC state is built once; copying it per message skips re-hashing the key.
    return _Key("v1", mac=hmac.new(decode_secret(secret), digestmod=hashlib.sha256))


def _keys(secrets: Sequence[str]) -> list[_Key]:
    if isinstance(secrets, str):
        raise TypeError("pass a sequence of secrets, not one string")
    if not secrets:
        raise SecretError(Problem.of("no_secrets"))
    return [_key(secret) for secret in secrets]


def _prefix(msg_id: str, timestamp: str) -> bytes:
    return f"{msg_id}.{timestamp}.".encode()


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    """`{id}.{timestamp}.{body}`: the exact bytes both v1 and v1a sign."""
    return _prefix(msg_id, str(timestamp)) + body


def _hmac(mac: hmac.HMAC, prefix: bytes, body: bytes) -> bytes:
    # Two updates instead of prefix + body: a large body is never copied.
    state = mac.copy()
    state.update(prefix)
    state.update(body)
    return state.digest()


def _entry(key: _Key, prefix: bytes, body: bytes) -> str:
    if key.mac is not None:
        return "v1," + _b64encode(_hmac(key.mac, prefix, body))
    if key.private is None:
        raise SecretError(Problem.of("public_key_cannot_sign"))
    return "v1a," + _b64encode(key.private.sign(prefix + body))


def _timestamp_text(timestamp: int) -> str:
    if timestamp < 0:
        raise ValueError("timestamp must be non-negative Unix seconds")
    return str(timestamp)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature entry: `v1,<b64>` for whsec_/unprefixed secrets, `v1a,<b64>` for whsk_."""
    return _entry(_key(secret), _prefix(msg_id, _timestamp_text(timestamp)), body)


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one entry per secret, space-separated, in order."""
    prefix = _prefix(msg_id, _timestamp_text(timestamp))
    return " ".join(_entry(key, prefix, body) for key in _keys(secrets))
