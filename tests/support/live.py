"""One `hookpost serve` subprocess per test module and backend, with the clients tests drive it by.

Sharing a server across a module keeps the suite fast; tests stay independent by using unique
uids (`unique`). `Live.query` reads the server's own database, for asserting what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from svix.api import Svix, SvixOptions

from hookpost.core.ids import IdFactory
from hookpost.service.access import AccessService
from hookpost.store import Stores
from hookpost.store.database import Database
from tests.support import databases
from tests.support.receiver import Receiver
from tests.support.server import TOKEN, ServerProcess

T = TypeVar("T")
BACKENDS = ["sqlite", "postgres"]


def unique(prefix: str = "t") -> str:
    """A uid no other test uses (valid as an app/endpoint uid, eventId or event type name)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Live:
    backend: str
    database_url: str
    server: ServerProcess
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def sdk(self, token: str = TOKEN) -> Svix:
        """The official client, without its own retries so that failures surface."""
        return Svix(token, SvixOptions(server_url=self.url, retry_schedule=[]))

    def http(self, token: str | None = TOKEN) -> httpx.Client:
        """A raw HTTP client (for what the SDK cannot send); closed with the server."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def run(self, work: Callable[[Stores], Awaitable[T]]) -> T:
        """Run `work` against the server's database through a store of our own."""

        async def go() -> T:
            database = Database(self.database_url)
            try:
                return await work(Stores(database, clock, IdFactory(clock, os.urandom)))
            finally:
                await database.close()

        return asyncio.run(go())

    def query(self, statement: sa.Executable) -> list[Any]:
        """Rows of a read-only statement on the server's database."""

        async def work(store: Stores) -> list[Any]:
            async with store.database.read() as conn:
                return list((await conn.execute(statement)).all())

        return self.run(work)

    def count(self, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
        rows = self.query(sa.select(sa.func.count()).select_from(table).where(*where))
        return int(rows[0][0])

    def new_organization_token(self, name: str = "other") -> str:
        """A second tenant: a new organization and an API key for it, in the server's database."""

        async def work(store: Stores) -> str:
            org = await store.access.create_organization(name)
            access = AccessService(store.access, clock, os.urandom, lambda: 0.0)
            token, _ = await access.create_key(org.id, "test")
            return token

        return self.run(work)

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.server.stop()


@contextlib.contextmanager
def serving(backend: str, folder: Path, env: Mapping[str, str] | None = None) -> Iterator[Live]:
    """`hookpost serve` on a new database of `backend` (files in `folder`), until the block ends."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'hookpost.sqlite3'}"
    else:
        databases.require_postgres()
        url = databases.create_postgres_database()
    try:
        process = ServerProcess(url, folder / "server.log", env=env).start()
        live = Live(backend, url, process)
        try:
            yield live
        finally:
            live.close()
    finally:
        if backend == "postgres":
            databases.drop_postgres_database(url)


def live_server(env: Mapping[str, str] | None = None) -> Any:
    """A module-scoped fixture: one server on SQLite, then one on PostgreSQL.

    Use as `live = live_server()` at module level; tests then take a `live` argument.
    """

    @pytest.fixture(scope="module", params=BACKENDS)
    def fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Live]:
        with serving(request.param, tmp_path_factory.mktemp(request.param), env) as live:
            yield live

    return fixture


OPERATOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def operator_live_server(env: Mapping[str, str]) -> Any:
    """`live_server` whose HOOKPOST_OPERATIONAL_WEBHOOK_URL is the `operator` receiver (a
    module fixture of conftest), signing with OPERATOR_SECRET."""

    @pytest.fixture(scope="module", params=BACKENDS)
    def fixture(
        request: pytest.FixtureRequest,
        operator: Receiver,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[Live]:
        configured = {
            **env,
            "HOOKPOST_OPERATIONAL_WEBHOOK_URL": f"{operator.url}/ops",
            "HOOKPOST_OPERATIONAL_WEBHOOK_SECRET": OPERATOR_SECRET,
        }
        with serving(request.param, tmp_path_factory.mktemp(request.param), configured) as live:
            yield live

    return fixture


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON error body of a failed response, checking it has one of the two Svix shapes."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body, dict), body
    if response.status_code == 422:
        assert isinstance(body["detail"], list), body
        for problem in body["detail"]:
            assert {"loc", "msg", "type"} <= problem.keys(), problem
    else:
        assert isinstance(body["code"], str), body
        assert body["code"], body
        assert isinstance(body["detail"], str), body
    return body


def locs(response: httpx.Response) -> list[list[Any]]:
    """The `loc` of every problem in a 422 answer."""
    assert response.status_code == 422, response.text
    return [p["loc"] for p in error_of(response)["detail"]]
