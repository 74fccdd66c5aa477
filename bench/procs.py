"""Child processes that never outlive the benchmark (PR_SET_PDEATHSIG, stop on every
exit path): subprocesses, and spawned workers answering calls over a pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import subprocess
import traceback
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1
_live: list[Child | Remote] = []


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Child:
    """A subprocess with its output in a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log: Path, name: str) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] = log.open("ab")
        self.proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets a signal, no threads yet
        )
        _live.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, grace: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()
        with contextlib.suppress(ValueError):
            _live.remove(self)
        return self.proc.returncode


def _serve(target: Callable[[Connection], None], conn: Connection) -> None:
    die_with_parent()
    try:
        target(conn)
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("crash", traceback.format_exc()))
        raise


class RemoteError(RuntimeError):
    """A spawned worker answered a call with an exception (its traceback is the message)."""


class Remote:
    """A spawned process answering calls over a pipe: `call(name, **kwargs)` -> result."""

    def __init__(self, target: Callable[[Connection], None], name: str) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        self._conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(target, child_end), name=name, daemon=True)
        self.proc.start()
        child_end.close()
        _live.append(self)

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def call(self, name: str, *, deadline: float = 900.0, **kwargs: Any) -> Any:
        self._conn.send((name, kwargs))
        if not self._conn.poll(deadline):
            raise TimeoutError(f"{self.name}.{name} did not answer within {deadline:g}s")
        status, value = self._conn.recv()
        if status != "ok":
            raise RemoteError(f"{self.name}.{name} failed:\n{value}")
        return value

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(("exit", {}))
        self.proc.join(3)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(3)
        self._conn.close()
        with contextlib.suppress(ValueError):
            _live.remove(self)


def answer(conn: Connection, handlers: Mapping[str, Callable[..., Any]]) -> bool:
    """Run one call received on `conn`; False once the parent asked the worker to exit."""
    try:
        name, kwargs = conn.recv()
    except EOFError:
        return False
    if name == "exit":
        return False
    try:
        conn.send(("ok", handlers[name](**kwargs)))
    except Exception:
        conn.send(("error", traceback.format_exc()))
    return True


def stop_all() -> None:
    """Stop every child still running, newest first (called on any exit path)."""
    for child in reversed(list(_live)):
        with contextlib.suppress(Exception):
            child.stop()


def install_signal_cleanup() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so `finally` blocks and stop_all() run."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)
    # Ctrl-C raises KeyboardInterrupt even when the shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
