"""The event loop hookpost runs on: uvloop, except that a connect to a numeric address never
waits for libuv's thread pool, so no slow name lookup can delay a connection that needs none.

uvloop's `sock_connect` passes every address, numeric or not, to `getaddrinfo` on libuv's
small thread pool (4 threads); aiohttp connects through it after our resolver has already
turned the name into a vetted address. With that pool busy (slow lookups anywhere in the
process), a delivery to 127.0.0.1 waited seconds for a thread it does not need.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import uvloop

_INET = (socket.AF_INET, socket.AF_INET6)


class DeliveryLoop(uvloop.Loop):
    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        if sock.family in _INET and _is_numeric(sock.family, address):
            await connect_numeric(self, sock, address)
            return
        await super().sock_connect(sock, address)


def new_event_loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop = DeliveryLoop()
    return loop


async def connect_numeric(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, address: tuple[Any, ...]
) -> None:
    """A non-blocking connect to an address that needs no lookup (what asyncio itself does)."""
    try:
        sock.connect(address)
    except (BlockingIOError, InterruptedError):
        pass
    else:
        return
    fd = sock.fileno()
    writable = loop.create_future()

    def ready() -> None:
        if not writable.done():
            writable.set_result(None)

    loop.add_writer(fd, ready)
    try:
        await writable
    finally:
        loop.remove_writer(fd)
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code != 0:
        raise OSError(code, f"Connect call failed {address}: {os.strerror(code)}")


def _is_numeric(family: int, address: Any) -> bool:
    if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
        return False
    try:
        socket.inet_pton(family, address[0])
    except OSError:
        return False
    return True
