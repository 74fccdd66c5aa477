"""Verify, parse and de-duplicate webhooks from hookpost or any Standard Webhooks sender.

Standard library only; v1a (Ed25519) loads the optional `cryptography` when a key needs it.
"""

from hookpost_receiver.dedup import Deduplicator, MemorySeenStore, SeenStore
from hookpost_receiver.errors import (
    Ed25519Unavailable,
    InvalidPayload,
    InvalidTimestamp,
    MissingHeaders,
    NoMatchingSignature,
    SecretError,
    TimestampTooNew,
    TimestampTooOld,
    WebhookVerificationError,
)
from hookpost_receiver.webhook import Webhook

__all__ = [
    "Deduplicator",
    "Ed25519Unavailable",
    "InvalidPayload",
    "InvalidTimestamp",
    "MemorySeenStore",
    "MissingHeaders",
    "NoMatchingSignature",
    "SecretError",
    "SeenStore",
    "TimestampTooNew",
    "TimestampTooOld",
    "Webhook",
    "WebhookVerificationError",
]
__version__ = "0.1.0"
