"""Prefixed, time-sortable identifiers (Svix-style millisecond KSUIDs).

An id is a prefix plus 27 base62 characters encoding 20 bytes: 4 bytes of seconds since
1 400 000 000, 1 byte of (milliseconds % 1000) // 4, then 15 random bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

KSUID_EPOCH = 1_400_000_000
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
ENCODED_LENGTH = 27
RANDOM_BYTES = 15

APPLICATION = "app_"
ENDPOINT = "ep_"
MESSAGE = "msg_"
ATTEMPT = "atmpt_"
TASK = "qtask_"
ORGANIZATION = "org_"
EVENT_TYPE = "evtype_"
DELIVERY = "msgep_"
API_KEY = "key_"

_BODY = re.compile(r"[0-9A-Za-z]{27}")


# Pairs of base62 digits, so encoding needs half the divisions (ids are made per delivery).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR = 62 * 62


def _encode(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    pairs = []
    for _ in range(14):  # 28 digits, one more than an id has
        number, pair = divmod(number, _PAIR)
        pairs.append(_PAIRS[pair])
    return "".join(reversed(pairs))[1:]


def _decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + _INDEX[char]
    return number


_EPOCH = datetime.fromtimestamp(KSUID_EPOCH, UTC)
_LAST_SECOND = (1 << 32) - 1


def _time_bytes(at: datetime) -> bytes:
    """Seconds and 4 ms steps since the KSUID epoch, clamped to what 4 bytes can hold.

    Integer arithmetic on timedeltas: going through a float timestamp can land a time one
    millisecond early, which would misplace bounds built from it.
    """
    millis = (at - _EPOCH) // timedelta(milliseconds=1)
    seconds, ms = divmod(millis, 1000)
    if seconds < 0:
        seconds, ms = 0, 0
    elif seconds > _LAST_SECOND:
        seconds, ms = _LAST_SECOND, 999
    return seconds.to_bytes(4, "big") + bytes([ms // 4])


def make_id(prefix: str, at: datetime, entropy: bytes) -> str:
    """A new id for `prefix` created at `at`; `entropy` must be 15 random bytes."""
    if len(entropy) != RANDOM_BYTES:
        raise ValueError("an id needs exactly 15 bytes of entropy")
    return prefix + _encode(_time_bytes(at) + entropy)


def bound_id(prefix: str, at: datetime, *, upper: bool) -> str:
    """The smallest (or largest) id that could have been created at `at`.

    Used to turn a time window into an id range, so one index serves both.
    """
    filler = b"\xff" * RANDOM_BYTES if upper else b"\x00" * RANDOM_BYTES
    return prefix + _encode(_time_bytes(at) + filler)


def is_valid(prefix: str, value: str) -> bool:
    """Whether `value` is well formed for `prefix` (does not say it exists)."""
    body = value[len(prefix) :]
    if not value.startswith(prefix) or _BODY.fullmatch(body) is None:
        return False
    return _decode(body) < 1 << 160


def created_at(value: str, prefix: str) -> datetime:
    """The creation time encoded in a well-formed id (millisecond precision, 4 ms steps)."""
    raw = _decode(value[len(prefix) :]).to_bytes(20, "big")
    seconds = int.from_bytes(raw[:4], "big") + KSUID_EPOCH
    return datetime.fromtimestamp(seconds + raw[4] * 4 / 1000, UTC)


class IdFactory:
    """Makes ids from an injected clock and entropy source (so tests control both)."""

    def __init__(self, clock: Callable[[], datetime], entropy: Callable[[int], bytes]) -> None:
        self._clock = clock
        self._entropy = entropy

    def new(self, prefix: str) -> str:
        return make_id(prefix, self._clock(), self._entropy(RANDOM_BYTES))

    def new_at(self, prefix: str, at: datetime) -> str:
        """An id whose time part is `at` (e.g. an attempt's start)."""
        return make_id(prefix, at, self._entropy(RANDOM_BYTES))
