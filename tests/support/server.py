"""Run `hookpost serve` as a real subprocess on a free port, and stop it (gently or with -9).

Tests talk to it over HTTP with the svix SDK, exactly as a user would.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

TOKEN = "hp_sk_testtoken0000000000000000000000000000000000"
FAST_DELIVERY = {
    "HOOKPOST_RETRY_SCHEDULE": "0.2,0.4",
    "HOOKPOST_RETRY_JITTER": "0",
    "HOOKPOST_RETRY_TIMEOUT_FLOOR": "0",
    "HOOKPOST_REQUEST_TIMEOUT": "2",
    "HOOKPOST_CONNECT_TIMEOUT": "1",
    "HOOKPOST_LEASE_SECONDS": "5",
    "HOOKPOST_POLL_INTERVAL": "0.2",
    "HOOKPOST_ALLOWED_NETWORKS": "127.0.0.0/8",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        database_url: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        command: str = "serve",
    ) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.log_path = log_path
        self.command = command
        self.env = {
            **os.environ,
            **FAST_DELIVERY,
            "HOOKPOST_DATABASE_URL": database_url,
            "HOOKPOST_API_TOKEN": TOKEN,
            "HOOKPOST_PORT": str(self.port),
            "HOOKPOST_LOG_LEVEL": "info",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ServerProcess:
        # Generous: a start-up costs a few CPU seconds (imports, migrations), and on a machine
        # loaded eight times over its cores (seen here) it took more than 30 s of wall time.
        # free_port() releases the port before hookpost binds it, so a test running beside
        # this one may take it meanwhile: then start again on another port.
        for _ in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                self.port = free_port()
                self.env["HOOKPOST_PORT"] = str(self.port)
        return self._start(timeout)

    def _start(self, timeout: float) -> ServerProcess:
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hookpost", self.command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _RUNNING.add(self)
        if self.command in {"serve", "api"}:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.kill()
                raise
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                logs = self.logs()
                if "address already in use" in logs[self._log_start :].lower():
                    raise PortTaken(self.port)
                raise AssertionError(f"hookpost exited early:\n{logs}")
            try:
                if httpx.get(f"{self.url}/api/v1/health/ping", timeout=1).status_code == 204:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"hookpost did not become ready:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


class PortTaken(Exception):
    """The port chosen for a server was taken before it could listen."""


_RUNNING: set[ServerProcess] = set()


@atexit.register
def _kill_leftovers() -> None:
    """A failed test must not leave a server delivering in the background."""
    for server in list(_RUNNING):
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
