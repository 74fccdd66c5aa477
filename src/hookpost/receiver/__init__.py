"""The library for people who receive hookpost webhooks: verify, parse and deduplicate.

Framework adapters live in `hookpost.receiver.frameworks`; this package needs only the stdlib.
"""

from hookpost.core.signing import SecretError
from hookpost.receiver.webhook import Deduplicator, Webhook, WebhookVerificationError

__all__ = ["Deduplicator", "SecretError", "Webhook", "WebhookVerificationError"]
