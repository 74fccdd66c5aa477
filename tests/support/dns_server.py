"""A real DNS server on 127.0.0.1 (UDP) for tests: scripted records, TTLs, slow or silent names.

It runs in a thread, so a `hookpost serve` subprocess can use it via HOOKPOST_DNS_SERVERS.
Every query is counted per name; unknown names answer NXDOMAIN.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from ipaddress import ip_address

TYPE_A, TYPE_AAAA = 1, 28
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


@dataclass(frozen=True)
class Record:
    addresses: tuple[str, ...]
    ttl: int = 300
    delay: float | None = 0.0  # seconds before the answer; None: never answers
    rcode: int = NOERROR


class DnsServer:
    """`set("name.test", ["127.0.0.2"], ttl=5, delay=10)`; `server.address` is "127.0.0.1:port"."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._records: dict[str, Record] = {}
        self._queries: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timers: list[threading.Timer] = []
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            for timer in self._timers:
                timer.cancel()
        self._sock.close()

    def set(
        self,
        name: str,
        addresses: list[str] | tuple[str, ...] = (),
        *,
        ttl: int = 300,
        delay: float | None = 0.0,
        rcode: int = NOERROR,
    ) -> None:
        with self._lock:
            self._records[name.lower().rstrip(".")] = Record(tuple(addresses), ttl, delay, rcode)

    def queries(self, name: str) -> int:
        """How many questions (A and AAAA each count) arrived for `name`."""
        with self._lock:
            return self._queries[name.lower().rstrip(".")]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self._answer(packet, peer)
            except (ValueError, struct.error, IndexError):
                continue  # not a question we understand: dropped, like a real server would

    def _answer(self, packet: bytes, peer: tuple[str, int]) -> None:
        query_id, flags = struct.unpack("!HH", packet[:4])
        name, end = _read_name(packet, 12)
        qtype, _qclass = struct.unpack("!HH", packet[end : end + 4])
        question = packet[12 : end + 4]
        key = name.lower()
        with self._lock:
            self._queries[key] += 1
            record = self._records.get(key)
        if record is None:
            record = Record((), rcode=NXDOMAIN)
        answers = [
            _resource(qtype, address, record.ttl)
            for address in record.addresses
            if (qtype == TYPE_A) == (ip_address(address).version == 4)
            and qtype in {TYPE_A, TYPE_AAAA}
        ]
        header = struct.pack(
            "!HHHHHH",
            query_id,
            0x8000 | (flags & 0x0100) | 0x0080 | record.rcode,  # QR, RD echoed, RA
            1,
            len(answers),
            0,
            0,
        )
        reply = header + question + b"".join(answers)
        if record.delay is None:
            return
        if record.delay <= 0:
            self._send(reply, peer)
            return
        timer = threading.Timer(record.delay, self._send, (reply, peer))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def _send(self, reply: bytes, peer: tuple[str, int]) -> None:
        if not self._stop.is_set():
            with contextlib.suppress(OSError):
                self._sock.sendto(reply, peer)


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        if length & 0xC0:
            raise ValueError("compressed question names are not expected")
        labels.append(packet[offset : offset + length].decode("ascii"))
        offset += length


def _resource(qtype: int, address: str, ttl: int) -> bytes:
    data = ip_address(address).packed
    # 0xC00C points at the question's name.
    return struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(data)) + data
