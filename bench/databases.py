"""Throwaway databases for one benchmark run: PostgreSQL databases named `bench_<pid>_<what>`
and SQLite files in the run's temporary folder; every one is dropped when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

ADMIN_DSN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_created: list[str] = []


async def _admin(sql: str) -> Any:
    conn = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def postgres_version() -> str:
    return str(asyncio.run(_admin("SHOW server_version")))


def sqlite_version() -> str:
    return sqlite3.sqlite_version


def create_postgres(what: str) -> str:
    """A new empty database; returns its postgresql:// URL."""
    name = f"bench_{os.getpid()}_{what}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    _created.append(name)
    return f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    with contextlib.suppress(ValueError):
        _created.remove(name)


def drop_all() -> None:
    """Drop every database this run created and has not dropped yet."""
    for name in list(_created):
        with contextlib.suppress(Exception):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        _created.remove(name)


def drop_stale() -> list[str]:
    """Drop `bench_<pid>_*` databases left by runs that were killed (their pid is gone)."""
    names = asyncio.run(_stale_names())
    for name in names:
        with contextlib.suppress(Exception):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return names


async def _stale_names() -> list[str]:
    conn = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'")
    finally:
        await conn.close()
    stale = []
    for (name,) in rows:
        pid = name.split("_")[1]
        if pid.isdigit() and not _alive(int(pid)):
            stale.append(name)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sqlite_url(folder: Path, what: str) -> str:
    return f"sqlite:///{folder / f'{what}.sqlite3'}"


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
