"""A small server-sent events reader for tests: events with their ids, and comment lines.

Written against the SSE specification, independently of the CLI's reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    id: str | None
    data: Any


@dataclass
class Comment:
    text: str


def events(response: httpx.Response) -> Iterator[Event | Comment]:
    """Events (data parsed as JSON) and comments, in the order they arrive."""
    event_id: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield Event(event_id, json.loads("\n".join(data)))
            event_id, data = None, []
        elif line.startswith(":"):
            yield Comment(line[1:].strip())
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "id":
                event_id = value
            elif field == "data":
                data.append(value)
