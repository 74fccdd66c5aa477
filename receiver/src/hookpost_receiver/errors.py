"""The errors a receiver can see: one class per reason a webhook is refused.

All verification failures share `WebhookVerificationError`; a bad secret is a `SecretError`.
"""

from __future__ import annotations


class SecretError(ValueError):
    """A signing secret or key is malformed (empty, not base64, wrong length or kind)."""


class Ed25519Unavailable(ImportError):
    """A v1a (Ed25519) key was given but the optional `cryptography` package is missing."""

    def __init__(self) -> None:
        super().__init__(
            "v1a (ed25519, whpk_/whsk_) keys need the cryptography package:"
            " pip install 'hookpost-receiver[ed25519]'"
        )


class WebhookVerificationError(Exception):
    """A webhook failed verification; the subclass and message say why."""


class MissingHeaders(WebhookVerificationError):
    """The id, timestamp or signature header is absent or empty."""


class InvalidTimestamp(WebhookVerificationError):
    """The timestamp header is not plain Unix seconds."""


class TimestampTooOld(WebhookVerificationError):
    """The timestamp is older than the tolerance: a replay or a badly delayed request."""


class TimestampTooNew(WebhookVerificationError):
    """The timestamp is further in the future than the tolerance allows."""


class NoMatchingSignature(WebhookVerificationError):
    """No signature entry matches any of the receiver's secrets."""


class InvalidPayload(WebhookVerificationError):
    """The signature is valid but the body is not JSON."""
