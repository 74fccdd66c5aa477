"""The live stream (SSE) against `hookpost serve` on SQLite and PostgreSQL.

10,000 messages read across a forced disconnect, exactly once; filters; heartbeats; a reader
that stops reading is cut off while the server's memory stays bounded.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.publisher import publish_many
from tests.support.server import TOKEN, ServerProcess
from tests.support.sse import Comment, Event, events
from tests.support.waiting import eventually

STREAM_ENV = {
    "HOOKPOST_FEED_COMMIT_WINDOW": "150ms",
    "HOOKPOST_STREAM_HEARTBEAT": "300ms",
    "HOOKPOST_STREAM_BUFFER": "256KiB",
    "HOOKPOST_STREAM_STALL_TIMEOUT": "1s",
}
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def stream_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(database_url, tmp_path / "server.log", env=STREAM_ENV).start()
    yield process
    process.stop()


def new_app(server: ServerProcess, name: str) -> str:
    created = httpx.post(f"{server.url}/api/v1/app", json={"name": name}, headers=AUTH)
    assert created.status_code == 201, created.text
    app_id: str = created.json()["id"]
    return app_id


@pytest.mark.slow
@pytest.mark.timeout(900)  # 10,000 publishes: ~15 s on an idle 2-core machine, minutes loaded
def test_ten_thousand_messages_across_a_forced_disconnect(stream_server: ServerProcess) -> None:
    app_id = new_app(stream_server, "stream-10k")
    total = 10_000
    received: list[str] = []
    acked: list[str] = []
    path = f"/api/v1/app/{app_id}/stream"
    publisher = threading.Thread(
        target=lambda: acked.extend(publish_many(stream_server.url, app_id, total)),
        daemon=True,  # a failed test must not leave it publishing into a dead server
    )
    connections = 0
    with httpx.Client(base_url=stream_server.url, headers=AUTH, timeout=30) as client:
        while len(received) < total:
            # Resume after the last event fully received. Besides the forced disconnect, the
            # server may cut this reader off when a loaded machine starves it (by design).
            resume = {"last-event-id": received[-1]} if received else {}
            with client.stream("GET", path, headers=resume) as live:
                assert live.status_code == 200
                assert live.headers["content-type"].startswith("text/event-stream")
                connections += 1
                if connections == 1:
                    publisher.start()
                for item in events(live):
                    if isinstance(item, Event):
                        assert item.id == item.data["id"]
                        received.append(item.id)  # type: ignore[arg-type]
                        if len(received) in (total // 2, total):
                            break  # the client goes away in the middle of the burst
        publisher.join()
    assert connections >= 2
    assert len(acked) == total
    assert len(set(received)) == total, "a message came twice"
    assert set(received) == set(acked)
    assert received == sorted(received)


def test_filters_heartbeats_and_bad_requests(stream_server: ServerProcess) -> None:
    app_id = new_app(stream_server, "stream-filters")
    path = f"/api/v1/app/{app_id}/stream"
    with httpx.Client(base_url=stream_server.url, headers=AUTH, timeout=30) as client:
        for bad, field in (
            ({"event_type": "no spaces"}, "event_type"),
            ({"channel": "no spaces"}, "channel"),
        ):
            answer = client.get(path, params=bad)
            assert answer.status_code == 422
            assert answer.json()["detail"][0]["loc"] == ["query", field]
        bad_id = client.get(path, headers={"last-event-id": "garbage"})
        assert bad_id.status_code == 422
        assert client.get("/api/v1/app/app_missing/stream").status_code == 404
        assert httpx.get(f"{stream_server.url}{path}").status_code == 401

        wanted: list[str] = []
        params = {"event_type": "invoice.paid", "channel": "eu"}
        with client.stream("GET", path, params=params) as live:
            for n, (event_type, channels) in enumerate(
                [("invoice.paid", ["eu"]), ("invoice.paid", ["us"]), ("user.created", ["eu"])] * 3
            ):
                body = {"eventType": event_type, "payload": {"n": n}, "channels": channels}
                sent = client.post(f"/api/v1/app/{app_id}/msg", json=body)
                if event_type == "invoice.paid" and channels == ["eu"]:
                    wanted.append(sent.json()["id"])
            got: list[str] = []
            heartbeats = 0
            for item in events(live):
                if isinstance(item, Comment):
                    heartbeats += 1
                    if len(got) == len(wanted):
                        break  # caught up, and the idle stream keeps itself alive
                else:
                    assert item.data["eventType"] == "invoice.paid"
                    assert item.data["channels"] == ["eu"]
                    got.append(item.id)  # type: ignore[arg-type]
            assert got == sorted(wanted)
            assert heartbeats >= 1


def test_a_reader_that_stops_reading_is_cut_off(stream_server: ServerProcess) -> None:
    app_id = new_app(stream_server, "stream-stalled")
    server = psutil.Process(stream_server.process.pid)  # type: ignore[union-attr]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", stream_server.port))
    sock.sendall(
        f"GET /api/v1/app/{app_id}/stream HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
    )
    assert b"200 OK" in sock.recv(256)
    before = server.memory_info().rss
    # 40 MB of messages the reader never reads.
    blob = "x" * 100_000
    with httpx.Client(base_url=stream_server.url, headers=AUTH, timeout=60) as client:
        for n in range(400):
            body = {"eventType": "big", "payload": {"n": n, "blob": blob}}
            assert client.post(f"/api/v1/app/{app_id}/msg", json=body).status_code == 202
    eventually(
        lambda: "stream reader too slow" in stream_server.logs(),
        timeout=60,
        what="the server cuts the stalled reader off",
    )
    grown = server.memory_info().rss - before
    sock.settimeout(10)
    got = 0
    while chunk := sock.recv(1 << 16):
        got += len(chunk)
    sock.close()
    # The server logs before it closes, and we read up to the close: no race here.
    assert "ERROR" not in stream_server.logs()  # a deliberate drop is not an error
    published = 400 * len(blob)
    assert got < published / 4, f"the server kept {got} bytes for a reader that stopped"
    assert grown < published / 2, f"server memory grew by {grown} bytes"
