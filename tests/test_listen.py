"""`hookpost listen` and `hookpost trigger` end to end, on SQLite and PostgreSQL.

A local receiver verifies every forwarded request with the secret `listen` printed (with the
`standardwebhooks` library); the server is killed and restarted in the middle, and every
message still arrives exactly once.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import standardwebhooks
from svix.api import ApplicationIn, MessageIn, Svix, SvixOptions

from tests.support.cli import ROOT, cli_env, hookpost
from tests.support.receiver import Behaviour, Received, Receiver
from tests.support.server import TOKEN, ServerProcess

LISTEN_ENV = {"HOOKPOST_FEED_COMMIT_WINDOW": "150ms"}
CATALOG = ROOT / "examples" / "catalogs" / "billing-platform.yaml"


@pytest.fixture
def listen_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(database_url, tmp_path / "server.log", env=LISTEN_ENV).start()
    yield process
    process.stop()


class Listening:
    """`hookpost listen` as a subprocess whose output lines are read as they come."""

    def __init__(self, server: ServerProcess, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hookpost", "listen", *args],
            env=cli_env(server),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, text: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"listen never printed {text!r}; saw {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return line

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def restart_on_same_port(old: ServerProcess) -> ServerProcess:
    again = ServerProcess(old.database_url, old.log_path, env=LISTEN_ENV)
    again.port = old.port
    again.env["HOOKPOST_PORT"] = str(old.port)
    return again.start()


@pytest.mark.slow
def test_listen_forwards_resigned_across_a_server_crash(
    listen_server: ServerProcess, receiver: Receiver
) -> None:
    hookpost(listen_server, "catalog", "import", str(CATALOG))
    hp = Svix(TOKEN, SvixOptions(server_url=listen_server.url))
    app = hp.application.create(ApplicationIn(name="listen"))
    secret: list[str] = []
    rejected: list[str] = []

    def verify(request: Received) -> Behaviour:
        try:
            standardwebhooks.Webhook(secret[0]).verify(request.body, request.headers)
        except Exception as exc:
            rejected.append(repr(exc))
            return Behaviour(400)
        return Behaviour(204)

    receiver.script(verify)
    listening = Listening(
        listen_server, "--app", app.id, "--forward-to", f"{receiver.url}/webhooks"
    )
    restarted: ServerProcess | None = None
    try:
        secret.append(listening.expect("Webhook signing secret:").split()[3])
        assert secret[0].startswith("whsec_")
        listening.expect("Connected to")

        triggered = hookpost(listen_server, "trigger", "invoice.paid", "--app", app.id).stdout
        trigger_id = triggered.split()[1]
        line = listening.expect(trigger_id)
        # One line per event: time, type, id, status, duration.
        parts = line.split()
        datetime.strptime(f"{parts[0]} {parts[1]}", "%Y-%m-%d %H:%M:%S")
        assert parts[2:5] == ["invoice.paid", trigger_id, "204"]
        assert parts[-1] == "ms"
        (first,) = receiver.wait_for(1)
        assert json.loads(first.body)["id"] == "inv_3Kd9Pm1X"  # the example payload
        assert json.loads(first.body)["type"] == "invoice.paid"

        before = [
            hp.message.create(app.id, MessageIn(event_type="invoice.created", payload={"n": n})).id
            for n in range(20)
        ]
        for msg_id in sorted(before):
            listening.expect(msg_id)

        listen_server.kill()  # a crash: the stream breaks without an end
        listening.expect("reconnecting")
        restarted = restart_on_same_port(listen_server)
        hp = Svix(TOKEN, SvixOptions(server_url=restarted.url))
        after = [
            hp.message.create(app.id, MessageIn(event_type="invoice.updated", payload={"n": n})).id
            for n in range(20)
        ]
        listening.expect("resuming after")
        for msg_id in sorted(after):
            listening.expect(msg_id)

        forwarded = receiver.received_ids()
        assert sorted(forwarded) == sorted([trigger_id, *before, *after])  # each exactly once
        assert rejected == []
        assert listening.stop() == 0  # SIGTERM ends it at once, even while it waits
    finally:
        listening.stop()
        if restarted is not None:
            restarted.stop()


def test_trigger_without_an_example_says_so(listen_server: ServerProcess) -> None:
    hp = Svix(TOKEN, SvixOptions(server_url=listen_server.url))
    app = hp.application.create(ApplicationIn(name="trigger"))
    done = hookpost(listen_server, "trigger", "no.such.type", "--app", app.id, check=False)
    assert done.returncode == 1
    assert "404" in done.stderr
