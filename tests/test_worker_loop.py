"""The worker loop itself, claim -> admit -> run -> record, with both of its clocks injected:
the wall clock that says when a retry is due (the store's and the worker's) and the monotonic
clock that says when a running attempt turns slow. Real SQLite, a real receiver on 127.0.0.1;
no sleeps: the test moves time and waits on what the loop does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookpost.config import Settings
from hookpost.core.fields import ApplicationFields, EndpointFields, NewMessage
from hookpost.delivery.doorbell import Doorbell
from hookpost.delivery.worker import Worker
from hookpost.runtime import Runtime, open_runtime, worker_limits
from hookpost.store.schema import deliveries
from tests.support.receiver import Behaviour, Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PATIENCE = 60.0  # a safety net for a loaded machine, not a speed test


class WallClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingDoorbell(Doorbell):
    """The worker's own doorbell, counting how often its loop went back to sleep."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps = 0

    async def wait(self, seconds: float) -> bool:
        self.sleeps += 1
        return await super().wait(seconds)


@dataclass
class Loop:
    runtime: Runtime
    worker: Worker
    doorbell: CountingDoorbell
    wall: WallClock
    monotonic: Monotonic
    org: str

    async def tenant(self, name: str, url: str) -> str:
        store = self.runtime.store
        app = (await store.create_application(self.org, ApplicationFields(name))).id
        await store.create_endpoint(self.org, app, EndpointFields(url=url), SECRET)
        return app

    async def publish(self, app: str, n: int = 0) -> None:
        new = NewMessage(event_type="invoice.paid", payload=b'{"n":%d}' % n)
        await self.runtime.store.publish(self.org, app, new)
        self.doorbell.ring()

    async def states(self) -> list[tuple[str, int]]:
        query = sa.select(deliveries.c.state, deliveries.c.attempts).order_by(deliveries.c.id)
        async with self.runtime.database.read() as conn:
            return [(r.state, r.attempts) for r in await conn.execute(query)]

    async def until(self, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        async with asyncio.timeout(PATIENCE):
            while not await check():  # noqa: ASYNC110 (a database state, not an event)
                await asyncio.sleep(0.01)  # polling a condition, not waiting for work

    async def idles(self, times: int) -> None:
        """Let the loop go back to sleep `times` more times (it had every chance to act)."""
        target = self.doorbell.sleeps + times
        await self.until("idle", self._slept(target))

    def _slept(self, target: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            self.doorbell.ring()
            return self.doorbell.sleeps >= target

        return check


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@contextlib.asynccontextmanager
async def running_loop(tmp_path: Path, **limits: object) -> AsyncIterator[Loop]:
    settings = Settings.from_env(
        {
            "HOOKPOST_DATABASE_URL": f"sqlite:///{tmp_path / 'loop.sqlite3'}",
            "HOOKPOST_API_TOKEN": "hp_sk_" + "w" * 40,
            "HOOKPOST_ALLOWED_NETWORKS": "127.0.0.1/32",
            "HOOKPOST_POLL_INTERVAL": "50ms",
        }
    )
    wall, monotonic, doorbell = WallClock(), Monotonic(), CountingDoorbell()
    runtime = await open_runtime(settings, clock=wall)
    try:
        org = (await runtime.store.create_organization("loop")).id
        worker = Worker(
            runtime.store.queue,
            runtime.runner,
            doorbell,
            replace(worker_limits(settings), **limits),  # type: ignore[arg-type]
            clock=wall,
            monotonic=monotonic,
        )
        task = asyncio.create_task(worker.run())
        try:
            yield Loop(runtime, worker, doorbell, wall, monotonic, org)
        finally:
            worker.stop()
            await task
    finally:
        await runtime.close()


async def test_a_retry_waits_for_its_time_on_the_wall_clock(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.answer(500, 200)
    async with running_loop(tmp_path) as loop:
        app = await loop.tenant("acme", f"{receiver.url}/hook")
        await loop.publish(app)

        async def first_recorded() -> bool:
            return await loop.states() == [("pending", 1)]

        await loop.until("the failed attempt is recorded", first_recorded)
        # Its retry is due 5 s (+-20 %) later on the wall clock, which has not moved: the
        # loop wakes and claims as often as it likes, and sends nothing.
        await loop.idles(5)
        assert len(receiver.requests) == 1

        loop.wall.now += timedelta(seconds=7)

        async def retried() -> bool:
            return await loop.states() == [("succeeded", 2)]

        await loop.until("the retry succeeded", retried)
        assert len(receiver.requests) == 2


async def test_a_hanging_attempt_frees_its_slot_once_slow_on_the_monotonic_clock(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.script(lambda r: Behaviour(mode="hang") if r.path == "/a" else Behaviour(200))
    # Slow after 1,000 s: only the injected clock, never the test's real seconds, gets there.
    async with running_loop(tmp_path, concurrency=1, slow_after=1000.0, shutdown_grace=0.1) as loop:
        hanging = await loop.tenant("hanging", f"{receiver.url}/a")
        healthy = await loop.tenant("healthy", f"{receiver.url}/b")
        await loop.publish(hanging)
        await asyncio.to_thread(receiver.wait_for, 1, PATIENCE)  # the one slot is taken
        await loop.publish(healthy)
        await loop.idles(5)
        assert [r.path for r in receiver.requests] == ["/a"]  # no slot for /b yet

        loop.monotonic.now += 1001  # the hanging attempt is slow now: off the worker's slots
        loop.doorbell.ring()
        got = await asyncio.to_thread(receiver.wait_for, 2, PATIENCE)
        assert [r.path for r in got] == ["/a", "/b"]

        async def healthy_delivered() -> bool:
            return sorted(await loop.states()) == [("pending", 0), ("succeeded", 1)]

        await loop.until("/b's attempt is recorded", healthy_delivered)
        assert loop.worker.scheduler.running == 1  # /a still hangs, in the slow lane


async def test_while_probation_is_full_trusted_endpoints_are_served_and_new_ones_wait(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.script(lambda r: Behaviour(mode="hang") if r.path == "/a" else Behaviour(200))
    limits = {
        "concurrency": 8,
        "probation_concurrency": 1,
        "slow_after": 1000.0,
        "probation_slow_after": 1000.0,
        "shutdown_grace": 0.1,
    }
    async with running_loop(tmp_path, **limits) as loop:
        trusted = await loop.tenant("trusted", f"{receiver.url}/b")
        await loop.publish(trusted, 0)
        await asyncio.to_thread(receiver.wait_for, 1, PATIENCE)

        async def trusted_recorded() -> bool:
            return await loop.states() == [("succeeded", 1)]

        await loop.until("the trusted endpoint's first delivery is recorded", trusted_recorded)
        hanging = await loop.tenant("hanging", f"{receiver.url}/a")
        newcomer = await loop.tenant("newcomer", f"{receiver.url}/c")
        await loop.publish(hanging)
        await asyncio.to_thread(receiver.wait_for, 2, PATIENCE)  # probation's one slot taken
        await loop.publish(newcomer)
        await loop.publish(trusted, 1)
        got = await asyncio.to_thread(receiver.wait_for, 3, PATIENCE)
        assert [r.path for r in got] == ["/b", "/a", "/b"]  # the trusted one did not wait
        await loop.idles(5)
        assert len(receiver.requests) == 3  # the newcomer waits for probation's slot

        loop.monotonic.now += 1001  # the hanging attempt turns slow: probation has room
        loop.doorbell.ring()
        got = await asyncio.to_thread(receiver.wait_for, 4, PATIENCE)
        assert got[-1].path == "/c"
