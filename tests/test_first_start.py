"""A fresh database locks no one out: only `serve` and `api`, which print it, make a first key.

Every other command (`token list`, `token create`, `migrate`, `worker`) runs first on an empty
SQLite file or PostgreSQL database, then `serve` must still hand the operator a working token.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa

from hookpost.store.schema import api_keys
from tests.support import databases
from tests.support.server import ServerProcess
from tests.support.waiting import eventually

FIRST_START_TOKEN = re.compile(r"API token \(shown once, store it now\):\s+(hp_sk_\w+)")
NO_TOKEN = {"HOOKPOST_API_TOKEN": ""}  # empty counts as unset


def hookpost(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKPOST_")}
    env["HOOKPOST_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "hookpost", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"hookpost {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def key_names(database_url: str) -> list[str]:
    return [row.name for row in databases.query(database_url, sa.select(api_keys.c.name))]


def authenticates(server: ServerProcess, token: str) -> bool:
    answer = httpx.get(
        f"{server.url}/api/v1/app", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code in {200, 401}, answer.text
    return answer.status_code == 200


def run_worker_until_started(database_url: str, log: Path) -> None:
    worker = ServerProcess(database_url, log, env=NO_TOKEN, command="worker").start()
    try:
        eventually(lambda: " worker (" in worker.logs(), what="the worker announces itself")
    finally:
        assert worker.stop() == 0, worker.logs()


def test_commands_before_the_first_serve_leave_it_a_token_to_print(
    empty_database_url: str, tmp_path: Path
) -> None:
    url = empty_database_url
    listed = hookpost(url, "token", "list")
    assert "hp_sk_" not in listed.stdout + listed.stderr
    assert "revision" in hookpost(url, "migrate").stderr
    run_worker_until_started(url, tmp_path / "worker.log")
    hookpost(url, "token", "list")
    assert key_names(url) == []  # nothing made a key whose secret nobody saw

    server = ServerProcess(url, tmp_path / "serve.log", env=NO_TOKEN).start()
    try:
        match = FIRST_START_TOKEN.search(server.logs())
        assert match is not None, server.logs()
        token = match.group(1)
        assert authenticates(server, token)
        forged = token[:-1] + ("y" if token.endswith("x") else "x")  # one character off
        assert not authenticates(server, forged)
    finally:
        server.stop()
    assert key_names(url) == ["generated on first start"]

    # A second start prints nothing new: the operator already holds the first key.
    again = ServerProcess(url, tmp_path / "again.log", env=NO_TOKEN).start()
    again.stop()
    assert FIRST_START_TOKEN.search(again.logs()) is None
    assert key_names(url) == ["generated on first start"]


def test_a_key_created_before_the_first_serve_is_the_one_that_works(
    empty_database_url: str, tmp_path: Path
) -> None:
    url = empty_database_url
    created = hookpost(url, "token", "create", "--name", "deploy").stdout.strip()
    assert created.startswith("hp_sk_")
    assert key_names(url) == ["deploy"]  # and no unseen first-start key beside it

    server = ServerProcess(url, tmp_path / "serve.log", env=NO_TOKEN).start()
    try:
        assert FIRST_START_TOKEN.search(server.logs()) is None  # the operator holds one
        assert authenticates(server, created)
    finally:
        server.stop()
    assert key_names(url) == ["deploy"]


def test_the_api_command_also_prints_the_first_start_token(
    empty_database_url: str, tmp_path: Path
) -> None:
    url = empty_database_url
    api = ServerProcess(url, tmp_path / "api.log", env=NO_TOKEN, command="api").start()
    try:
        match = FIRST_START_TOKEN.search(api.logs())
        assert match is not None, api.logs()
        assert authenticates(api, match.group(1))
    finally:
        api.stop()
