"""hookpost's receiver library, which lives in its own distribution: `hookpost-receiver`.

Re-exported here so `from hookpost.receiver import Webhook` keeps working for existing code.
"""

from hookpost_receiver import (
    Deduplicator,
    Ed25519Unavailable,
    InvalidPayload,
    InvalidTimestamp,
    MemorySeenStore,
    MissingHeaders,
    NoMatchingSignature,
    SecretError,
    SeenStore,
    TimestampTooNew,
    TimestampTooOld,
    Webhook,
    WebhookVerificationError,
)

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
