"""Waiting on conditions (never on fixed sleeps): poll a check until it holds or time runs out.

The timeout is a safety net for a hung test, not a performance assertion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """The first truthy value `check()` returns; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    raise AssertionError(f"condition not met within {timeout}s: {what or check} (last: {last!r})")
