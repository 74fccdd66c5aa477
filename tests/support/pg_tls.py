"""A TLS front for the test PostgreSQL: it answers PostgreSQL's SSLRequest with 'S', completes
the handshake with a throwaway certificate and relays the plain protocol to 127.0.0.1:5432.

The test server itself runs without SSL (and other sessions share it), so this is how hookpost's
`sslmode=...` URLs meet a real server that speaks TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.support.databases import ADMIN_DSN
from tests.support.tls import Certificate, self_signed

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


class PostgresTls:
    """Listens on 127.0.0.1 (a free port); counts completed handshakes."""

    def __init__(self, certificate: Certificate, upstream: tuple[str, int]) -> None:
        self.certificate = certificate
        self.upstream = upstream
        self.handshakes = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    def url(self, database_url: str, query: str) -> str:
        """`database_url` (a URL of the test server) sent through this front, with `query`."""
        rest = database_url.split("@", 1)[1].split("/", 1)[1]
        user = database_url.split("://", 1)[1].split("@", 1)[0]
        return f"postgresql://{user}@127.0.0.1:{self.port}/{rest}?{query}"

    def start(self) -> PostgresTls:
        self._thread.start()
        assert self._ready.wait(10), "the TLS front did not start"
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer = None
        try:
            if await reader.readexactly(8) != SSL_REQUEST:
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(self.certificate.server_context())
            self.handshakes += 1
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(_relay(reader, upstream_writer), _relay(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            pass  # a client that refused our certificate hangs up mid-handshake
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def upstream_address() -> tuple[str, int]:
    hostport = ADMIN_DSN.split("@", 1)[1].split("/", 1)[0]
    host, _, port = hostport.partition(":")
    return host, int(port or 5432)


@contextlib.contextmanager
def postgres_tls(
    directory: Path, *, names: tuple[str, ...] = ("localhost",)
) -> Iterator[PostgresTls]:
    """A TLS front whose certificate is valid for `names` and 127.0.0.1 (unless `names` says
    otherwise: pass addresses in `names` as text to be matched as host names)."""
    directory.mkdir(parents=True, exist_ok=True)
    addresses = ("127.0.0.1",) if "localhost" in names else ()
    certificate = self_signed(directory, names=names, addresses=addresses)
    front = PostgresTls(certificate, upstream_address()).start()
    try:
        yield front
    finally:
        front.stop()
