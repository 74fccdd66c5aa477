"""A private PostgreSQL cluster for one benchmark: initdb + pg_ctl on a free port in a temporary
folder, autovacuum on, its settings read back for the report; stopped and removed on every exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg

from bench import procs
from bench.hookpost_proc import free_port

PREFIX = "hookpost-pgcluster-"
# What a production server of this size would run with (the shared test server runs with
# autovacuum off, which bloats tables and distorts every figure measured on it).
SETTINGS: Mapping[str, str] = {
    "autovacuum": "on",
    "shared_buffers": "512MB",
    "max_connections": "200",
    "synchronous_commit": "on",
    "fsync": "on",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "effective_cache_size": "4GB",
    "random_page_cost": "1.1",
    "listen_addresses": "'127.0.0.1'",
    "logging_collector": "off",
    "log_min_messages": "warning",
    # Loaded but silent: bench.explain turns it on for a few seconds to log real plans.
    "session_preload_libraries": "'auto_explain'",
    "auto_explain.log_min_duration": "-1",
    "auto_explain.log_analyze": "on",
    "auto_explain.log_buffers": "on",
}
REPORTED = (
    "server_version",
    "autovacuum",
    "autovacuum_naptime",
    "autovacuum_vacuum_scale_factor",
    "shared_buffers",
    "max_connections",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "effective_cache_size",
    "random_page_cost",
    "jit",
)


def _binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent  # the newest installed major version
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb) found")
    return Path(initdb).parent


def _as_owner() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class Cluster:
    """One private cluster; `start()` then `url(database)`; `stop()` removes everything."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self.data = self.folder / "data"
        self.port = 0
        self.settings: dict[str, str] = {}
        self._started = False

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [*_as_owner(), *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> Cluster:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.port = free_port()
        lines = [f"{k} = {v}" for k, v in SETTINGS.items()]
        lines += [f"port = {self.port}", f"unix_socket_directories = '{self.folder}'"]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# hookpost bench\n" + "\n".join(lines) + "\n")
        atexit.register(self.stop)
        self._started = True
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        self.settings = asyncio.run(self._read_settings())
        return self

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(self._execute(f'CREATE DATABASE "{name}"'))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def _read_settings(self) -> dict[str, str]:
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            return {name: str(await conn.fetchval(f"SHOW {name}")) for name in REPORTED}
        finally:
            await conn.close()

    def describe(self) -> dict[str, Any]:
        return {"port": self.port, "binaries": str(self.bin), "settings": self.settings}

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and remove its folder; safe to call twice."""
        if self._started:
            self._started = False
            for mode in ("fast", "immediate"):
                with contextlib.suppress(Exception):
                    self._run(
                        str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                        "-t", "30", "stop", timeout=40,
                    )  # fmt: skip
                    break
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def remove_stale() -> list[str]:
    """Clusters left by killed runs (their pid is gone): stopped and removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-")[0]
        if not pid.isdigit() or procs.pid_alive(int(pid)):
            continue
        data = folder / "data"
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                subprocess.run(
                    [*_as_owner(), str(_binaries() / "pg_ctl"), "-D", str(data), "-m",
                     "immediate", "-w", "-t", "30", "stop"],
                    capture_output=True, timeout=40, check=False,
                )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(str(folder))
    return removed
