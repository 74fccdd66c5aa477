"""A scripted DNS stub for `Sender(lookup=...)`: answers per name, every query recorded.

The box cannot resolve public names and tests must never try; unknown names fail like
NXDOMAIN. A name can answer differently on each query (DNS rebinding) or hang (slow DNS).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Hang:
    """An answer that never comes: the lookup waits until it is cancelled."""


Answer = Sequence[str] | BaseException | Hang


def nxdomain(host: str) -> socket.gaierror:
    return socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host}")


def servfail(host: str) -> socket.gaierror:
    return socket.gaierror(socket.EAI_AGAIN, f"Temporary failure in name resolution: {host}")


class ScriptedLookup:
    """Each name has a list of answers; each query takes the next one and the last repeats."""

    def __init__(self, answers: dict[str, Answer] | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self._answers: dict[str, list[Answer]] = {}
        for host, answer in (answers or {}).items():
            self.set(host, answer)

    def set(self, host: str, *answers: Answer) -> ScriptedLookup:
        assert answers, "give at least one answer"
        self._answers[host] = list(answers)
        return self

    def count(self, host: str) -> int:
        return sum(1 for name, _ in self.calls if name == host)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        script = self._answers.get(host)
        if script is None:
            raise nxdomain(host)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Hang):
            await asyncio.Event().wait()  # cancelled by the resolver's budget
            raise AssertionError("unreachable")
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)
