"""Verifying incoming hookpost (Standard Webhooks / Svix) requests and dropping retried ids.

Owns header lookup, the receiver's clock and JSON parsing; the cryptography is core.signing.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hookpost.core.signing import (
    DEFAULT_TOLERANCE,
    SecretError,
    VerificationError,
    signature_header,
    signature_version,
    verify,
)

# One class under both names, so callers may catch either.
WebhookVerificationError = VerificationError

_NAMES = ("id", "timestamp", "signature")
# hookpost sends both sets with identical values; webhook-* is the standard one.
_PREFIXES = ("webhook-", "svix-")


class Webhook:
    """Verifies a request signed with any of `secret` (whsec_ secrets or whpk_ public keys)."""

    def __init__(
        self,
        secret: str | Sequence[str],
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        secrets = [secret] if isinstance(secret, str) else list(secret)
        if not secrets:
            raise SecretError("no secrets given")
        for each in secrets:
            signature_version(each)  # fail at construction, not on the first request
        self._secrets = tuple(secrets)
        self._tolerance = tolerance
        self._clock = clock

    def verify(self, body: bytes | str, headers: Mapping[str, str]) -> Any:
        """The parsed JSON body, once the signature and timestamp check out."""
        raw = body.encode() if isinstance(body, str) else body
        msg_id, timestamp, signature = _signature_headers(headers)
        verify(
            self._secrets,
            msg_id,
            timestamp,
            signature,
            raw,
            now=math.floor(self._clock()),
            tolerance=self._tolerance,
        )
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise WebhookVerificationError("payload is not valid JSON") from exc

    def sign(self, msg_id: str, timestamp: int, body: bytes | str) -> str:
        """A signature header for tests of your own handler (needs whsec_/whsk_ secrets)."""
        raw = body.encode() if isinstance(body, str) else body
        return signature_header(self._secrets, msg_id, timestamp, raw)


def _signature_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    lowered = {name.lower(): value for name, value in headers.items()}
    for prefix in _PREFIXES:
        # A whole set from one prefix, so a stray header of the other never mixes in.
        values = [lowered.get(prefix + name, "") for name in _NAMES]
        if all(values):
            return values[0], values[1], values[2]
    missing = [f"webhook-{name}" for name in _NAMES if not lowered.get(f"webhook-{name}")]
    raise WebhookVerificationError(
        "missing required headers: " + ", ".join(missing) + " (or their svix-* equivalents)"
    )


class Deduplicator:
    """Remembers webhook ids for `ttl_seconds` so a retried delivery can be dropped.

    Memory is bounded by `max_size` (oldest ids go first). Call `seen` once the message is
    handled, or `forget` it when handling failed, so the sender's retry is not dropped.
    """

    def __init__(
        self,
        ttl_seconds: float = 600,
        *,
        max_size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_size <= 0:
            raise ValueError("ttl_seconds and max_size must be positive")
        self._ttl = ttl_seconds
        self._max_size = max_size
        self._clock = clock
        # id -> expiry; insertion order is expiry order because the ttl is fixed.
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()  # WSGI servers call from many threads

    def seen(self, msg_id: str) -> bool:
        """True if `msg_id` was recorded within the ttl; otherwise record it and say False."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            if msg_id in self._expiry:
                return True
            self._expiry[msg_id] = now + self._ttl
            if len(self._expiry) > self._max_size:
                self._expiry.popitem(last=False)
            return False

    def forget(self, msg_id: str) -> None:
        with self._lock:
            self._expiry.pop(msg_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._expiry)

    def _expire(self, now: float) -> None:
        while self._expiry:
            oldest = next(iter(self._expiry.values()))
            if oldest > now:
                return
            self._expiry.popitem(last=False)
