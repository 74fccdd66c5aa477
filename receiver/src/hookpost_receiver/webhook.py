"""Verifying one incoming webhook request: header lookup, the receiver's clock, JSON parsing.

The signature arithmetic is in `signatures`; this module is what receivers call.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hookpost_receiver.errors import InvalidPayload, MissingHeaders, SecretError
from hookpost_receiver.signatures import (
    DEFAULT_TOLERANCE,
    check_signature,
    check_timestamp,
    decode_key,
    sign,
)

_NAMES = ("id", "timestamp", "signature")
# hookpost sends both sets with identical values; webhook-* is the standard one.
_PREFIXES = ("webhook-", "svix-")


class Webhook:
    """Verifies requests signed with any of `secret` (whsec_ secrets or whpk_ public keys)."""

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
        # Decoded now, so a bad secret fails at start-up, not on the first request.
        self._keys = tuple(decode_key(each) for each in secrets)
        self._tolerance = tolerance
        self._clock = clock

    def verify(self, body: bytes | str, headers: Mapping[str, str]) -> Any:
        """The parsed JSON body, once the signature and timestamp check out."""
        raw = body.encode() if isinstance(body, str) else body
        msg_id, timestamp, signature = signature_headers(headers)
        check_timestamp(timestamp, now=math.floor(self._clock()), tolerance=self._tolerance)
        check_signature(self._keys, msg_id, timestamp, signature, raw)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise InvalidPayload("payload is not valid JSON") from exc

    def sign(self, msg_id: str, timestamp: int, body: bytes | str) -> str:
        """A signature header, for tests of your own handler and for re-signing relays."""
        raw = body.encode() if isinstance(body, str) else body
        if timestamp < 0:
            raise ValueError("timestamp must be non-negative Unix seconds")
        return sign(self._keys, msg_id, timestamp, raw)

    def headers(self, msg_id: str, timestamp: int, body: bytes | str) -> dict[str, str]:
        """The full `webhook-*` and `svix-*` header set a sender would attach."""
        signature = self.sign(msg_id, timestamp, body)
        values = {"id": msg_id, "timestamp": str(timestamp), "signature": signature}
        return {prefix + name: value for prefix in _PREFIXES for name, value in values.items()}


def signature_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """The (id, timestamp, signature) of one complete header set, webhook-* before svix-*."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for prefix in _PREFIXES:
        # A whole set from one prefix, so a stray header of the other never mixes in.
        values = [lowered.get(prefix + name, "") for name in _NAMES]
        if all(values):
            return values[0], values[1], values[2]
    missing = [f"webhook-{name}" for name in _NAMES if not lowered.get(f"webhook-{name}")]
    raise MissingHeaders(
        "missing required headers: " + ", ".join(missing) + " (or their svix-* equivalents)"
    )
