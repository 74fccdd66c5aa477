"""What travels in every benchmark: ~1 KB JSON payloads stamped with their send time, and the
signed headers hookpost sends (so the ceilings do the same work per request).
"""

from __future__ import annotations

import time
import uuid

import orjson

PAYLOAD_BYTES = 1024
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a fixed test secret, 24 bytes
_BASE = len(orjson.dumps({"t": time.time(), "i": 0, "pad": ""}))


def payload(index: int, size: int = PAYLOAD_BYTES) -> dict[str, object]:
    """A payload of about `size` bytes of JSON whose first field is the send time."""
    pad = max(size - _BASE - len(str(index)) + 1, 0)
    return {"t": time.time(), "i": index, "pad": "x" * pad}


def payload_bytes(index: int, size: int = PAYLOAD_BYTES) -> bytes:
    return orjson.dumps(payload(index, size))


def publish_body(
    index: int,
    event_type: str = "bench.event",
    size: int = PAYLOAD_BYTES,
    application: dict[str, str] | None = None,
) -> bytes:
    """The JSON body of `POST /api/v1/app/{app}/msg`; with `application` (`{"uid", "name"}`)
    inline, as clients do that create their applications on first publish."""
    body: dict[str, object] = {"eventType": event_type, "payload": payload(index, size)}
    if application is not None:
        body["application"] = application
    return orjson.dumps(body)


def idempotency_key() -> str:
    """A fresh key per request, as the svix SDK sends on every POST (`auto_` + a UUID4)."""
    return f"auto_{uuid.uuid4()}"


def webhook_headers(msg_id: str, timestamp: int, signature: str) -> dict[str, str]:
    """The headers hookpost's `delivery.attempt.request_headers` builds for one attempt."""
    stamp = str(timestamp)
    return {
        "content-type": "application/json",
        "user-agent": "hookpost-bench",
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": signature,
        "svix-id": msg_id,
        "svix-timestamp": stamp,
        "svix-signature": signature,
    }
