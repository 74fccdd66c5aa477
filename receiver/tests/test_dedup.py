"""The de-duplication helper: expiry, bound, `once` and a store of the caller's own.

Standard library only (unittest).
"""

import unittest

from hookpost_receiver import Deduplicator, MemorySeenStore, SeenStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class DictStore:
    """What a caller's own store (Redis SET NX EX, an SQL table) looks like."""

    def __init__(self) -> None:
        self.ids: dict[str, float] = {}

    def add(self, msg_id: str, ttl_seconds: float) -> bool:
        if msg_id in self.ids:
            return False
        self.ids[msg_id] = ttl_seconds
        return True

    def discard(self, msg_id: str) -> None:
        self.ids.pop(msg_id, None)


class DeduplicatorTest(unittest.TestCase):
    def test_repeats_until_expiry(self) -> None:
        clock = Clock()
        dedup = Deduplicator(ttl_seconds=600, clock=clock)
        self.assertFalse(dedup.seen("msg_1"))
        self.assertTrue(dedup.seen("msg_1"))
        clock.now = 599.9
        self.assertTrue(dedup.seen("msg_1"))
        self.assertFalse(dedup.seen("msg_2"))
        clock.now = 600
        self.assertFalse(dedup.seen("msg_1"))
        self.assertEqual(len(dedup), 2)
        clock.now = 1300
        self.assertEqual(len(dedup), 0)

    def test_bounded_and_forgets(self) -> None:
        dedup = Deduplicator(clock=Clock(), max_size=2)
        for msg_id in ("a", "b", "c"):
            self.assertFalse(dedup.seen(msg_id))
        self.assertEqual(len(dedup), 2)
        self.assertFalse(dedup.seen("a"))  # evicted as the oldest
        dedup.forget("c")
        self.assertFalse(dedup.seen("c"))
        with self.assertRaises(ValueError):
            Deduplicator(ttl_seconds=0)
        with self.assertRaises(ValueError):
            MemorySeenStore(max_size=0)

    def test_once_forgets_when_handling_fails(self) -> None:
        dedup = Deduplicator(clock=Clock())
        with self.assertRaises(RuntimeError), dedup.once("msg_1") as new:
            self.assertTrue(new)
            raise RuntimeError("handler crashed")
        with dedup.once("msg_1") as new:
            self.assertTrue(new)  # the retry is handled
        with dedup.once("msg_1") as new:
            self.assertFalse(new)
        with self.assertRaises(RuntimeError), dedup.once("msg_1") as new:
            raise RuntimeError("a duplicate failing must not forget the first")
        self.assertTrue(dedup.seen("msg_1"))

    def test_pluggable_store(self) -> None:
        store = DictStore()
        self.assertIsInstance(store, SeenStore)
        dedup = Deduplicator(ttl_seconds=30, store=store)
        self.assertFalse(dedup.seen("msg_1"))
        self.assertTrue(dedup.seen("msg_1"))
        self.assertEqual(store.ids, {"msg_1": 30})
        dedup.forget("msg_1")
        self.assertEqual(store.ids, {})
        with self.assertRaises(TypeError):
            len(dedup)


if __name__ == "__main__":
    unittest.main()
