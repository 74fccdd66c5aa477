"""Reading a server-sent events response: message events with their ids, in order.

Comments (heartbeats) are skipped; a `retry:` field is remembered for reconnecting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class StreamEvent:
    id: str
    data: Any


def read_events(response: httpx.Response) -> Iterator[StreamEvent]:
    event_id = ""
    data: list[str] = []
    for line in response.iter_lines():
        if not line:
            if data:
                yield StreamEvent(event_id, json.loads("\n".join(data)))
            data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            event_id = value
        elif field == "data":
            data.append(value)
