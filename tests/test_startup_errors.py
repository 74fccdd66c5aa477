"""Every misconfiguration an operator can make at start-up ends in one line naming the setting
and what to do, a non-zero exit code and no traceback; PostgreSQL URLs take libpq's SSL options.

The real `hookpost` command runs as a subprocess, against the real PostgreSQL on 127.0.0.1
(and a TLS front for it, tests/support/pg_tls.py) or real SQLite files.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hookpost.store.database import Database
from tests.conftest import sqlite_url
from tests.support import databases
from tests.support.pg_tls import PostgresTls, postgres_tls
from tests.support.server import ServerProcess, free_port
from tests.support.tls import self_signed
from tests.support.waiting import eventually

DATABASE = "HOOKPOST_DATABASE_URL (or --database-url)"
PORT = "HOOKPOST_PORT (or --port)"
FIRST_START_TOKEN = re.compile(r"API token \(shown once, store it now\):\s+(hp_sk_\w+)")


def hookpost(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKPOST_")}
    return subprocess.run(
        [sys.executable, "-m", "hookpost", *args],
        env=clean | {"COLUMNS": "80", "HOOKPOST_API_TOKEN": ""} | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refused(done: subprocess.CompletedProcess[str], setting: str, *words: str) -> str:
    """The one error line of a command that had to fail; asserts what every such line owes."""
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    line = errors[0]
    assert setting in line, line
    for word in words:
        assert word in line, line
    return line


def migrate(url: str) -> subprocess.CompletedProcess[str]:
    return hookpost("migrate", "--database-url", url)


def with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg() -> str:
    databases.require_postgres()
    return databases.ADMIN_DSN


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_nothing_listening_names_the_url_and_the_address(pg: str) -> None:
    port = free_port()  # closed again: nothing listens there
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    line = refused(migrate(url), DATABASE, f"127.0.0.1:{port}", "start PostgreSQL")
    assert "nothing accepts connections" in line


@pytest.mark.parametrize("command", [("serve",), ("api",), ("worker",), ("token", "list")])
def test_every_command_that_opens_the_database_explains_the_same_way(
    command: tuple[str, ...],
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    done = hookpost(*command, env={"HOOKPOST_DATABASE_URL": url, "HOOKPOST_PORT": "0"})
    refused(done, DATABASE, "nothing accepts connections")


@pytest.mark.postgres
def test_a_server_that_never_answers_times_out_with_libpq_connect_timeout(pg: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts into the backlog, never speaks
        port = silent.getsockname()[1]
        url = f"postgresql://postgres@127.0.0.1:{port}/test?connect_timeout=1"
        refused(migrate(url), DATABASE, "did not answer in time")


@pytest.mark.postgres
def test_a_missing_database_says_how_to_create_it(pg: str) -> None:
    url = with_database(pg, "hookpost_no_such_database")
    refused(migrate(url), DATABASE, 'no database "hookpost_no_such_database"', "createdb")


@pytest.mark.postgres
def test_an_unknown_role_is_named(pg: str) -> None:
    url = pg.replace("postgresql://postgres@", "postgresql://hookpost_nobody@")
    refused(migrate(url), DATABASE, 'role "hookpost_nobody"', "create the role")


@pytest.mark.postgres
def test_sslmode_require_on_a_server_without_ssl_is_explained_not_a_type_error(pg: str) -> None:
    # Was: TypeError: connect() got an unexpected keyword argument 'sslmode'.
    line = refused(migrate(pg + "?sslmode=require"), DATABASE, "does not accept SSL")
    assert "sslmode" in line


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_ssl_modes_that_allow_plain_connections_work_on_a_server_without_ssl(
    postgres_url: str, mode: str
) -> None:
    done = migrate(f"{postgres_url}?sslmode={mode}")
    assert done.returncode == 0, done.stderr
    assert "revision" in done.stderr


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("sslmode=sometimes", ("sslmode=sometimes", "verify-full")),
        ("sslmode=verify-full&sslrootcert=/no/such/ca.pem", ("sslrootcert=/no/such/ca.pem",)),
        ("sslmode=require&sslcert=/no/such/client.pem", ("sslcert=/no/such/client.pem",)),
        ("connect_timeout=soon", ("connect_timeout=soon",)),
        ("sslrootcert=system&sslmode=require", ("sslmode=require", "sslrootcert=system")),
    ],
)
def test_unusable_ssl_options_are_refused_before_connecting(query: str, words: tuple[str]) -> None:
    # Port 1: were a connection tried, the message would be about the connection.
    refused(migrate(f"postgresql://postgres@127.0.0.1:1/test?{query}"), DATABASE, *words)


@pytest.mark.postgres
def test_an_unknown_url_parameter_is_named(pg: str) -> None:
    refused(migrate(pg + "?sslmod=require"), DATABASE, '"sslmod"', "remove or fix it")


def test_a_url_that_cannot_be_read_is_refused() -> None:
    refused(migrate("postgresql://postgres@127.0.0.1:99999/test"), DATABASE, "cannot be read")


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[PostgresTls]:
    databases.require_postgres()
    with postgres_tls(tmp_path / "tls") as front:
        yield front


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_ssl_modes_connect_over_tls_as_libpq_does(
    postgres_url: str, tls: PostgresTls, mode: str
) -> None:
    ca = tls.certificate.cert_path
    done = migrate(tls.url(postgres_url, f"sslmode={mode}&sslrootcert={ca}"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert tls.handshakes >= 1


@pytest.mark.postgres
def test_verify_full_refuses_a_certificate_from_an_unknown_authority(
    postgres_url: str, tls: PostgresTls, tmp_path: Path
) -> None:
    (tmp_path / "stranger").mkdir()
    stranger = self_signed(tmp_path / "stranger", addresses=("127.0.0.1",))
    url = tls.url(postgres_url, f"sslmode=verify-full&sslrootcert={stranger.cert_path}")
    refused(migrate(url), DATABASE, "not trusted", "sslrootcert")


@pytest.mark.postgres
def test_verify_full_checks_the_host_name_and_verify_ca_does_not(
    postgres_url: str, tmp_path: Path
) -> None:
    databases.require_postgres()
    with postgres_tls(tmp_path / "tls", names=("db.example.internal",)) as front:
        ca = front.certificate.cert_path
        full = front.url(postgres_url, f"sslmode=verify-full&sslrootcert={ca}")
        refused(migrate(full), DATABASE, "not trusted")
        ca_only = front.url(postgres_url, f"sslmode=verify-ca&sslrootcert={ca}")
        done = migrate(ca_only)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.postgres
def test_a_server_and_its_wakeup_listener_run_over_tls(
    postgres_url: str, tls: PostgresTls, tmp_path: Path
) -> None:
    ca = tls.certificate.cert_path
    url = tls.url(postgres_url, f"sslmode=verify-full&sslrootcert={ca}")
    server = ServerProcess(url, tmp_path / "serve.log").start()
    try:
        assert httpx.get(f"{server.url}/api/v1/health/ready", timeout=10).status_code == 204
        # The pool's connections and the worker's LISTEN connection (asyncpg directly) both
        # come through the TLS front: nothing reaches the server in plain text.
        eventually(lambda: tls.handshakes >= 2, what="the pool and the listener use TLS")
    finally:
        assert server.stop() == 0, server.logs()


@pytest.mark.postgres
def test_sslrootcert_system_verifies_against_the_system_authorities(
    postgres_url: str, tls: PostgresTls
) -> None:
    # The front's certificate is self-signed: no system authority vouches for it.
    refused(migrate(tls.url(postgres_url, "sslrootcert=system")), DATABASE, "not trusted")


def test_a_schema_migrated_by_a_newer_hookpost_is_refused(empty_database_url: str) -> None:
    assert migrate(empty_database_url).returncode == 0

    async def from_the_future() -> None:
        database = Database(empty_database_url)
        try:
            async with database.write() as conn:
                await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_x'"))
        finally:
            await database.close()

    asyncio.run(from_the_future())
    refused(migrate(empty_database_url), DATABASE, "newer than this hookpost", "9999_x")


# -- SQLite ---------------------------------------------------------------------------------


def test_a_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "folder" / "hookpost.sqlite3"
    line = refused(migrate(f"sqlite:///{path}"), DATABASE, str(path.parent), "create")
    assert "does not exist" in line


def test_a_sqlite_path_under_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    refused(migrate(f"sqlite:///{blocker}/hookpost.sqlite3"), DATABASE, str(blocker))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_an_unwritable_sqlite_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        refused(migrate(f"sqlite:///{folder}/hookpost.sqlite3"), DATABASE, str(folder))
    finally:
        folder.chmod(0o700)


def test_a_file_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("x" * 4096)
    refused(migrate(f"sqlite:///{other}"), DATABASE, str(other), "not a SQLite database")


def test_an_unsupported_database_is_named() -> None:
    refused(migrate("mysql://root@127.0.0.1/hookpost"), "HOOKPOST_DATABASE_URL", "postgresql://")


# -- The port -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_a_port_out_of_range_is_refused(tmp_path: Path, how: str) -> None:
    url = sqlite_url(tmp_path)
    if how == "flag":
        done = hookpost("serve", "--port", "99999", env={"HOOKPOST_DATABASE_URL": url})
        refused(done, PORT, "99999", "0 to 65535")
    else:
        done = hookpost("serve", env={"HOOKPOST_DATABASE_URL": url, "HOOKPOST_PORT": "99999"})
        refused(done, "HOOKPOST_PORT", "99999", "0 to 65535")
    assert not (tmp_path / "hookpost.sqlite3").exists()  # refused before anything was opened


def test_a_port_in_use_keeps_the_first_start_token_for_the_next_start(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = hookpost("serve", "--port", str(port), env={"HOOKPOST_DATABASE_URL": url})
        refused(done, PORT, f"127.0.0.1:{port}", "address already in use", "another port")
        assert "hp_sk_" not in done.stdout + done.stderr
    # No key was made whose secret nobody saw: the next start on a free port prints one.
    listed = hookpost("token", "list", "--database-url", url)
    assert "key_" not in listed.stdout, listed.stdout
    server = ServerProcess(url, tmp_path / "serve.log", env={"HOOKPOST_API_TOKEN": ""}).start()
    try:
        match = FIRST_START_TOKEN.search(server.logs())
        assert match is not None, server.logs()
        answer = httpx.get(
            f"{server.url}/api/v1/app",
            headers={"Authorization": f"Bearer {match.group(1)}"},
            timeout=10,
        )
        assert answer.status_code == 200
    finally:
        server.stop()


def test_an_address_not_of_this_machine_names_the_host_setting(tmp_path: Path) -> None:
    done = hookpost(
        "serve",
        "--host",
        "192.0.2.1",  # TEST-NET-1: never an address of this machine
        "--port",
        "0",
        env={"HOOKPOST_DATABASE_URL": sqlite_url(tmp_path)},
    )
    refused(done, "HOOKPOST_HOST (or --host)", "192.0.2.1", "not an address of this machine")


def test_a_bad_setting_value_names_its_variable(tmp_path: Path) -> None:
    done = hookpost("serve", env={"HOOKPOST_REQUEST_TIMEOUT": "soon"})
    refused(done, "HOOKPOST_REQUEST_TIMEOUT", "soon")
