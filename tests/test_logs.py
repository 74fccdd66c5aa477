"""The server's log, read from a real `hookpost serve` in both formats: one line per request
(route template, status, duration), per failed attempt and per endpoint disabled, with ids;
a line per retention pass; no secret and no payload anywhere.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from svix.api import ApplicationIn, EndpointIn, MessageIn, Svix, SvixOptions

from hookpost import logs
from tests.support.receiver import Behaviour, Received, Receiver
from tests.support.server import TOKEN, ServerProcess
from tests.support.waiting import eventually

ENDPOINT_SECRET = "whsec_QmVhcmVyIG9mIHNlY3JldHMgbmV2ZXIgbG9nZ2Vk"
PAYLOAD_MARKER = "do-not-log-this-payload-7f3a"
_TEXT = re.compile(r"^(\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$")
_PAIR = re.compile(r'(\w+)=("[^"]*"|\S+)')


def parse_text(line: str) -> dict[str, Any] | None:
    """A text line as a dict of the same shape as a JSON line (values as text)."""
    found = _TEXT.match(line)
    if found is None:
        return None
    time, level, logger, rest = found.groups()
    entry: dict[str, Any] = {"time": time, "level": level.lower(), "logger": logger}
    pairs = list(_PAIR.finditer(rest))
    entry["message"] = rest[: pairs[0].start()].strip() if pairs else rest
    for pair in pairs:
        entry[pair.group(1)] = pair.group(2).strip('"')
    return entry


def parse(shape: str, text: str) -> list[dict[str, Any]]:
    """Every log line; anything else the process printed must be its one-line banner."""
    entries = []
    for line in text.splitlines():
        if line.startswith("hookpost ") or not line.strip():
            continue  # the banner (the console's, not a log line)
        entry = json.loads(line) if shape == "json" else parse_text(line)
        assert entry is not None, f"not a {shape} log line: {line!r}"
        entries.append(entry)
    return entries


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()

    def answer(request: Received) -> Behaviour:
        return Behaviour(410 if request.path.endswith("/gone") else 500)

    running.script(answer)
    yield running
    running.stop()


@pytest.mark.parametrize("shape", ["text", "json"])
def test_the_log_of_a_real_server(
    shape: str, empty_database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    server = ServerProcess(
        empty_database_url, tmp_path / "server.log", env={"HOOKPOST_LOG_FORMAT": shape}
    ).start()
    try:
        hp = Svix(TOKEN, SvixOptions(server_url=server.url))
        app = hp.application.create(ApplicationIn(name="logs"))
        failing = hp.endpoint.create(
            app.id, EndpointIn(url=f"{receiver.url}/fail", secret=ENDPOINT_SECRET)
        )
        gone = hp.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/gone"))
        msg = hp.message.create(
            app.id, MessageIn(event_type="invoice.paid", payload={"note": PAYLOAD_MARKER})
        )
        hp.message.get(app.id, msg.id)
        hp.endpoint.get_secret(app.id, failing.id)  # answers the secret; the log must not
        auth = {"Authorization": f"Bearer {TOKEN}"}
        # A trailing slash (the path is normalised before routing), an unknown path, a query.
        httpx.get(f"{server.url}/api/v1/app/{app.id}/", headers=auth).raise_for_status()
        assert httpx.get(f"{server.url}/api/v1/{PAYLOAD_MARKER}", headers=auth).is_error
        httpx.get(f"{server.url}/api/v1/app?iterator={PAYLOAD_MARKER}", headers=auth)

        def logged(event: str, count: int) -> list[dict[str, Any]] | None:
            found = [e for e in parse(shape, server.logs()) if e.get("event") == event]
            return found if len(found) >= count else None

        # Three attempts to the failing endpoint (the schedule is compressed), one to the
        # gone one, which disables it.
        failed = eventually(lambda: logged("attempt.failed", 4), what="failed attempts")
        disabled = eventually(lambda: logged("endpoint.disabled", 1), what="disabled endpoint")
    finally:
        server.stop()
    text = server.logs()
    entries = parse(shape, text)

    for secret in (TOKEN, ENDPOINT_SECRET, PAYLOAD_MARKER, "Bearer", "uthorization"):
        assert secret not in text
    requests = [e for e in entries if e.get("event") == "http.request"]
    routes = {(e["method"], e["path"], str(e["status"])) for e in requests}
    assert ("POST", "/api/v1/app", "201") in routes
    assert ("POST", "/api/v1/app/{app_id}/endpoint", "201") in routes
    assert ("POST", "/api/v1/app/{app_id}/msg", "202") in routes
    assert ("GET", "/api/v1/app/{app_id}/msg/{msg_id}", "200") in routes
    assert ("GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", "200") in routes
    assert ("GET", "/api/v1/app/{app_id}", "200") in routes
    assert ("GET", "(unmatched)", "404") in routes
    assert ("GET", "/api/v1/app", "422") in routes
    for entry in requests:
        assert app.id not in entry["path"]
        assert float(entry["duration_ms"]) >= 0
        assert entry["logger"] == "hookpost.api"
        assert entry["level"] == "info"

    to_failing = [e for e in failed if e["endpoint_id"] == failing.id]
    assert len(to_failing) == 3
    assert [str(e["attempt"]) for e in to_failing] == ["1", "2", "3"]
    for entry in to_failing:
        assert entry["msg_id"] == msg.id
        assert entry["app_id"] == app.id
        assert entry["attempt_id"].startswith("atmpt_")
        assert (entry["error_class"], str(entry["status_code"])) == ("http_status", "500")
        assert entry["level"] == "warning"
    assert [e["endpoint_id"] for e in disabled] == [gone.id]
    assert (disabled[0]["msg_id"], str(disabled[0]["status_code"])) == (msg.id, "410")

    passes = [e for e in entries if e.get("event") == "retention.pass"]
    assert passes, "a worker process runs a retention pass when it starts"
    assert {"payloads", "attempts", "deliveries", "idempotency_keys"} <= passes[0].keys()


@pytest.mark.parametrize("shape", ["text", "json"])
def test_the_level_and_the_shape_are_configured(shape: str) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure("warning", shape, stream)
        log = logging.getLogger("hookpost.test")
        log.info("hidden", extra={"fields": {"n": 1}})
        log.warning("shown", extra={"fields": {"n": 2, "reason": "two words"}})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    entries = parse(shape, stream.getvalue())
    assert [(e["message"], str(e["n"])) for e in entries] == [("shown", "2")]
    assert entries[0]["reason"] == "two words"
    assert entries[0]["level"] == "warning"
