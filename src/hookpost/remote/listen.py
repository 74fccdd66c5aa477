"""`hookpost listen`: follow an application's stream and forward each message, re-signed,
to a local URL; reconnect after any interruption and resume right after the last message.

The local secret stands in for the endpoint's: receivers verify with what `listen` printed.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from hookpost.remote.connection import Connection, RemoteError, checked
from hookpost.remote.event_stream import StreamEvent, read_events
from hookpost_receiver import Webhook

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
FORWARD_TIMEOUT = 30.0


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@dataclass(frozen=True)
class Forwarded:
    at: datetime
    event_type: str
    msg_id: str
    status: int | None  # None: no answer (the error says why)
    duration_ms: float
    error: str | None = None

    def line(self) -> str:
        status = str(self.status) if self.status is not None else f"ERR ({self.error})"
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S}  {self.event_type:<32} {self.msg_id}  "
            f"{status:>3}  {self.duration_ms:.0f} ms"
        )


class Listener:
    def __init__(
        self,
        connection: Connection,
        app: str,
        forward_to: str,
        *,
        secret: str,
        event_type: str | None = None,
        channel: str | None = None,
        last_event_id: str | None = None,
        say: Callable[[str], None] = print,
        on_connected: Callable[[str | None], None] | None = None,
    ) -> None:
        self._connection = connection
        self._path = f"/api/v1/app/{app}/stream"
        self._params = {k: v for k, v in (("event_type", event_type), ("channel", channel)) if v}
        self._forward_to = forward_to
        self._webhook = Webhook(secret)
        self.last_event_id = last_event_id
        self._say = say
        self._on_connected = on_connected
        self.stopped = threading.Event()

    def run(self) -> None:
        """Follow until `stopped` is set; a refused request (4xx) ends it with RemoteError."""
        backoff = BACKOFF_FIRST
        with (
            self._connection.client(timeout=None) as api,
            httpx.Client(timeout=FORWARD_TIMEOUT) as local,
        ):
            while not self.stopped.is_set():
                try:
                    for event in self._follow(api):
                        self._say(self.forward(local, event).line())
                        self.last_event_id = event.id
                        backoff = BACKOFF_FIRST
                        if self.stopped.is_set():
                            return
                except (httpx.TransportError, RemoteError) as exc:
                    if isinstance(exc, RemoteError) and exc.refused:
                        raise
                    self._say(f"connection lost ({exc}); reconnecting in {backoff:.1f} s")
                    self.stopped.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)

    def _follow(self, api: httpx.Client) -> Any:
        headers = {"last-event-id": self.last_event_id} if self.last_event_id else {}
        with api.stream("GET", self._path, params=self._params, headers=headers) as response:
            if not response.is_success:
                response.read()
                checked(response)
            if self._on_connected is not None:
                self._on_connected(self.last_event_id)
            yield from read_events(response)
        # The server ended the stream (a restart): reconnect like after an error.
        raise httpx.RemoteProtocolError("stream ended")

    def forward(self, local: httpx.Client, event: StreamEvent) -> Forwarded:
        message = event.data
        body = json.dumps(message.get("payload"), separators=(",", ":"), ensure_ascii=False)
        raw = body.encode()
        headers = self._webhook.headers(event.id, int(time.time()), raw)
        headers |= {"content-type": "application/json", "user-agent": "hookpost-listen"}
        started = time.perf_counter()
        at = datetime.now().astimezone()
        event_type = str(message.get("eventType", ""))
        try:
            answer = local.post(self._forward_to, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return Forwarded(at, event_type, event.id, None, elapsed, type(exc).__name__)
        elapsed = (time.perf_counter() - started) * 1000
        return Forwarded(at, event_type, event.id, answer.status_code, elapsed)
