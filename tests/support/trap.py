"""A listener that must never be reached: any connection to it fails an SSRF test.

It never accepts on its own. The kernel completes a client's handshake into the listen
backlog before the client can send a byte, so once a send has returned every connection it
made is already queued, and `hits()` drains the queue without waiting: no sleeps, no races.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    peer: str
    data: bytes  # whatever had arrived when the hit was drained (often the request head)


class Trap:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self._sock.setblocking(False)
        self.port: int = self._sock.getsockname()[1]
        self._hits: list[Hit] = []

    @property
    def url(self) -> str:
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{netloc}:{self.port}"

    def hits(self) -> list[Hit]:
        """Every connection made to the trap so far (cumulative)."""
        while True:
            try:
                conn, peer = self._sock.accept()
            except BlockingIOError:
                return list(self._hits)
            with conn:
                conn.setblocking(False)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
            self._hits.append(Hit(str(peer[0]), data))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Trap:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
