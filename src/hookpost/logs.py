"""The process's log output: one line per event, as readable text or as one JSON object.

Modules log through the standard `logging` with their event's fields in `extra={"fields":
{...}}`; only ids, counts and classes go there, never secrets, payloads or URLs.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

# What a record of the standard library carries that is not an event field.
_FIELDS = "fields"


def _time(record: logging.LogRecord) -> str:
    at = datetime.fromtimestamp(record.created, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, _FIELDS, None)
    return fields if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    """`2026-12-01T05:00:00.000Z WARNING hookpost.delivery: attempt failed msg_id=... `"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        pairs = " ".join(f"{key}={_text(value)}" for key, value in _fields(record).items())
        if pairs:
            line = f"{line} {pairs}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _text(value: object) -> str:
    text = "-" if value is None else str(value)
    return f'"{text}"' if " " in text or not text else text


def configure(level: str, shape: str, stream: TextIO | None = None) -> None:
    """Send every logger's records at `level` and above to `stream` (stderr) in `shape`
    (`text` or `json`), uvicorn's included."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if shape == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print its lines in its own shape.
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
