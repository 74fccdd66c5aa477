"""Dropping webhooks already handled, keyed on the message id, with a pluggable id store.

Senders deliver at least once; a receiver that must act once remembers ids for a while.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable


@runtime_checkable
class SeenStore(Protocol):
    """Where handled ids live: memory (default), or your Redis/SQL table across processes."""

    def add(self, msg_id: str, ttl_seconds: float) -> bool:
        """Record `msg_id` for `ttl_seconds`; False if it was already recorded (atomically)."""
        ...

    def discard(self, msg_id: str) -> None:
        """Forget `msg_id`, so its next delivery is handled."""
        ...


class MemorySeenStore:
    """Ids in this process, bounded by `max_size` (oldest go first), expiring after the ttl."""

    def __init__(
        self, *, max_size: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        self._max_size = max_size
        self._clock = clock
        # id -> expiry; insertion order is expiry order as long as the ttl is fixed.
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()  # WSGI servers call from many threads

    def add(self, msg_id: str, ttl_seconds: float) -> bool:
        now = self._clock()
        with self._lock:
            self._expire(now)
            if msg_id in self._expiry:
                return False
            self._expiry[msg_id] = now + ttl_seconds
            if len(self._expiry) > self._max_size:
                self._expiry.popitem(last=False)
            return True

    def discard(self, msg_id: str) -> None:
        with self._lock:
            self._expiry.pop(msg_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._expiry)

    def _expire(self, now: float) -> None:
        while self._expiry:
            if next(iter(self._expiry.values())) > now:
                return
            self._expiry.popitem(last=False)


class Deduplicator:
    """Remembers webhook ids for `ttl_seconds` so that a retried delivery can be dropped.

    Call `seen` once a message is handled (or `forget` it when handling failed, so the
    sender's retry is not dropped), or wrap the handling in `once`, which does both.
    """

    def __init__(
        self,
        ttl_seconds: float = 600,
        *,
        store: SeenStore | None = None,
        max_size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._ttl = ttl_seconds
        self.store: SeenStore = store or MemorySeenStore(max_size=max_size, clock=clock)

    def seen(self, msg_id: str) -> bool:
        """True if `msg_id` was recorded within the ttl; otherwise record it and say False."""
        return not self.store.add(msg_id, self._ttl)

    def forget(self, msg_id: str) -> None:
        self.store.discard(msg_id)

    @contextmanager
    def once(self, msg_id: str) -> Iterator[bool]:
        """Yields True the first time; an exception inside forgets the id and propagates."""
        new = self.store.add(msg_id, self._ttl)
        try:
            yield new
        except BaseException:
            if new:
                self.store.discard(msg_id)
            raise

    def __len__(self) -> int:
        if isinstance(self.store, MemorySeenStore):
            return len(self.store)
        raise TypeError("only the in-memory store can count its ids")
